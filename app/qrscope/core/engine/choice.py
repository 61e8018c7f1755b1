"""Which engine this process runs on: qrscope's tuned pynetdicom or stock pynetdicom.

The tuned engine (reactors that wait on the socket, the data lane, hand
encodings, large reads, incoming files beside the storage) replaces pieces of
pynetdicom's internals. Those pieces were written and tested against exact
pynetdicom releases; a release qrscope has not been tested with may move or
change the meaning of any of them, and a patch that silently misfits is worse
than none. So the tuned engine is used only with a release listed in
:data:`TESTED_PYNETDICOM`; with any other, qrscope runs on stock pynetdicom
through its public API alone, says so once in the log and in ``--version``,
and still does everything, only slower in places (docs/PERFORMANCE.md).

``QRSCOPE_ENGINE=stock`` chooses stock pynetdicom on a tested release too:
the test suite runs once on each engine, and a user who suspects the tuned
engine can rule it out. ``QRSCOPE_ENGINE=tuned`` on an untested release is
refused (stock is used, and the log says why).
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ENGINE_VARIABLE", "TESTED_PYNETDICOM", "EngineChoice", "EngineName", "choose",
           "current"]

_LOGGER = logging.getLogger(__name__)

# The pynetdicom releases every piece of the tuned engine was tested with,
# the whole suite passing on each (tests/core/test_pynetdicom_private.py
# holds the canaries). Add a release here only after that.
TESTED_PYNETDICOM: tuple[str, ...] = ("3.0.4",)
ENGINE_VARIABLE = "QRSCOPE_ENGINE"


class EngineName(StrEnum):
    TUNED = "tuned"
    STOCK = "stock"


@dataclass(frozen=True)
class EngineChoice:
    """The engine chosen, for which pynetdicom release, and why."""

    name: EngineName
    pynetdicom_version: str
    reason: str

    @property
    def tuned(self) -> bool:
        return self.name is EngineName.TUNED

    def describe(self) -> str:
        """One line for ``--version`` and the log."""
        if self.tuned:
            return f"tuned pynetdicom {self.pynetdicom_version} ({self.reason})"
        return f"stock pynetdicom {self.pynetdicom_version} ({self.reason})"


def choose(version: str, requested: str | None) -> EngineChoice:
    """The engine for pynetdicom *version* when the user asked for *requested* (or nothing)."""
    tested = version in TESTED_PYNETDICOM
    wanted = (requested or "").strip().lower()
    if wanted == EngineName.STOCK:
        return EngineChoice(EngineName.STOCK, version, f"{ENGINE_VARIABLE}=stock")
    if not tested:
        listed = ", ".join(TESTED_PYNETDICOM)
        return EngineChoice(EngineName.STOCK, version,
                            f"the tuned engine was tested with pynetdicom {listed} only")
    if wanted not in ("", EngineName.TUNED):
        return EngineChoice(EngineName.TUNED, version,
                            f"{ENGINE_VARIABLE}={requested!r} is neither 'tuned' nor 'stock'")
    return EngineChoice(EngineName.TUNED, version, "a tested release")


@functools.cache
def current() -> EngineChoice:
    """The engine of this process, decided once (logged once; a warning when degraded)."""
    import pynetdicom

    choice = choose(pynetdicom.__version__, os.environ.get(ENGINE_VARIABLE))
    if not choice.tuned and choice.pynetdicom_version not in TESTED_PYNETDICOM:
        _LOGGER.warning("running on %s", choice.describe())
    else:
        _LOGGER.info("running on %s", choice.describe())
    return choice
