"""The tuned engine ends an association when its DUL is idle, without pynetdicom's 10 ms poll.

pynetdicom's ``Association.kill`` looks every 10 ms whether the DUL reached
Sta1; after a release it nearly always looks once too early (the DUL hands
over the A-RELEASE confirmation before it moves to Sta1). The engine's
``prompt_release`` piece waits on the state machine's move instead.
"""

from __future__ import annotations

import threading

import pytest
from pynetdicom import association

from qrscope.core.engine import prompt_release
from qrscope.core.engine.choice import current
from qrscope.core.net.connection import make_ae
from qrscope.core.query.find import find_association

WAIT = 10.0  # seconds a release may take before the test fails (never reached when well)

pytestmark = pytest.mark.skipif(not current().uses("prompt_release"),
                                reason="a piece of the tuned engine")


class _Recording:
    """``pynetdicom.association``'s ``time``, recording the kill loop's 10 ms sleeps."""

    def __init__(self, real) -> None:
        self.real = real
        self.polls = 0

    def __getattr__(self, name):
        return getattr(self.real, name)

    def sleep(self, seconds: float) -> None:
        if seconds == 0.01:
            self.polls += 1
        self.real.sleep(seconds)


def _associate(demo):
    return find_association(demo.node, demo.log, make_ae(demo.local, demo.node))


def test_a_release_waits_on_the_dul_not_on_the_10_ms_poll(demo, monkeypatch):
    recording = _Recording(association.time)
    monkeypatch.setattr(association, "time", recording)
    for _ in range(5):
        out = _associate(demo)
        out.close()
        assert out.assoc.is_released and not out.assoc.dul.is_alive()
    assert recording.polls == 0


def test_the_release_ends_on_the_move_to_sta1_alone(demo, monkeypatch):
    """With the fallback look an hour apart, only the state machine's move can end it."""
    monkeypatch.setattr(prompt_release, "_POLL", 3600.0)
    out = _associate(demo)
    closer = threading.Thread(target=out.close, daemon=True)
    closer.start()
    closer.join(WAIT)
    assert not closer.is_alive() and out.assoc.is_released
    assert not out.assoc.dul.is_alive()


def test_an_abort_ends_too(demo, monkeypatch):
    monkeypatch.setattr(prompt_release, "_POLL", 3600.0)
    out = _associate(demo)
    aborter = threading.Thread(target=out.assoc.abort, daemon=True)
    aborter.start()
    aborter.join(WAIT)
    assert not aborter.is_alive() and out.assoc.is_aborted
