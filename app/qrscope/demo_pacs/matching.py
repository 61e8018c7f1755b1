"""Attribute matching for C-FIND keys, following PS3.4 C.2.2.2.

One function, :func:`matches`, decides whether a stored attribute value
satisfies one key of a request identifier. It implements the matching kinds
real PACS implement and query clients rely on:

* universal matching (empty key, or a key of only ``*``), C.2.2.2.3;
* single value matching, C.2.2.2.1, case-insensitive for PN;
* wildcard matching with ``*`` and ``?``, C.2.2.2.4;
* range matching for DA, TM and DT (``a-b``, ``-b``, ``a-``), C.2.2.2.5;
* list of UID matching (backslash-separated), C.2.2.2.2.

A key with several values matches when any of its values matches any of the
stored values; that one rule gives both UID lists and multi-valued stored
attributes such as *Modalities in Study* their standard meaning.

:func:`check_hierarchy` decides, before any matching, whether an identifier
is one a hierarchical search may send at all (PS3.4 C.4.1.2.2).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from qrscope.core.dicom.records import EVERY_LEVEL_KEYS, QueryLevel, key_level

__all__ = ["check_hierarchy", "matches", "value_strings"]

# VRs whose values may contain the * and ? wildcards (PS3.4 C.2.2.2.4).
_WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
_RANGE_VRS = frozenset({"DA", "TM", "DT"})
_NUMERIC_VRS = frozenset({"IS", "DS", "US", "UL", "SS", "SL", "FL", "FD", "UV", "SV"})
# Width of a fully specified value, used to pad partial range bounds.
_RANGE_WIDTH = {"DA": 8, "TM": 13, "DT": 21}


def value_strings(value: object) -> tuple[str, ...]:
    """Return the non-empty string forms of a (possibly multi-valued) value.

    Parameters
    ----------
    value : object
        A pydicom element value: ``None``, a string, a number, a
        :class:`~pydicom.valuerep.PersonName` or a sequence of those.

    Returns
    -------
    tuple of str
        One string per value; empty when the value is empty.
    """
    if value is None:
        return ()
    if isinstance(value, str | bytes):
        values: Sequence[object] = [value]
    elif isinstance(value, Sequence):
        values = value
    else:
        values = [value]
    strings = (str(item).strip() for item in values if item is not None)
    return tuple(item for item in strings if item)


def check_hierarchy(keys: dict[str, tuple[str, ...]], level: QueryLevel,
                    study_root: bool) -> str:
    """Return why an identifier breaks hierarchical search, ``""`` if it does not.

    The rules of PS3.4 C.4.1.2.2, as DCMTK ``dcmqrscp --check-find`` applies
    them: below the model's top (PATIENT, or STUDY in Study Root), each level
    above the query level is named by its unique key with a single value and
    by no other key; no key of a level below the query level is present.
    Keys of no known level, and those meaningful at every level, pass.

    Parameters
    ----------
    keys : dict of str to tuple of str
        The identifier's keys by keyword, with their values (see :func:`value_strings`).
    level : QueryLevel
        The identifier's Query/Retrieve Level.
    study_root : bool
        Whether the request uses Study Root, where patient keys are study keys.
    """
    for keyword in keys:
        belongs = None if keyword in EVERY_LEVEL_KEYS else key_level(keyword, study_root)
        if belongs is None or belongs is level:
            continue
        if belongs.rank > level.rank:
            return f"{keyword} is a {belongs} level key, below the {level} level of the query"
        if keyword != belongs.unique_key:
            return (f"{keyword} is a {belongs} level key: above the {level} level of the "
                    f"query only the unique key {belongs.unique_key} is allowed")
    top = QueryLevel.STUDY if study_root else QueryLevel.PATIENT
    for above in QueryLevel:
        if not top.rank <= above.rank < level.rank:
            continue
        values = keys.get(above.unique_key, ())
        if not values:
            return (f"no {above.unique_key} value: a query at {level} level needs the "
                    f"unique key of the {above} level above it")
        if len(values) > 1 or any(c in values[0] for c in "*?"):
            given = "\\".join(values)
            return (f"{above.unique_key} must be a single value above the {level} level "
                    f"of the query, not {given!r}")
    return ""


def matches(vr: str, query: tuple[str, ...], stored: tuple[str, ...]) -> bool:
    """Return whether `stored` satisfies the request key `query`.

    Parameters
    ----------
    vr : str
        The attribute's value representation; it selects the matching kind.
    query : tuple of str
        The key's values from the request identifier (see
        :func:`value_strings`); empty means universal matching.
    stored : tuple of str
        The entity's values for the attribute; empty when it has none.

    Returns
    -------
    bool
        ``True`` when any query value matches any stored value, or when the
        key asks for universal matching.
    """
    if not query or all(set(item) == {"*"} for item in query):
        return True
    return any(_matches_one(vr, item, value) for item in query for value in stored)


def _matches_one(vr: str, query: str, stored: str) -> bool:
    if vr in _RANGE_VRS:
        return _matches_range(vr, query, stored)
    if vr in _NUMERIC_VRS:
        return _matches_number(query, stored)
    if vr in _WILDCARD_VRS and ("*" in query or "?" in query):
        return _wildcard_pattern(query, vr == "PN").fullmatch(stored) is not None
    if vr == "PN":
        # PS3.4 C.2.2.2.1 lets PN matching ignore case; every PACS a user
        # meets does, and "doe^jane" not finding "DOE^JANE" only confuses.
        return query.casefold() == stored.casefold()
    return query == stored


@lru_cache(maxsize=256)
def _wildcard_pattern(query: str, ignore_case: bool) -> re.Pattern[str]:
    parts = (".*" if char == "*" else "." if char == "?" else re.escape(char) for char in query)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _matches_number(query: str, stored: str) -> bool:
    try:
        return float(query) == float(stored)
    except ValueError:
        return query == stored


def _matches_range(vr: str, query: str, stored: str) -> bool:
    """Match a DA, TM or DT value against a single value or a range.

    Partial bounds are padded so that a bound covers everything it names:
    ``-1200`` includes 12:00:30, ``2024-`` starts at the first instant of
    2024. A DT offset (``+0100``) in the stored value is ignored, because a
    range key carries no offset to compare it with.
    """
    value = _normalise(vr, stored, upper=False)
    if "-" not in query:
        return _normalise(vr, query, upper=False) == value
    lower, _, upper = query.partition("-")
    if lower and value < _normalise(vr, lower, upper=False):
        return False
    return not upper or value <= _normalise(vr, upper, upper=True)


def _normalise(vr: str, value: str, upper: bool) -> str:
    text = value.replace(":", "")
    if vr == "DT":
        text = re.split(r"[+-]", text, maxsplit=1)[0]
    if vr == "DA":
        text = text.replace(".", "")
    whole, _, fraction = text.partition(".")
    filler = "9" if upper else "0"
    whole_width = _RANGE_WIDTH[vr] - (7 if vr in ("TM", "DT") else 0)
    whole = whole.ljust(whole_width, filler)
    if vr == "DA":
        return whole
    return f"{whole}.{fraction.ljust(6, filler)}"
