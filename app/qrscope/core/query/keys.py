"""Query keys named by tag, the way DICOM users write them: ``PatientName=DOE*``.

DCMTK ``findscu -k`` and pynetdicom's ``findscu`` app take a keyword or a
tag (``gggg,eeee`` or ``(gggg,eeee)``), optionally followed by ``=VALUE``;
without a value the key is a return key (universal matching, PS3.4
C.2.2.2.3). A value is checked against the key's VR here, before anything
is sent, so that a typing mistake is one line of error rather than a
0xA900 from the PACS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydicom import config
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.valuerep import validate_value

from qrscope.core.validation import InvalidValue

__all__ = ["QueryKey", "parse_query_key"]

_TAG = re.compile(r"^\(?\s*([0-9A-Fa-f]{4})\s*,\s*([0-9A-Fa-f]{4})\s*\)?$")
# Matching syntax that is no value of the VR itself: ranges (C.2.2.2.5).
_RANGE_VRS = frozenset({"DA", "TM", "DT"})
# VRs whose values may hold the * and ? wildcards (PS3.4 C.2.2.2.4).
_WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
# Binary numbers: the value is written as text and sent as a number.
_NUMBERS = {**dict.fromkeys(("US", "SS", "UL", "SL", "UV", "SV"), int),
            **dict.fromkeys(("FL", "FD"), float)}


@dataclass(frozen=True)
class QueryKey:
    """One key of a C-FIND identifier, given by tag.

    Attributes
    ----------
    tag : int
        The attribute's tag.
    keyword : str
        Its keyword; ``""`` for private and unknown tags.
    vr : str
        From the data dictionary; ``UN`` for private and unknown tags.
    value : str or None
        The matching value (backslashes separate several); ``None`` for a
        return key.
    """

    tag: int
    keyword: str
    vr: str
    value: str | None = None

    @property
    def name(self) -> str:
        """The keyword, or ``(gggg,eeee)`` where there is none."""
        return self.keyword or f"({self.tag >> 16:04X},{self.tag & 0xFFFF:04X})"

    def add_to(self, ds: Dataset) -> None:
        """Put the key into *ds*, replacing what it held for the tag."""
        if self.vr == "SQ":
            ds.add_new(self.tag, "SQ", [])
            return
        value: object = self.value or None
        if value is not None and self.vr in _NUMBERS:
            numbers = [_NUMBERS[self.vr](item) for item in self.value.split("\\")]
            value = numbers[0] if len(numbers) == 1 else numbers
        ds.add_new(self.tag, self.vr, value)


def parse_query_key(text: str) -> QueryKey:
    """Read ``KEY`` or ``KEY=VALUE``; KEY is a keyword or ``gggg,eeee``.

    Raises
    ------
    InvalidValue
        For an unknown keyword, a malformed tag, or a value its VR cannot hold.
    """
    name, has_value, value = text.partition("=")
    name = name.strip()
    tag = _tag(name)
    keyword = keyword_for_tag(tag) or ""
    vr = _vr(tag)
    if not has_value:
        return QueryKey(tag, keyword, vr)
    key = QueryKey(tag, keyword, vr, value)
    if vr in ("SQ", "UN") and value:
        raise InvalidValue("-k", f"{key.name} has no value representation a value can use "
                           f"here ({'a sequence' if vr == 'SQ' else 'unknown VR'}); "
                           f"ask for it without '='")
    for item in value.split("\\"):
        _check_value(key, item)
    return key


def _tag(name: str) -> int:
    match = _TAG.match(name)
    if match:
        return int(Tag(int(match[1], 16), int(match[2], 16)))
    tag = tag_for_keyword(name)
    if tag is None:
        raise InvalidValue("-k", f"'{name}' is neither a DICOM keyword (e.g. PatientName) "
                           "nor a tag (gggg,eeee)")
    return int(tag)


def _vr(tag: int) -> str:
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return "UN"
    # Ambiguous VRs ("US or SS") are pixel-level attributes: any will do for a key.
    return vr.split(" or ")[0]


def _check_value(key: QueryKey, item: str) -> None:
    """Check one value, allowing the matching syntax of PS3.4 C.2.2.2."""
    parts = item.split("-") if key.vr in _RANGE_VRS and item.count("-") == 1 else [item]
    for part in parts:
        if key.vr in _WILDCARD_VRS:
            part = part.replace("*", "").replace("?", "")
        if not part:
            continue
        try:
            number = _NUMBERS.get(key.vr)
            validate_value(key.vr, number(part) if number else part, config.RAISE)
        except (ValueError, TypeError) as exc:
            raise InvalidValue("-k", f"{key.name}: '{item}' is not a valid {key.vr} value "
                               f"({exc})") from None
