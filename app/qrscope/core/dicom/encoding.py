"""Hand-written DICOM encoding for the few byte strings every instance costs.

Each received instance makes pydicom build and encode three small data sets
(the file meta header, the C-STORE response's command set twice, once for
its group length) and parse the data set again for the five keys that name
its folders. pydicom does that element by element through its general
machinery (tag objects, value validation, charset handling), and on a
study of a thousand small images those few small data sets took more CPU
than filing the images did.

The functions here produce the same bytes, and read the same keys, for the
simple cases that make up nearly all traffic, and say ``None`` for anything
else so that the caller falls back to pydicom: the fast path never decides
a case pydicom would have decided differently. ``tests/core/
test_dicom_bytes.py`` holds them to pydicom's output byte for byte.

One exception: the reader refuses (:class:`HostileDataSet`) what pydicom
would read at any cost, sequences nested past :data:`MAX_DEPTH` and
deflated data sets that inflate without bound; it inflates a deflated data
set a piece at a time, only as far as its keys (docs/RELIABILITY.md,
"Hostile data sets").
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydicom.multival import MultiValue

from qrscope.core.dicom.uids import is_valid_uid

__all__ = ["FileMeta", "HostileDataSet", "ScannedInstance", "check_inflation",
           "command_set_bytes", "command_set_values", "deflated_head", "deflated_start",
           "file_meta", "file_meta_bytes", "instance_keys", "read_plain_dataset",
           "scan_instance", "store_request_bytes", "store_response_bytes"]

_PREAMBLE = b"\x00" * 128 + b"DICM"
_LONG_VRS = frozenset((b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC",
                       b"UN", b"UR", b"UT", b"UV"))
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_PIXEL_DATA = 0x7FE00010

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED_DATA_SET = "1.2.840.10008.1.2.1.99"
DEFLATED = (DEFLATED_DATA_SET, "1.2.840.10008.1.2.8.1")

# Limits on what a received data set may make us do (docs/RELIABILITY.md, "Hostile
# data sets"). Real objects nest sequences 10 to 20 deep (an SR's content tree, an RT
# plan's beams and control points); pydicom's recursive reader exhausts Python's
# recursion limit between 180 and 200 levels, and a hostile one nests 10,000 deep.
MAX_DEPTH = 64
# The folder keys lie in groups 0008 to 0020, a few KiB into any real data set.
INFLATED_HEAD_LIMIT = 1 << 20
# A deflated data set may inflate to INFLATION_RATIO times its size, and to
# INFLATION_FLOOR whatever its size: deflate reaches 1032:1 on zeros, and a blank
# image compresses 500:1, but a blank image is small (512 x 512 x 16 bits is 512 KiB);
# real data sets large enough to pass the floor (structured reports, waveforms,
# images with noise) compress 2:1 to 10:1.
INFLATION_FLOOR = 64 << 20
INFLATION_RATIO = 100
_INFLATE_PIECE = 64 << 10  # inflated at a time
_DEFLATED_FEED = 64 << 10  # deflated bytes given to zlib at a time

# The keys that name an instance's folders: tag -> keyword, in tag order.
KEY_TAGS = {
    0x00080016: "SOPClassUID",
    0x00080018: "SOPInstanceUID",
    0x00100020: "PatientID",
    0x0020000D: "StudyInstanceUID",
    0x0020000E: "SeriesInstanceUID",
}
_LAST_KEY = max(KEY_TAGS)


# -- writing --------------------------------------------------------------------------
def _ascii(value: Any) -> bytes | None:
    """*value* as ASCII text bytes, or None where pydicom's rules would matter."""
    if not isinstance(value, str):
        return None
    try:
        data = value.encode("ascii")
    except UnicodeEncodeError:
        return None
    return data if b"\\" not in data else None


def _explicit(tag: int, vr: bytes, value: bytes) -> bytes:
    group, element = tag >> 16, tag & 0xFFFF
    if vr in _LONG_VRS:
        return struct.pack("<HH2sHL", group, element, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", group, element, vr, len(value)) + value


def file_meta_bytes(sop_class_uid: Any, sop_instance_uid: Any, transfer_syntax: Any,
                    implementation_uid: Any, implementation_version: Any,
                    preamble: bool = True) -> bytes | None:
    """The preamble, ``DICM`` and the file meta group pydicom writes for these values.

    As ``pynetdicom.dsutils.create_file_meta`` followed by pydicom's
    ``write_file_meta_info(enforce_standard=True)``, the preamble only with
    *preamble*. None when a value is empty or not plain ASCII (pydicom then
    decides).
    """
    values = [_ascii(v) for v in (sop_class_uid, sop_instance_uid, transfer_syntax,
                                  implementation_uid)]
    version = _ascii(implementation_version)
    if any(not v for v in values) or not version or len(version) > 16:
        return None
    sop_class, sop_instance, syntax, implementation = (
        v + b"\x00" if len(v) % 2 else v for v in values)  # type: ignore[operator]
    elements = b"".join((
        _explicit(0x00020001, b"OB", b"\x00\x01"),
        _explicit(0x00020002, b"UI", sop_class),
        _explicit(0x00020003, b"UI", sop_instance),
        _explicit(0x00020010, b"UI", syntax),
        _explicit(0x00020012, b"UI", implementation),
        _explicit(0x00020013, b"SH", version + b" " if len(version) % 2 else version),
    ))
    return (_PREAMBLE if preamble else b"") + \
        _explicit(0x00020000, b"UL", struct.pack("<L", len(elements))) + elements


_NUMBERS = {"US": "<H", "SS": "<h", "UL": "<L", "SL": "<l"}
_TEXT_PAD = {"UI": b"\x00", "AE": b" ", "SH": b" ", "LO": b" ", "CS": b" ", "ST": b" ",
             "LT": b" "}


def command_set_bytes(elements: Iterable[Any]) -> bytes | None:
    """A command set in implicit VR little endian, as pydicom's ``write_dataset`` writes it.

    *elements* are pydicom data elements in tag order (iterating a Dataset).
    None for anything but the plain values command sets hold (group 0000,
    text or integer VRs), so the caller uses pydicom.
    """
    out = []
    for elem in elements:
        tag = int(elem.tag)
        if tag >> 16 != 0:
            return None
        vr, value = elem.VR, elem.value
        if value is None or value == "":
            data = b""
        elif vr in _NUMBERS:
            values = value if isinstance(value, list | tuple | MultiValue) else [value]
            if not all(type(v) is int for v in values):
                return None
            try:
                data = struct.pack("<" + _NUMBERS[vr][1] * len(values), *values)
            except struct.error:
                return None
        elif vr in _TEXT_PAD:
            text = _ascii(value)
            if text is None:
                return None
            data = text + _TEXT_PAD[vr] if len(text) % 2 else text
        else:
            return None
        out.append(struct.pack("<HHL", 0, tag & 0xFFFF, len(data)) + data)
    return b"".join(out)


# -- reading --------------------------------------------------------------------------
# The command elements whose decoding is plain: tag -> VR (PS3.7 E.1).
_COMMAND_VRS = {
    0x0000: "UL", 0x0002: "UI", 0x0003: "UI", 0x0100: "US", 0x0110: "US", 0x0120: "US",
    0x0600: "AE", 0x0700: "US", 0x0800: "US", 0x0900: "US", 0x0903: "US", 0x1000: "UI",
    0x1001: "UI", 0x1002: "US", 0x1008: "US", 0x1020: "US", 0x1021: "US", 0x1022: "US",
    0x1023: "US", 0x1030: "AE", 0x1031: "US",
}
_TEXT = frozenset(range(0x20, 0x7F)) - {0x5C}


def store_response_bytes(sop_class_uid: str, message_id: int, status: int,
                         sop_instance_uid: str) -> bytes | None:
    """A C-STORE-RSP command set with no comment, as pynetdicom encodes it.

    Implicit VR little endian, the group length first, then (0000,0002),
    (0000,0100), (0000,0120), (0000,0800), (0000,0900) and (0000,1000): the
    elements of pynetdicom's ``C_STORE_RSP`` that ``Association`` sets for
    a status without an error comment. None for a UID that is not plain
    ASCII (pynetdicom then encodes it).
    """
    if not 0 <= message_id <= 0xFFFF or not 0 <= status <= 0xFFFF:
        return None
    return _store_command(sop_class_uid, sop_instance_uid, (
        (0x0100, b"\x01\x80"),  # C-STORE-RSP
        (0x0120, struct.pack("<H", message_id)),
        (0x0800, b"\x01\x01"),  # no data set
        (0x0900, struct.pack("<H", status)),
    ))


def store_request_bytes(sop_class_uid: str, message_id: int, sop_instance_uid: str,
                        priority: int = 2) -> bytes | None:
    """A C-STORE-RQ command set with a data set and no move originator, as pynetdicom
    encodes it (PS3.7 9.3.1.1).

    Implicit VR little endian, the group length first, then (0000,0002),
    (0000,0100), (0000,0110), (0000,0700), (0000,0800) and (0000,1000).
    None for a UID that is not plain ASCII (pynetdicom then encodes it).
    """
    if not 0 <= message_id <= 0xFFFF or priority not in (0, 1, 2):
        return None
    return _store_command(sop_class_uid, sop_instance_uid, (
        (0x0100, b"\x01\x00"),  # C-STORE-RQ
        (0x0110, struct.pack("<H", message_id)),
        (0x0700, struct.pack("<H", priority)),
        (0x0800, b"\x01\x00"),  # a data set follows (any value but 0x0101)
    ))


def _store_command(sop_class_uid: str, sop_instance_uid: str,
                   fields: tuple[tuple[int, bytes], ...]) -> bytes | None:
    """A C-STORE command set: (0000,0002), *fields* in tag order, (0000,1000), after its
    group length; None for a UID that is not plain ASCII (pynetdicom then encodes it)."""
    uids = [_ascii(sop_class_uid), _ascii(sop_instance_uid)]
    if any(not uid for uid in uids):
        return None
    sop_class, sop_instance = (
        uid + b"\x00" if len(uid) % 2 else uid for uid in uids)  # type: ignore[operator]
    body = b"".join((_implicit(0x0002, sop_class),
                     *(_implicit(tag, value) for tag, value in fields),
                     _implicit(0x1000, sop_instance)))
    return _implicit(0x0000, struct.pack("<L", len(body))) + body


@dataclass(frozen=True)
class FileMeta:
    """What a sender needs of a Part 10 file's meta group (PS3.10 7.1)."""

    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str
    data_set_offset: int
    """Where the data set starts, after the meta group."""


def file_meta(head: bytes | memoryview) -> FileMeta | None:
    """The meta group of a Part 10 file whose first bytes are *head* (enough to hold
    the group), or None where pydicom should read it: no preamble and ``DICM``,
    a group that runs past *head*, a value that is not plain ASCII, or a UID missing."""
    view = memoryview(head)
    if bytes(view[128:132]) != b"DICM":
        return None
    values: dict[int, str] = {}
    offset, end = 132, len(view)
    try:
        for element, value, after in _meta_elements(view, 132):
            offset = after
            if element in (0x0002, 0x0003, 0x0010):
                text = _ascii(bytes(value).rstrip(b"\x00 ").decode("latin-1"))
                if not text:
                    return None
                values[element] = text.decode("ascii")
    except _Irregular:
        return None
    if offset + 8 > end or len(values) != 3:
        return None  # the group may go on past what was read
    return FileMeta(values[0x0002], values[0x0003], values[0x0010], offset)


def _implicit(element: int, value: bytes) -> bytes:
    """A group 0000 element in implicit VR little endian."""
    return struct.pack("<HHL", 0, element, len(value)) + value


def command_set_values(data: bytes) -> list[tuple[int, str, int | str]] | None:
    """``(tag, VR, value)`` of an implicit VR little endian command set, as pydicom reads them.

    None for anything but single, non-empty values of the plain command
    elements (numbers, UIDs, AE titles) in ascending order; pydicom then decodes.
    """
    out: list[tuple[int, str, int | str]] = []
    offset, end, last = 0, len(data), -1
    while offset < end:
        if offset + 8 > end:
            return None
        group, element, length = struct.unpack_from("<HHL", data, offset)
        offset += 8
        vr = _COMMAND_VRS.get(element)
        if group != 0 or vr is None or element <= last or not length \
                or offset + length > end:
            return None
        last = element
        value = data[offset:offset + length]
        offset += length
        if vr == "US":
            if length != 2:
                return None
            out.append((element, vr, value[0] | value[1] << 8))
        elif vr == "UL":
            if length != 4:
                return None
            out.append((element, vr, struct.unpack("<L", value)[0]))
        else:
            text = value.rstrip(b"\x00 ") if vr == "UI" else value
            if not set(text) <= _TEXT:
                return None
            out.append((element, vr, text.decode("ascii").strip()))
    return out


class _Irregular(Exception):
    """Something only pydicom should judge."""


class HostileDataSet(ValueError):
    """A data set qrscope refuses to read: it would cost unbounded memory or stack.

    The message is the plain reason, for the log and the C-STORE response.
    """


@dataclass(frozen=True)
class ScannedInstance:
    """What one pass of the scanner read of a Part 10 byte string.

    ``keys`` are the five folder keys (as :func:`instance_keys`);
    ``elements`` the raw top-level elements asked for, tag -> (VR as
    written, ``b""`` in implicit VR; value bytes), for a reader that decodes
    them itself (the archive index, which would otherwise read the file
    again with pydicom).
    """

    keys: dict[str, str]
    transfer_syntax: str
    little_endian: bool
    elements: dict[int, tuple[bytes, bytes]]


def instance_keys(data: bytes | memoryview) -> dict[str, str] | None:
    """The five folder keys of a Part 10 byte string, or None where pydicom must read it.

    Walks the top-level elements to the pixel data (or the end), as pydicom
    does with ``stop_before_pixels``, so that a truncated or inconsistent
    data set still goes to pydicom, which decides whether it can be parsed.
    Values are returned as pydicom gives them (trailing padding removed);
    anything but plain ASCII in a key, unknown encodings, and irregular
    structure give None. A deflated data set is read from
    :func:`deflated_head`, never inflated whole.

    Raises
    ------
    HostileDataSet
        Sequences nest deeper than :data:`MAX_DEPTH`, or a deflated data
        set is not valid deflate data or has its keys beyond
        :data:`INFLATED_HEAD_LIMIT`.
    """
    scanned = scan_instance(data)
    return None if scanned is None else scanned.keys


def scan_instance(data: bytes | memoryview, wanted: Collection[int] = ()) -> \
        ScannedInstance | None:
    """:func:`instance_keys` and, in the same pass, the top-level elements *wanted*.

    The elements are kept raw, for the caller to decode with the data set's
    character set. None (and HostileDataSet) exactly as :func:`instance_keys`.
    """
    view = memoryview(data)
    collect = frozenset(KEY_TAGS).union(wanted)
    try:
        if bytes(view[128:132]) != b"DICM":
            return None
        offset, syntax = _read_meta(view, 132)
        stored_syntax = syntax
        if syntax == DEFLATED_DATA_SET:
            # PS3.5 A.5: explicit VR little endian, deflated after the file meta.
            head = deflated_head(view[offset:], max(collect))
            view, offset, syntax = memoryview(head), 0, EXPLICIT_LE
        elif syntax in DEFLATED:
            return None
        implicit, little = syntax == IMPLICIT_LE, syntax != EXPLICIT_BE
        if not syntax.startswith("1.2.840.10008.1.2"):
            return None  # a private syntax: its encoding is not known here
        found: dict[int, tuple[bytes, bytes]] = {}
        _walk(view, offset, len(view), implicit, little, found, collect=collect)
    except (_Irregular, struct.error, UnicodeDecodeError):
        return None
    keys = {}
    for tag, keyword in KEY_TAGS.items():
        raw = found.get(tag, (b"", b""))[1].rstrip(b"\x00 ")
        if tag == 0x00100020:
            if not set(raw) <= _TEXT:
                return None
        elif raw and not is_valid_uid(raw.decode("latin-1"), strict=False):
            return None  # pydicom decides what such a value is
        keys[keyword] = raw.decode("ascii")
    return ScannedInstance(keys, stored_syntax, little, found)


def _read_meta(view: memoryview, offset: int) -> tuple[int, str]:
    """The offset after the file meta group, and its transfer syntax."""
    syntax = None
    for element, value, after in _meta_elements(view, offset):
        offset = after
        if element == 0x0010:
            syntax = bytes(value).rstrip(b"\x00 ").decode("ascii")
    if not syntax:
        raise _Irregular
    return offset, syntax


def _meta_elements(view: memoryview, offset: int) -> Iterator[tuple[int, memoryview, int]]:
    """``(element, value, offset after it)`` of the group 2 elements from *offset*
    (explicit VR little endian, PS3.10 7.1), up to the first element of another group
    or the end of *view*; raises :class:`_Irregular` for an undefined length or a
    value past the end."""
    end = len(view)
    while offset + 8 <= end:
        group, element = struct.unpack_from("<HH", view, offset)
        if group != 2:
            return
        if bytes(view[offset + 4:offset + 6]) in _LONG_VRS:
            if offset + 12 > end:
                raise _Irregular
            (length,) = struct.unpack_from("<L", view, offset + 8)
            start = offset + 12
        else:
            (length,) = struct.unpack_from("<H", view, offset + 6)
            start = offset + 8
        if length == _UNDEFINED or start + length > end:
            raise _Irregular
        offset = start + length
        yield element, view[start:offset], offset


def _walk(view: memoryview, offset: int, end: int, implicit: bool, little: bool,
          found: dict[int, tuple[bytes, bytes]] | None, in_item: bool = False,
          depth: int = 0, stop_after: int = 0xFFFFFFFF,
          collect: Collection[int] = KEY_TAGS) -> int:
    """Step over the elements from *offset* to *end* or an item delimiter; return the offset.

    At the top level (*found* given) it keeps the elements of *collect* in
    *found* and stops before the pixel data or the first element past
    *stop_after*. *depth* is how many sequences enclose the elements; it
    recurses once per level, so never beyond MAX_DEPTH.
    """
    head = "<HHL" if little else ">HHL"
    short = "<HH2sH" if little else ">HH2sH"
    long_length = "<L" if little else ">L"
    last = -1
    while offset < end:
        if offset + 8 > end:
            raise _Irregular
        group, element, length = struct.unpack_from(head, view, offset)
        tag = group << 16 | element
        if tag == _ITEM_END and in_item:
            return offset + 8
        if tag <= last or group == 0xFFFE:
            raise _Irregular  # out of order, or a stray delimiter
        last = tag
        if found is not None and tag > stop_after:
            return offset
        if found is not None and tag == _PIXEL_DATA:
            if offset + (8 if implicit else 12) > end:
                raise _Irregular  # pydicom reads the header before it stops
            return offset
        if implicit:
            start, vr = offset + 8, b""
        else:
            _, _, vr, length = struct.unpack_from(short, view, offset)
            if vr in _LONG_VRS:
                (length,) = struct.unpack_from(long_length, view, offset + 8)
                start = offset + 12
            else:
                start = offset + 8
                if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
                    raise _Irregular
        if length == _UNDEFINED:
            if vr not in (b"", b"SQ"):
                raise _Irregular
            offset = _skip_sequence(view, start, end, implicit, little, depth + 1)
            continue
        if start + length > end:
            raise _Irregular
        if found is not None and tag in collect:
            found[tag] = (vr, bytes(view[start:start + length]))
        offset = start + length
    if in_item:
        raise _Irregular
    return offset


def _skip_sequence(view: memoryview, offset: int, end: int, implicit: bool,
                   little: bool, depth: int) -> int:
    """Step over the items of an undefined-length sequence; return the offset after it.

    *depth* counts this sequence: one past MAX_DEPTH is refused.
    """
    if depth > MAX_DEPTH:
        raise HostileDataSet(f"data set nests sequences more than {MAX_DEPTH} deep")
    head = "<HHL" if little else ">HHL"
    while offset + 8 <= end:
        group, element, length = struct.unpack_from(head, view, offset)
        tag = group << 16 | element
        offset += 8
        if tag == _SEQUENCE_END:
            return offset
        if tag != _ITEM:
            raise _Irregular
        if length == _UNDEFINED:
            offset = _walk(view, offset, end, implicit, little, None, True, depth)
        elif offset + length > end:
            raise _Irregular
        else:
            offset += length
    raise _Irregular


# -- deflated data sets (PS3.5 A.5) -------------------------------------------------------
def deflated_start(data: bytes | memoryview) -> int | None:
    """Where the deflated data set of a Part 10 byte string starts; None if it is not one."""
    view = memoryview(data)
    try:
        if bytes(view[128:132]) != b"DICM":
            return None
        offset, syntax = _read_meta(view, 132)
    except (_Irregular, struct.error, UnicodeDecodeError):
        return None
    return offset if syntax == DEFLATED_DATA_SET else None


def check_inflation(chunks: Iterable[bytes | memoryview], size: int) -> None:
    """Inflate a whole deflated data set of *size* bytes, keeping none of it.

    Raises HostileDataSet once it passes max(INFLATION_FLOOR,
    INFLATION_RATIO x *size*), or when it is not valid deflate data; so
    whatever is stored can be read by anyone who inflates it. Memory: one
    piece of 64 KiB; time: at most the limit's worth of inflating (about
    0.2 s for 64 MiB).
    """
    limit = max(INFLATION_FLOOR, INFLATION_RATIO * size)
    inflated = 0
    for piece in _inflate(chunks):
        inflated += len(piece)
        if inflated > limit:
            raise HostileDataSet(
                f"deflated data set would inflate to more than {limit >> 20} MiB "
                f"(ratio over {inflated // max(size, 1)}:1 for {size / (1 << 20):.1f} MiB; "
                f"the limit is {INFLATION_RATIO}:1, at least {INFLATION_FLOOR >> 20} MiB)")


def deflated_head(stream: bytes | memoryview, last: int = _LAST_KEY) -> bytes:
    """The inflated start of a deflated data set, up to the first element past *last*.

    Inflated a piece at a time, and only as far as the keys (or the tag
    *last*): the pixel data (and anything else after it) stays deflated. The whole data set
    when it ends before; irregular structure, which pydicom then judges,
    makes it read on to its end or :data:`INFLATED_HEAD_LIMIT`.

    Raises HostileDataSet when the keys are not within INFLATED_HEAD_LIMIT
    inflated bytes or the stream is not valid deflate data.
    """
    pieces = _inflate([stream])
    head = bytearray()
    want = _INFLATE_PIECE
    while True:
        ended = True
        for piece in pieces:
            head += piece
            if len(head) >= want:
                ended = False
                break
        data = bytes(head)
        if ended:
            return data
        try:
            end = _walk(memoryview(data), 0, len(data), False, True, {}, stop_after=last)
        except (_Irregular, struct.error):
            end = len(data)  # cut inside an element, or irregular: read on
        if end < len(data):
            return data[:end]
        if len(head) >= INFLATED_HEAD_LIMIT:
            raise HostileDataSet(f"the keys of this deflated data set are not within its "
                                 f"first {INFLATED_HEAD_LIMIT >> 20} MiB")
        want = min(2 * want, INFLATED_HEAD_LIMIT)


def _inflate(chunks: Iterable[bytes | memoryview]) -> Iterator[bytes]:
    """The raw deflate stream of *chunks* inflated, at most 64 KiB at a time.

    zlib keeps what a call could not inflate in ``unconsumed_tail``, as a
    copy: the input goes in 64 KiB at a time so that copy stays small.
    Raises HostileDataSet when the stream is not valid deflate data or ends
    early; bytes after its end (PS3.5 A.5 pads to an even length) are ignored.
    """
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        for chunk in chunks:
            view = memoryview(chunk)
            for start in range(0, len(view), _DEFLATED_FEED):
                data: bytes | memoryview = view[start:start + _DEFLATED_FEED]
                while not inflater.eof:
                    piece = inflater.decompress(data, _INFLATE_PIECE)
                    data = inflater.unconsumed_tail
                    if piece:
                        yield piece
                    if not data and len(piece) < _INFLATE_PIECE:
                        break  # this input is used up and its output drained
                if inflater.eof:
                    return
    except zlib.error as exc:
        raise HostileDataSet(f"deflated data set is not valid deflate data ({exc})") from exc
    raise HostileDataSet("deflated data set is not valid deflate data (it ends early)")


# -- reading a whole data set ------------------------------------------------------------
def read_plain_dataset(data: bytes, is_implicit_vr: bool, is_little_endian: bool) -> Any:
    """pydicom's ``read_dataset`` of *data*, for little endian data sets of defined lengths.

    The same raw elements (tag, VR, length, value, offset) in a Dataset with
    the same original encoding, read without pydicom's file-like reads and
    per-element generator: a 10,000-study search decodes 10,000
    identifiers. None for anything else (big endian, an undefined length, a
    VR pydicom would have to guess, an encoding other than the one
    announced, data that ends inside an element), so that pydicom reads it,
    with its warnings.
    """
    from pydicom.charset import convert_encodings, default_encoding
    from pydicom.dataelem import RawDataElement, convert_raw_data_element, empty_value_for_VR
    from pydicom.dataset import Dataset
    from pydicom.tag import BaseTag

    if not is_little_endian:
        return None
    end = len(data)
    if end >= 6:
        first = data[4], data[5]
        if (not (0x40 < first[0] < 0x5B and 0x40 < first[1] < 0x5B)) != is_implicit_vr:
            return None  # pydicom warns and reads it the other way
    elements: dict[Any, Any] = {}
    offset = 0
    while offset < end:
        if offset + 8 > end:
            return None
        if is_implicit_vr:
            group, element, length = struct.unpack_from("<HHL", data, offset)
            vr: str | None = None
            offset += 8
        else:
            group, element, raw_vr, length = struct.unpack_from("<HH2sH", data, offset)
            offset += 8
            if raw_vr not in _READ_VRS:
                return None
            vr = raw_vr.decode("ascii")
            if raw_vr in _LONG_VRS:
                if offset + 4 > end:
                    return None
                (length,) = struct.unpack_from("<L", data, offset)
                offset += 4
        tag = group << 16 | element
        if length == _UNDEFINED or tag == _ITEM_END or offset + length > end:
            return None
        value = data[offset:offset + length] if length else empty_value_for_VR(vr, raw=True)
        key = BaseTag(tag)
        # RawDataElement(key, vr, length, value, offset, is_implicit_vr, True), without
        # the keyword handling of the named tuple's constructor (is_raw, not is_buffered).
        elements[key] = tuple.__new__(RawDataElement, (key, vr, length, value, offset,
                                                       is_implicit_vr, True, True, False))
        offset += length
    ds = Dataset(elements, parent_encoding=default_encoding)
    charset = elements.get(0x00080005)
    if charset is None:
        encoding: Any = default_encoding
    else:
        known = _ENCODINGS.get((charset.VR, charset.value))
        if known is None:
            known = convert_encodings(convert_raw_data_element(charset).value)
            if len(_ENCODINGS) < 64:
                _ENCODINGS[(charset.VR, charset.value)] = known
        encoding = list(known) if isinstance(known, list) else known
    ds.set_original_encoding(is_implicit_vr, True, encoding)
    return ds


# Specific Character Set values seen (a search has one or two): the encodings they name.
_ENCODINGS: dict[tuple[Any, Any], Any] = {}


_READ_VRS = frozenset(vr.encode("ascii") for vr in (
    "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD", "OF",
    "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN",
    "UR", "US", "UT", "UV"))
