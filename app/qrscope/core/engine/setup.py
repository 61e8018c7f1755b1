"""How every association in qrscope is set up in pynetdicom.

On the tuned engine (:mod:`qrscope.core.engine.choice`): prompt reactors, a
prompt end of every association (:mod:`~qrscope.core.engine.prompt_release`),
command sets and file meta headers encoded by hand
(:func:`~qrscope.core.engine.pynetdicom_private.install_fast_encoding`), PDUs read
in large pieces (:func:`~qrscope.core.engine.pynetdicom_private.install_large_reads`), and
pynetdicom's own log formatted only when someone reads it. On stock
pynetdicom only the last, through public settings.

pynetdicom binds its "standard" log handlers to every association
(``_config.LOG_HANDLER_LEVEL``) and pretty-prints every C-FIND identifier
(``LOG_REQUEST_IDENTIFIERS``, ``LOG_RESPONSE_IDENTIFIERS``) before it knows
whether the text will be shown. qrscope keeps its own association log and
shows pynetdicom's only at ``-vvv`` (the window never does), yet that
formatting cost about a third of a 10,000-study search's time
(docs/PERFORMANCE.md). The switches are public; they follow the
``pynetdicom`` logger: on when it lets INFO through, off otherwise, decided
again for each association.
"""

from __future__ import annotations

import logging

from pynetdicom import _config

from qrscope.core.engine import prompt_release, reactors
from qrscope.core.engine.choice import EngineChoice, current
from qrscope.core.engine.pynetdicom_private import install_fast_encoding, install_large_reads

__all__ = ["prepare"]

_PYNETDICOM = logging.getLogger("pynetdicom")


def prepare() -> EngineChoice:
    """Call before creating an AE's associations (idempotent, cheap); returns the engine."""
    choice = current()
    if choice.uses("reactors"):
        reactors.install()
    if choice.uses("encodings"):
        install_fast_encoding()
    if choice.uses("large_reads"):
        install_large_reads()
    if choice.uses("prompt_release"):
        prompt_release.install()
    shown = _PYNETDICOM.isEnabledFor(logging.INFO)
    _config.LOG_HANDLER_LEVEL = "standard" if shown else "none"
    _config.LOG_REQUEST_IDENTIFIERS = shown
    _config.LOG_RESPONSE_IDENTIFIERS = shown
    return choice
