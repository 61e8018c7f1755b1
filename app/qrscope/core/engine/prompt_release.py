"""An association's end that returns when its DUL is idle, not at the next 10 ms poll.

Every release, abort or rejection in pynetdicom ends in ``Association.kill``,
which waits for the DUL thread to reach Sta1 (idle) before stopping it::

    while self.dul.is_alive() and not self.dul.stop_dul():
        time.sleep(0.01)

After an A-RELEASE-RP the DUL thread hands the confirmation to the
releasing thread (AR-3) *before* its state machine moves to Sta1, so the
first look nearly always finds it a step short and the release sleeps 10 ms
it did not need: about 9 ms of the ~20 ms a batch paid per association on
loopback (docs/PERFORMANCE.md, batch retrieval). ``stop_dul`` then polls the
DUL thread's end every millisecond.

Here the wait ends as soon as the state machine enters Sta1: its
``transition`` sets an event of the DUL's, and the thread is then joined
rather than polled. The conditions are pynetdicom's own (the DUL alive, its
state Sta1); only how long each look waits changes. A Sta1 reached without
``transition`` (the tuned engine's closing state machine closes the
transport by assignment, see :mod:`~qrscope.core.engine.reactors`) is still
seen by the 10 ms look, as before.

A piece of the tuned engine (``prompt_release`` in
:data:`~qrscope.core.engine.choice.PIECES`); stock pynetdicom keeps its poll.
"""

from __future__ import annotations

import threading
from typing import Any

from pynetdicom.association import Association
from pynetdicom.fsm import StateMachine

__all__ = ["install", "installed"]

IDLE_STATE = "Sta1"
_POLL = 0.01
"""pynetdicom's own look interval, kept for a Sta1 reached without ``transition``."""
_EVENT = "_qrscope_idle"
"""The DUL's attribute holding the event set when its state machine enters Sta1."""

_STOCK_TRANSITION = StateMachine.transition
_INSTALLED = False
_LOCK = threading.Lock()


def _idle_event(dul: Any) -> threading.Event:
    """The DUL's idle event, made on first use (``setdefault`` is atomic: one per DUL)."""
    return dul.__dict__.setdefault(_EVENT, threading.Event())


def _transition(self: StateMachine, state: str) -> None:
    """pynetdicom's transition, which then tells a waiting ``kill`` that the DUL is idle."""
    _STOCK_TRANSITION(self, state)
    if state == IDLE_STATE:
        _idle_event(self.dul).set()


def _kill(self: Association) -> None:
    """``Association.kill`` with event waits in place of its polls (see the module)."""
    # As pynetdicom: ensure the reactor is running so that it can exit.
    self._reactor_checkpoint.set()
    self._kill = True
    self.is_established = False
    self._is_paused = True
    dul = self.dul
    idle = _idle_event(dul)  # before the state is read: a transition after it sets it
    while dul.is_alive() and dul.state_machine.current_state != IDLE_STATE:
        idle.wait(_POLL)
    if dul.is_alive():
        dul._kill_thread = True  # what stop_dul does in Sta1
        if threading.current_thread() is not dul:
            dul.join()


def install() -> None:
    """Have every association end this way from now on (idempotent)."""
    global _INSTALLED
    with _LOCK:
        if not _INSTALLED:
            StateMachine.transition = _transition  # type: ignore[method-assign]
            Association.kill = _kill  # type: ignore[method-assign]
            _INSTALLED = True


def installed() -> bool:
    return _INSTALLED
