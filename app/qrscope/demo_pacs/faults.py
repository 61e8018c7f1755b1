"""The demo PACS's deliberate faults: each failure users meet in the field, on demand.

``qrscope demo-pacs --fault NAME`` (and the tests) use :func:`configure` to
turn a fault name into the behaviour and move-destination table that show it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from qrscope.core.dicom.status import OUT_OF_RESOURCES_MATCHES
from qrscope.demo_pacs.behaviour import DemoPacsBehaviour

__all__ = ["FAULTS", "configure"]

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
    "wrong-originator": "sends a C-MOVE's images naming itself as Move Originator, with "
                        "Message ID 1, whatever our request was",
}


def configure(fault: str | None, destinations: Mapping[str, tuple[str, int]],
              behaviour: DemoPacsBehaviour | None = None,
              ) -> tuple[DemoPacsBehaviour, dict[str, tuple[str, int]]]:
    """The behaviour and destinations that show *fault* (``None``: a polite PACS).

    Raises ``KeyError`` for an unknown fault name.
    """
    base = behaviour or DemoPacsBehaviour()
    table = dict(destinations)
    if fault is None:
        return base, table
    if fault not in FAULTS:
        raise KeyError(f"unknown fault '{fault}'; known: {', '.join(FAULTS)}")
    if fault == "unknown-destination":
        return base, {}
    if fault == "unreachable-destination":
        # Port 9 (discard) on loopback: nothing listens there on a normal machine.
        return base, {aet: (host, 9) for aet, (host, _port) in table.items()}
    return replace(base, **_BEHAVIOUR_CHANGES[fault]), table


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
