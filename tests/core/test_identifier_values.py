"""Identifier values read from their bytes are pydicom's, or left to pydicom."""

from __future__ import annotations

import random
import struct
from io import BytesIO

import pytest
from pydicom import config
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
from pydicom.multival import MultiValue

from qrscope.core.dicom.identifier_values import raw_values

TAGS = {
    "UI": 0x0020000D, "CS": 0x00080060, "DA": 0x00080020, "TM": 0x00080030,
    "AS": 0x00101010, "SH": 0x00080050, "LO": 0x00100020, "AE": 0x00080054,
    "PN": 0x00100010, "IS": 0x00201208, "DS": 0x00101020,
}
ALPHABET = ["A", "z", "1", ".", " ", "\\", "\x00", "^", "=", "-", "\u00e9"]


def _dataset(tag: int, value: bytes, vr: str, implicit: bool) -> Dataset:
    if len(value) % 2:
        value += b" "
    group, element = tag >> 16, tag & 0xFFFF
    if implicit:
        data = struct.pack("<HHL", group, element, len(value)) + value
    else:
        data = struct.pack("<HH2sH", group, element, vr.encode(), len(value)) + value
    return read_dataset(BytesIO(data), implicit, True)


def _pydicom(ds: Dataset, tag: int) -> list[str]:
    value = ds.get(keyword_for_tag(tag))
    if value is None:
        return [""]
    if isinstance(value, MultiValue | list):
        return [str(v) for v in value]
    return [str(value)]


@pytest.mark.parametrize("implicit", [True, False])
@pytest.mark.parametrize("vr", sorted(TAGS))
def test_values_are_pydicoms_or_left_to_it(vr, implicit):
    rng = random.Random(f"{vr}{implicit}")
    tag = TAGS[vr]
    fast = 0
    for _ in range(400):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12)))
        value = text.encode("latin-1")
        ds = _dataset(tag, value, vr, implicit)
        ours = raw_values(ds, tag)
        if ours is None:
            continue
        fast += 1
        theirs = _pydicom(_dataset(tag, value, vr, implicit), tag)
        assert ours == theirs, (vr, value)
    if vr not in ("IS", "DS"):
        assert fast > 50, "plain values take the fast path"


@pytest.mark.parametrize("implicit", [True, False])
def test_integer_strings_are_pydicoms_or_left_to_it(implicit):
    rng = random.Random(f"IS{implicit}")
    tag, fast = TAGS["IS"], 0
    for _ in range(1000):
        text = "".join(rng.choice("0123456789+- \\.\x00") for _ in range(rng.randint(0, 9)))
        value = text.encode("ascii")
        ours = raw_values(_dataset(tag, value, "IS", implicit), tag)
        if ours is None:
            continue
        fast += 1
        assert ours == _pydicom(_dataset(tag, value, "IS", implicit), tag), value
    assert fast > 100, "plain integers take the fast path"


def test_an_absent_element_is_no_value_and_a_converted_one_is_left_to_pydicom():
    ds = _dataset(TAGS["LO"], b"QRS-1", "LO", True)
    assert raw_values(ds, TAGS["PN"]) == []
    assert ds.PatientID == "QRS-1"  # converted now
    assert raw_values(ds, TAGS["LO"]) is None


def test_date_conversion_switched_on_is_left_to_pydicom(monkeypatch):
    monkeypatch.setattr(config, "datetime_conversion", True)
    ds = _dataset(TAGS["DA"], b"20261206", "DA", True)
    assert raw_values(ds, TAGS["DA"]) is None


def test_integers_are_read_as_records_read_them_through_pydicom():
    from qrscope.core.dicom import records
    from qrscope.core.dicom.identifier_values import raw_integer

    rng = random.Random(7)
    tag = TAGS["IS"]
    fast = 0
    for _ in range(1500):
        text = "".join(rng.choice(["1", "0", "9", " ", "+", "-", "\x00", ".", "\\", "e"])
                       for _ in range(rng.randint(0, 6)))
        value = text.encode("ascii")
        ours = raw_integer(_dataset(tag, value, "IS", True), tag)
        if ours is False:
            continue
        fast += 1
        ds = _dataset(tag, value, "IS", True)
        _ = ds[tag].value  # convert it, so that records asks pydicom
        assert raw_integer(ds, tag) is False
        assert ours == records._int(ds, "NumberOfStudyRelatedInstances"), value
    assert fast > 100
    assert raw_integer(Dataset(), tag) is None
