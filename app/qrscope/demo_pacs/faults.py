"""The demo PACS's deliberate faults: each failure users meet in the field, on demand.

``qrscope demo-pacs --fault NAME`` (and the tests) use :func:`configure` to
turn a fault name into the behaviour and move-destination table that show it,
and the window :func:`describe` to say what it does. The 'busy' faults take a
parameter after a colon: ``busy:3`` refuses a retrieve above three at once,
``busy-at-random:0.5`` half of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from qrscope.core.dicom.status import OUT_OF_RESOURCES_MATCHES
from qrscope.demo_pacs.behaviour import DemoPacsBehaviour

__all__ = ["FAULTS", "configure", "describe"]

_BUSY_ABOVE = 2
_BUSY_SHARE = 0.3


def _busy_words(above: int) -> str:
    runs = "retrieve runs" if above == 1 else "retrieves run"
    return (f"answers a C-MOVE or C-GET with 0xA702 (out of resources) when more than "
            f"{above} {runs} at once")


def _busy_at_random_words(share: float) -> str:
    return (f"answers a share of {share:g} of C-MOVEs and C-GETs with 0xA702 "
            "(out of resources), at random but the same each run")


FAULTS: dict[str, str] = {
    "unknown-destination": "knows no move destination: every C-MOVE is refused (0xA801)",
    "unreachable-destination": "knows our AE title at a port where nothing listens",
    "reject-called-aet": "rejects associations not addressed to its own AE title",
    "reject-calling-aet": "accepts only callers it knows (and it knows nobody)",
    "no-cget": "offers C-FIND and C-MOVE but not C-GET",
    "slow-responses": "pauses before each match and each image, like a slow archive",
    "abort-mid-transfer": "aborts the retrieve after two images",
    "final-before-images": "answers a C-MOVE as complete, then sends the images",
    "empty-success": "answers every C-MOVE and C-GET with success and no sub-operations, "
                     "sends nothing",
    "empty-success-then-images": "answers a C-MOVE with success and no sub-operations, then "
                                 "sends the images a second later",
    "fewer-images": "counts every image of a C-MOVE as sent, delivers only half of them",
    "out-of-resources": "refuses every retrieve: out of resources (0xA701)",
    "busy": f"{_busy_words(_BUSY_ABOVE)} ('busy:N': more than N)",
    "busy-at-random": f"{_busy_at_random_words(_BUSY_SHARE)} "
                      "('busy-at-random:P': a share P between 0 and 1)",
    "wrong-originator": "sends a C-MOVE's images naming itself as Move Originator, with "
                        "Message ID 1, whatever our request was",
}


def configure(fault: str | None, destinations: Mapping[str, tuple[str, int]],
              behaviour: DemoPacsBehaviour | None = None,
              ) -> tuple[DemoPacsBehaviour, dict[str, tuple[str, int]]]:
    """The behaviour and destinations that show *fault* (``None``: a polite PACS).

    Raises ``KeyError`` for an unknown fault name, ``ValueError`` for a parameter
    the fault cannot take.
    """
    base = behaviour or DemoPacsBehaviour()
    table = dict(destinations)
    if fault is None:
        return base, table
    fault, busy = _parse(fault)
    if busy:
        return replace(base, **busy), table
    if fault == "unknown-destination":
        return base, {}
    if fault == "unreachable-destination":
        # Port 9 (discard) on loopback: nothing listens there on a normal machine.
        return base, {aet: (host, 9) for aet, (host, _port) in table.items()}
    return replace(base, **_BEHAVIOUR_CHANGES[fault]), table


def describe(fault: str) -> str:
    """What *fault* does, in words for a status line: a 'busy' fault with its parameter
    (``busy:1``) is told with that parameter, not the default's.

    Raises ``KeyError`` and ``ValueError`` as :func:`configure` does.
    """
    name, busy = _parse(fault)
    if "busy_above" in busy:
        return _busy_words(busy["busy_above"])
    if "busy_probability" in busy:
        return _busy_at_random_words(busy["busy_probability"])
    return FAULTS[name]


def _parse(fault: str) -> tuple[str, dict[str, Any]]:
    """*fault*'s name and, for a 'busy' fault, the behaviour its parameter gives."""
    name, colon, parameter = fault.partition(":")
    if name in ("busy", "busy-at-random"):
        return name, _busy(name, parameter)
    if name not in FAULTS:
        raise KeyError(f"unknown fault '{name}'; known: {', '.join(FAULTS)}")
    if colon:
        raise ValueError(f"'{name}' takes no parameter (only 'busy' and 'busy-at-random' do)")
    return name, {}


def _busy(fault: str, parameter: str) -> dict[str, Any]:
    """The behaviour of 'busy[:N]' or 'busy-at-random[:P]'."""
    try:
        value = float(parameter) if parameter else None
    except ValueError:
        value = -1.0
    if fault == "busy":
        above = _BUSY_ABOVE if value is None else int(value)
        if value is not None and (value != above or above < 0):
            raise ValueError(f"'busy:{parameter}': N is a number of retrieves (0, 1, 2, ...)")
        return {"busy_above": above}
    share = _BUSY_SHARE if value is None else value
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"'busy-at-random:{parameter}': P is a share between 0 and 1")
    return {"busy_probability": share}


_BEHAVIOUR_CHANGES: dict[str, dict[str, Any]] = {
    "reject-called-aet": {"require_called_ae_title": True},
    "reject-calling-aet": {"allowed_calling_ae_titles": ("NOBODY",)},
    "no-cget": {"offer_get": False},
    "slow-responses": {"sub_operation_delay": 1.0, "match_delay": 0.3},
    "abort-mid-transfer": {"abort_after": 2},
    "final-before-images": {"final_before_images": True},
    "fewer-images": {"deliver_half": True},
    "empty-success": {"empty_success": True},
    "empty-success-then-images": {"empty_success": True, "images_after": 1.0},
    "out-of-resources": {"refuse_retrieves_with": OUT_OF_RESOURCES_MATCHES},
    "wrong-originator": {"wrong_move_originator": True},
}
