"""The base of the listener's server: pynetdicom's threaded association server.

``AE.make_server(..., server_class=...)`` is pynetdicom's public seam for a
server with its own admission rules; the class it takes must derive from
``pynetdicom.transport.ThreadedAssociationServer``. The listener's
:class:`~qrscope.core.receive.guard.GuardedAssociationServer` does, and
relies on what that class inherits from the standard library's
``socketserver`` (``get_request``, ``verify_request``, ``block_on_close``,
``daemon_threads``, ``request_queue_size``) and on pynetdicom's own
``ssl_context`` attribute and ``bind`` method. Those are named here, in the
engine, so that a pynetdicom release that moves them is met in one place:
:func:`missing_members` is what the engine's tests check on every release
the suite runs with.
"""

from __future__ import annotations

import inspect

from pynetdicom.transport import ThreadedAssociationServer

__all__ = ["RELIED_ON", "ThreadedAssociationServer", "missing_members"]

# What the listener's subclass overrides or uses of its base.
RELIED_ON = ("get_request", "verify_request", "shutdown", "server_close", "bind",
             "block_on_close", "daemon_threads", "request_queue_size", "ssl_context")


def missing_members() -> list[str]:
    """The members :data:`RELIED_ON` that this pynetdicom's server class lacks."""
    # ssl_context is an instance attribute, set from the constructor's
    # parameter of that name: its presence there is what can be checked.
    present = set(dir(ThreadedAssociationServer))
    present |= set(inspect.signature(ThreadedAssociationServer.__init__).parameters)
    return [name for name in RELIED_ON if name not in present]
