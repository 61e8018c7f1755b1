"""Every DIMSE status code qrscope may see, in words, and the codes it names.

A status alone rarely names the cause of a failed retrieve (Orthanc answers
0xC000 for "unknown destination" and for "nobody listening"), but the log and
the hints must at least say what the code means in words. Category and
meaning come from pynetdicom's tables of PS3.4 Annex B (Storage), C
(Query/Retrieve) and PS3.7 Annex C (general); qrscope's own words replace
theirs only where they tell the user more (who cancelled, that 0xCxxx names
no reason). Codes qrscope answers or tests by name are defined here, so no
other module spells them in hex.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pynetdicom.status import (
    QR_FIND_SERVICE_CLASS_STATUS,
    QR_GET_SERVICE_CLASS_STATUS,
    QR_MOVE_SERVICE_CLASS_STATUS,
    STATUS_CANCEL,
    STATUS_FAILURE,
    STATUS_PENDING,
    STATUS_SUCCESS,
    STATUS_WARNING,
    STORAGE_SERVICE_CLASS_STATUS,
    VERIFICATION_SERVICE_CLASS_STATUS,
    StatusDictType,
    code_to_category,
)

__all__ = [
    "CANCEL",
    "CANNOT_UNDERSTAND",
    "DATA_SET_DOES_NOT_MATCH",
    "DOES_NOT_MATCH_FAMILY",
    "IDENTIFIER_DOES_NOT_MATCH",
    "MOVE_DESTINATION_UNKNOWN",
    "OUT_OF_RESOURCES",
    "OUT_OF_RESOURCES_FAMILY",
    "OUT_OF_RESOURCES_MATCHES",
    "OUT_OF_RESOURCES_SUBOPERATIONS",
    "PENDING",
    "REFUSED_NOT_AUTHORISED",
    "REFUSED_SOP_CLASS_NOT_SUPPORTED",
    "SUBOPERATIONS_WARNING",
    "SUCCESS",
    "UNABLE_TO_PROCESS",
    "UNABLE_TO_PROCESS_FAMILY",
    "WARNING_FAMILY",
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


# Named codes, for the places that answer or test them (PS3.7 C, PS3.4 B.2.3 and C.4).
SUCCESS = 0x0000
PENDING = 0xFF00
CANCEL = 0xFE00
REFUSED_SOP_CLASS_NOT_SUPPORTED = 0x0122
REFUSED_NOT_AUTHORISED = 0x0124
OUT_OF_RESOURCES = 0xA700  # C-FIND and C-STORE; A7xx is the family
OUT_OF_RESOURCES_MATCHES = 0xA701  # C-MOVE, C-GET: unable to calculate number of matches
OUT_OF_RESOURCES_SUBOPERATIONS = 0xA702  # C-MOVE, C-GET: unable to perform sub-operations
MOVE_DESTINATION_UNKNOWN = 0xA801
IDENTIFIER_DOES_NOT_MATCH = 0xA900  # Q/R; the same code means "data set does not
DATA_SET_DOES_NOT_MATCH = 0xA900  # match SOP class" for C-STORE
SUBOPERATIONS_WARNING = 0xB000  # C-MOVE, C-GET: complete, one or more failures or warnings
UNABLE_TO_PROCESS = 0xC000  # Q/R; Cxxx is the family
CANNOT_UNDERSTAND = 0xC000  # C-STORE


# The families PS3.4 defines by their high byte or nibble.
OUT_OF_RESOURCES_FAMILY = range(0xA700, 0xA800)
DOES_NOT_MATCH_FAMILY = range(0xA900, 0xAA00)
UNABLE_TO_PROCESS_FAMILY = range(0xC000, 0xD000)
WARNING_FAMILY = range(0xB000, 0xC000)


# pynetdicom's tables (PS3.4 and PS3.7 Annex C) give category and meaning.
_TABLES: dict[Service, StatusDictType] = {
    Service.ECHO: VERIFICATION_SERVICE_CLASS_STATUS,
    Service.FIND: QR_FIND_SERVICE_CLASS_STATUS,
    Service.MOVE: QR_MOVE_SERVICE_CLASS_STATUS,
    Service.GET: QR_GET_SERVICE_CLASS_STATUS,
    Service.STORE: STORAGE_SERVICE_CLASS_STATUS,
}

_CATEGORIES = {
    STATUS_SUCCESS: StatusCategory.SUCCESS,
    STATUS_PENDING: StatusCategory.PENDING,
    STATUS_WARNING: StatusCategory.WARNING,
    STATUS_CANCEL: StatusCategory.CANCEL,
    STATUS_FAILURE: StatusCategory.FAILURE,
}

# qrscope's words where they say more than the table: who did it, or what
# the code tells (and does not tell) the user about the cause.
_OWN_WORDS: dict[tuple[Service | None, int], str] = {
    (None, CANCEL): "cancelled at our request",
    (None, 0x0110): "processing failure on the peer",
    (None, 0x0213): "resource limitation on the peer",
    (None, 0x0210): "duplicate invocation (message ID already in use)",
    (Service.MOVE, MOVE_DESTINATION_UNKNOWN): "refused: move destination unknown",
}
_NO_REASON = "unable to process (the peer gave no specific reason)"
_NOT_PARSED = "cannot understand (the receiver could not parse the data set)"

# Families a service table leaves out (e.g. 0xA7FF for C-MOVE): their meaning
# across the Q/R and Storage services (PS3.4 B.2.3, C.4).
_FAMILIES: tuple[tuple[range, str], ...] = (
    (OUT_OF_RESOURCES_FAMILY, "refused: out of resources"),
    (DOES_NOT_MATCH_FAMILY, "identifier does not match SOP class"),
    (UNABLE_TO_PROCESS_FAMILY, _NO_REASON),
    (WARNING_FAMILY, "warning"),
)


def _words(text: str) -> str:
    """pynetdicom's Title Case in running text, acronyms kept: 'refused: SOP class ...'."""
    return " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in text.split())


def _meaning(service: Service, code: int, described: str) -> str:
    own = _OWN_WORDS.get((service, code)) or _OWN_WORDS.get((None, code))
    if own:
        return own
    if code in UNABLE_TO_PROCESS_FAMILY:  # the table's words alone read like a verdict
        return _NOT_PARSED if service is Service.STORE else _NO_REASON
    if described:
        return _words(described)
    return next((words for family, words in _FAMILIES if code in family), "")


def decode_status(service: Service, code: int) -> StatusInfo:
    """Return the category and plain meaning of *code* for *service*.

    Unknown codes are reported as failures (PS3.7 C.1: a status that is not
    success, pending, cancel or warning is a failure) with the code kept.
    """
    category_text, described = _TABLES[service].get(code) or (code_to_category(code), "")
    category = _CATEGORIES.get(category_text, StatusCategory.FAILURE)
    if category is StatusCategory.PENDING and code not in _TABLES[service]:
        category = StatusCategory.FAILURE  # pending where the service has none (C-ECHO, C-STORE)
    meaning = _meaning(service, code, described) or (
        "unrecognised status code" if category is StatusCategory.FAILURE else category.value)
    return StatusInfo(code=code, category=category, meaning=meaning)


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
