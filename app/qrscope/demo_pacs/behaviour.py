"""How the demo PACS behaves on the wire, declared in one place.

The demo PACS exists so that qrscope can be shown, tested and debugged
against a server that is always there. Later it will also misbehave on
purpose (reject a calling AE, answer a C-MOVE before sending the images,
refuse C-GET...) so that the diagnosis can be demonstrated. Every such
switch belongs in :class:`DemoPacsBehaviour`, so a reader sees at a glance
how a given instance differs from a well-behaved PACS. Today it only holds
the knobs of the normal behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DemoPacsBehaviour"]


@dataclass(frozen=True)
class DemoPacsBehaviour:
    """The demo PACS's network behaviour; the defaults are a polite PACS.

    Attributes
    ----------
    require_called_ae_title : bool
        Reject associations whose Called AE Title is not the PACS's own.
        Off by default: a demo should answer whatever a new user types.
    acse_timeout : float
        Seconds to wait for association negotiation messages.
    dimse_timeout : float
        Seconds to wait for a DIMSE message, e.g. a C-STORE response from a
        move destination.
    network_timeout : float
        Seconds of silence after which an idle association is aborted.
    connection_timeout : float
        Seconds to wait for the TCP connection to a move destination; short,
        so a wrong destination address fails fast instead of hanging a
        C-MOVE for the operating system's two minutes.
    sub_operation_delay : float
        Seconds to pause before each C-STORE sub-operation, like a PACS that
        fetches each image from a slow archive; lets a user watch progress
        and cancel.
    match_delay : float
        Seconds to pause before each C-FIND match, like a PACS searching a
        slow database; lets a user watch matches arrive and cancel.
    honour_cancel : bool
        Stop a retrieve on C-CANCEL (PS3.4 C.4.2.3.2). Some servers ignore
        it; switching this off shows how qrscope still ends the retrieve.
    """

    require_called_ae_title: bool = False
    acse_timeout: float = 30.0
    dimse_timeout: float = 30.0
    network_timeout: float = 60.0
    connection_timeout: float = 10.0
    sub_operation_delay: float = 0.0
    match_delay: float = 0.0
    honour_cancel: bool = True
    allowed_calling_ae_titles: tuple[str, ...] = ()
    """Only these callers may associate (empty: anyone), like a hospital PACS."""
    offer_get: bool = True
    """Accept the C-GET models; many PACS do not."""
    abort_after: int | None = None
    """Abort the retrieve's association after this many sub-operations."""
    final_before_images: bool = False
    """Answer a C-MOVE as complete, then send its images (non-conformant, seen in the field)."""
    deliver_half: bool = False
    """Count every C-MOVE image as sent but deliver only every other one."""
    wrong_move_originator: bool = False
    """Fill the Move Originator fields of C-MOVE sub-operations wrongly: its own AE
    title and Message ID 1 whatever the request's were (a Java archive in the field)."""
    max_associations: int = 16
    """Associations served at once; more are rejected as 'local limit exceeded'."""
    refuse_retrieves_with: int | None = None
    """Answer every C-MOVE/C-GET with this failure status (e.g. 0xA701, out of resources)."""
    empty_success: bool = False
    """Answer every C-MOVE/C-GET success with zero sub-operations: a PACS whose index
    lists a study its storage lacks, or one that answers first and sends afterwards."""
    images_after: float | None = None
    """With *empty_success*: send the images this many seconds after the final
    response, on a new association (PS3.4 C.4.2.3.1 forbids both halves)."""
    busy_above: int | None = None
    """Answer a C-MOVE/C-GET with 0xA702 (out of resources) when more than this many
    retrieves would run at once: a PACS under parallel load."""
    busy_probability: float = 0.0
    """Answer this share of C-MOVEs/C-GETs with 0xA702, at random (seeded by *busy_seed*)."""
    busy_seed: int = 1
