"""Every DIMSE status code qrscope may see, decoded in one table.

A status alone rarely names the cause of a failed retrieve (Orthanc answers
0xC000 for "unknown destination" and for "nobody listening"), but the log and
the hints must at least say what the code means in words. The meanings follow
PS3.4 Annex C (Query/Retrieve), B (Storage) and PS3.7 Annex C (general).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "Service",
    "StatusCategory",
    "StatusInfo",
    "decode_abort",
    "decode_reject",
    "decode_status",
]


class Service(StrEnum):
    """The DIMSE service whose response carried the status."""

    ECHO = "C-ECHO"
    FIND = "C-FIND"
    MOVE = "C-MOVE"
    GET = "C-GET"
    STORE = "C-STORE"


class StatusCategory(StrEnum):
    SUCCESS = "success"
    PENDING = "pending"
    WARNING = "warning"
    CANCEL = "cancel"
    FAILURE = "failure"


@dataclass(frozen=True)
class StatusInfo:
    code: int
    category: StatusCategory
    meaning: str

    @property
    def is_final(self) -> bool:
        return self.category is not StatusCategory.PENDING

    def __str__(self) -> str:
        return f"0x{self.code:04X} {self.category.value}: {self.meaning}"


_S, _P, _W, _C, _F = (
    StatusCategory.SUCCESS,
    StatusCategory.PENDING,
    StatusCategory.WARNING,
    StatusCategory.CANCEL,
    StatusCategory.FAILURE,
)

# PS3.7 Annex C: statuses any service may return.
_GENERAL: dict[int, tuple[StatusCategory, str]] = {
    0x0000: (_S, "success"),
    0xFE00: (_C, "cancelled at our request"),
    0x0105: (_F, "no such attribute"),
    0x0106: (_F, "invalid attribute value"),
    0x0107: (_W, "attribute list error"),
    0x0110: (_F, "processing failure on the peer"),
    0x0111: (_F, "duplicate SOP instance"),
    0x0112: (_F, "no such SOP instance"),
    0x0116: (_W, "attribute value out of range"),
    0x0117: (_F, "invalid object instance"),
    0x0118: (_F, "no such SOP class"),
    0x0119: (_F, "class-instance conflict"),
    0x0120: (_F, "missing attribute"),
    0x0121: (_F, "missing attribute value"),
    0x0122: (_F, "refused: SOP class not supported"),
    0x0124: (_F, "refused: not authorised"),
    0x0210: (_F, "duplicate invocation (message ID already in use)"),
    0x0211: (_F, "unrecognised operation"),
    0x0212: (_F, "mistyped argument"),
    0x0213: (_F, "resource limitation on the peer"),
}

# PS3.4 C.4.1.1.4 (FIND), C.4.2.1.5 (MOVE), C.4.3.1.4 (GET), B.2.3 (STORE).
_SPECIFIC: dict[Service, dict[int, tuple[StatusCategory, str]]] = {
    Service.FIND: {
        0xA700: (_F, "refused: out of resources"),
        0xA900: (_F, "identifier does not match SOP class"),
        0xFF00: (_P, "match returned, more may follow"),
        0xFF01: (_P, "match returned, but an optional key was not supported"),
    },
    Service.MOVE: {
        0xA701: (_F, "refused: out of resources, unable to calculate number of matches"),
        0xA702: (_F, "refused: out of resources, unable to perform sub-operations"),
        0xA801: (_F, "refused: move destination unknown"),
        0xA900: (_F, "identifier does not match SOP class"),
        0xB000: (_W, "sub-operations complete, one or more failures or warnings"),
        0xFF00: (_P, "sub-operations are continuing"),
    },
    Service.GET: {
        0xA701: (_F, "refused: out of resources, unable to calculate number of matches"),
        0xA702: (_F, "refused: out of resources, unable to perform sub-operations"),
        0xA900: (_F, "identifier does not match SOP class"),
        0xB000: (_W, "sub-operations complete, one or more failures or warnings"),
        0xFF00: (_P, "sub-operations are continuing"),
    },
    Service.STORE: {
        0xB000: (_W, "coercion of data elements"),
        0xB007: (_W, "data set does not match SOP class"),
        0xB006: (_W, "elements discarded"),
    },
    Service.ECHO: {},
}


def _range_meaning(service: Service, code: int) -> tuple[StatusCategory, str] | None:
    """Statuses defined as ranges rather than single codes."""
    if 0xC000 <= code <= 0xCFFF:
        if service is Service.STORE:
            return _F, "cannot understand (the receiver could not parse the data set)"
        return _F, "unable to process (the peer gave no specific reason)"
    if 0xA700 <= code <= 0xA7FF:
        return _F, "refused: out of resources"
    if 0xA900 <= code <= 0xA9FF:
        if service is Service.STORE:
            return _F, "data set does not match SOP class"
        return _F, "identifier does not match SOP class"
    if 0x0001 <= code <= 0x00FF or 0xB000 <= code <= 0xBFFF:
        return _W, "warning"
    return None


def decode_status(service: Service, code: int) -> StatusInfo:
    """Return the category and plain meaning of *code* for *service*.

    Unknown codes are reported as failures (PS3.7 C.1: a status that is not
    success, pending, cancel or warning is a failure) with the code kept.
    """
    entry = _SPECIFIC.get(service, {}).get(code) or _GENERAL.get(code)
    if entry is None:
        entry = _range_meaning(service, code) or (_F, "unrecognised status code")
    return StatusInfo(code=code, category=entry[0], meaning=entry[1])


# PS3.8 Table 9-21: A-ASSOCIATE-RJ result source and diagnostic.
_REJECT_SOURCES = {
    1: "service user (the peer application)",
    2: "service provider (ACSE)",
    3: "service provider (presentation layer)",
}
_REJECT_REASONS: dict[tuple[int, int], str] = {
    (1, 1): "no reason given",
    (1, 2): "application context name not supported",
    (1, 3): "calling AE title not recognised",
    (1, 7): "called AE title not recognised",
    (2, 1): "no reason given",
    (2, 2): "protocol version not supported",
    (3, 1): "temporary congestion",
    (3, 2): "local limit exceeded",
}


def decode_reject(result: int, source: int, diagnostic: int) -> str:
    """Describe an A-ASSOCIATE-RJ in words, e.g. for the log and the hints."""
    kind = {1: "permanent", 2: "transient"}.get(result, f"result {result}")
    who = _REJECT_SOURCES.get(source, f"source {source}")
    why = _REJECT_REASONS.get((source, diagnostic), f"diagnostic {diagnostic}")
    return f"{kind} rejection by the {who}: {why}"


# PS3.8 Table 9-26: A-ABORT source and provider reason.
_ABORT_REASONS = {
    0: "reason not specified",
    1: "unrecognised PDU",
    2: "unexpected PDU",
    4: "unrecognised PDU parameter",
    5: "unexpected PDU parameter",
    6: "invalid PDU parameter value",
}


def decode_abort(source: int | None, reason: int | None) -> str:
    """Describe an A-ABORT or A-P-ABORT in words."""
    if source == 0:
        return "aborted by the peer application (service user)"
    text = _ABORT_REASONS.get(reason or 0, f"reason {reason}")
    return f"aborted by the DICOM protocol layer (service provider): {text}"
