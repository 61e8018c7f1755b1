"""C-FIND identifier values read from their bytes, as pydicom would read them.

A study-level answer of 10,000 studies has about 150,000 values to show.
pydicom converts each on first access through its general machinery (tag
objects, value validation, character set decoding, ``PersonName`` and
``UID`` objects), and that conversion was the largest single cost of a big
search. Nearly every value is plain printable ASCII, where the character set
changes nothing and the conversion reduces to stripping padding and
splitting at backslashes.

:func:`raw_values` does that for the value representations whose pydicom
conversion is that simple, and returns None for anything else (another
representation, a byte outside printable ASCII, a value already converted,
pydicom's date conversion switched on) so that the caller asks pydicom.
``tests/core/test_identifier_values.py`` compares it with pydicom on
generated values.
"""

from __future__ import annotations

from pydicom import config
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

__all__ = ["raw_integer", "raw_values"]

_ALLOWED = bytes(range(0x20, 0x7F)) + b"\x00"  # printable ASCII, and null padding
# How pydicom strips each representation's values (pydicom.values):
_WHOLE = frozenset(("UI", "CS", "DA", "TM", "DT", "AS"))  # rstrip the whole, then split
_EACH = frozenset(("SH", "LO"))  # split, then rstrip each
_BOTH_SIDES = frozenset(("AE",))  # split, then strip each
_DATES = frozenset(("DA", "TM", "DT"))


def raw_values(ds: Dataset, tag: int) -> list[str] | None:
    """The values of *tag* in *ds* as pydicom's ``str()`` of them, or None to ask pydicom.

    An absent element gives ``[]``; an empty one ``[""]``.
    """
    # ``Dataset._dict`` holds the elements as read: raw until first accessed.
    # (``get_item`` returns the same, after a tag conversion this loop cannot afford.)
    elem = ds._dict.get(tag)
    if elem is None:
        return []
    if elem.__class__ is not RawDataElement or elem.value is None:
        return None
    vr = elem.VR
    if vr is None:
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            return None
    data = elem.value
    if data.translate(None, _ALLOWED):
        return None  # a byte outside printable ASCII: pydicom decodes it
    if vr in _WHOLE:
        if vr in _DATES and config.datetime_conversion:
            return None
        text = data.rstrip(b"\x00 ")
        if b"\x00" in text:
            return None
        values = text.decode("ascii").split("\\")
        return [v.strip() for v in values] if vr == "UI" else values  # UID() strips
    if b"\x00" in data.rstrip(b"\x00 "):
        return None
    if vr in _EACH:
        return [v.rstrip("\x00 ") for v in data.decode("ascii").split("\\")]
    if vr in _BOTH_SIDES:
        return [v.strip() for v in data.decode("ascii").split("\\")]
    if vr == "IS":
        return _integer_strings(data)
    if vr == "PN" and b"=" not in data:
        # One component group: ``str(PersonName)`` is the text itself
        # (ideographic and phonetic groups are pydicom's to join).
        return data.rstrip(b"\x00 ").decode("ascii").split("\\")
    return None


_INTEGER = frozenset(b"0123456789+- \x00")
_DIGITS = frozenset(b"0123456789")


def _integer_strings(data: bytes) -> list[str] | None:
    """``str()`` of pydicom's IS values: each plain integer as written, spaces stripped.

    pydicom keeps an IS value's original text (``007`` and ``+5`` stay as
    they are) and strips the spaces around it; anything but an optional
    sign and digits is left to it, as is an empty value among others.
    """
    if b"\x00" in data:
        return None
    out = []
    for part in data.split(b"\\"):
        text = part.strip(b" ")
        digits = text[1:] if text[:1] in (b"+", b"-") else text
        if not digits or not set(digits) <= _DIGITS:
            return None
        out.append(text.decode("ascii"))
    return out


def raw_integer(ds: Dataset, tag: int) -> int | bool | None:
    """An IS value of *ds* as an int (None: absent, empty or not one integer).

    False when pydicom must read it (already converted, or other characters).
    """
    elem = ds._dict.get(tag)
    if elem is None:
        return None
    if elem.__class__ is not RawDataElement or elem.value is None:
        return False
    data = elem.value
    if not set(data) <= _INTEGER or b"\x00" in data.rstrip(b"\x00 "):
        return False
    try:
        return int(data.rstrip(b"\x00 "))
    except ValueError:
        return None
