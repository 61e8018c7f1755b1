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

``QRSCOPE_ENGINE_OFF=data_lane,quick_ack`` leaves named pieces of the tuned
engine out (:data:`PIECES`), so that what each one buys can be measured
against the others in the same run (benchmarks/run.py --engines) and a piece
suspected of a fault can be ruled out without giving up the rest.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ENGINE_VARIABLE", "OFF_VARIABLE", "PIECES", "TESTED_PYNETDICOM", "EngineChoice",
           "EngineName", "choose", "current"]

_LOGGER = logging.getLogger(__name__)

# The pynetdicom releases every piece of the tuned engine was tested with,
# the whole suite passing on each (tests/core/test_pynetdicom_private.py
# holds the canaries). Add a release here only after that.
TESTED_PYNETDICOM: tuple[str, ...] = ("3.0.4",)
ENGINE_VARIABLE = "QRSCOPE_ENGINE"
OFF_VARIABLE = "QRSCOPE_ENGINE_OFF"
# The tuned engine's pieces (docs/PERFORMANCE.md has what each buys):
PIECES = (
    "reactors",        # reactors.py: DUL and association threads wait on work, not 1 ms polls
    "data_lane",       # data_lane.py: C-STORE data and responses past the state machine
    "encodings",       # command sets and file meta headers encoded and decoded by hand
    "large_reads",     # a PDU read in pieces of up to 1 MiB, not 4 KiB
    "quick_ack",       # quick ACKs re-armed after every read on our own associations
    "incoming_files",  # received data sets held in memory or written beside the storage
    "send_lane",       # send_lane.py: C-STORE requests of a file written by the sending thread
    "prompt_release",  # prompt_release.py: an association's end waits for Sta1, not 10 ms polls
)


class EngineName(StrEnum):
    TUNED = "tuned"
    STOCK = "stock"


@dataclass(frozen=True)
class EngineChoice:
    """The engine chosen, for which pynetdicom release, and why."""

    name: EngineName
    pynetdicom_version: str
    reason: str
    left_out: frozenset[str] = frozenset()

    @property
    def tuned(self) -> bool:
        return self.name is EngineName.TUNED

    def uses(self, piece: str) -> bool:
        """Whether the tuned engine's *piece* (one of :data:`PIECES`) is in use."""
        if piece not in PIECES:
            raise ValueError(f"no engine piece is called {piece!r}")
        if piece in ("data_lane", "send_lane") and "reactors" in self.left_out:
            # The data lane is served by the tuned reactor's PDU reader; the send
            # lane relies on its DIMSE provider keeping responses from the reactor.
            return False
        return self.tuned and piece not in self.left_out

    def describe(self) -> str:
        """One line for ``--version`` and the log."""
        if self.tuned:
            without = (f", without {', '.join(sorted(self.left_out))}"
                       if self.left_out else "")
            return f"tuned pynetdicom {self.pynetdicom_version} ({self.reason}{without})"
        return f"stock pynetdicom {self.pynetdicom_version} ({self.reason})"


def choose(version: str, requested: str | None, off: str | None = None) -> EngineChoice:
    """The engine for pynetdicom *version* when the user asked for *requested* (or nothing),
    without the pieces named in *off* (comma-separated; unknown names are ignored)."""
    tested = version in TESTED_PYNETDICOM
    wanted = (requested or "").strip().lower()
    if wanted == EngineName.STOCK:
        return EngineChoice(EngineName.STOCK, version, f"{ENGINE_VARIABLE}=stock")
    if not tested:
        listed = ", ".join(TESTED_PYNETDICOM)
        return EngineChoice(EngineName.STOCK, version,
                            f"the tuned engine was tested with pynetdicom {listed} only")
    left_out = frozenset(name.strip() for name in (off or "").split(",")) & set(PIECES)
    if wanted not in ("", EngineName.TUNED):
        return EngineChoice(EngineName.TUNED, version,
                            f"{ENGINE_VARIABLE}={requested!r} is neither 'tuned' nor 'stock'",
                            left_out)
    return EngineChoice(EngineName.TUNED, version, "a tested release", left_out)


@functools.cache
def current() -> EngineChoice:
    """The engine of this process, decided once (logged once; a warning when degraded)."""
    import pynetdicom

    choice = choose(pynetdicom.__version__, os.environ.get(ENGINE_VARIABLE),
                    os.environ.get(OFF_VARIABLE))
    if not choice.tuned and choice.pynetdicom_version not in TESTED_PYNETDICOM:
        _LOGGER.warning("running on %s", choice.describe())
    else:
        _LOGGER.info("running on %s", choice.describe())
    return choice
