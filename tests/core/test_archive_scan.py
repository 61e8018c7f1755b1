"""The index row of a received instance comes from the storage's one scan, as pydicom's would.

Filing scans each data set once for its folder keys; that scan also keeps
the attributes the index lists (``scan_instance(data, INDEX_TAGS)``), and
:func:`row_from_scan` decodes them. Every row it makes must equal what
``describe`` (pydicom reading the stored file) makes, for the clinical set,
the demo samples and pydicom's character set files; where the scan or the
decoding declines, the row is pydicom's.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_charset_files, get_testdata_file
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from qrscope.core.archive import index as archive_index
from qrscope.core.archive.index import INDEX_TAGS, close_index, describe, open_index
from qrscope.core.archive.index.scanned import row_from_scan
from qrscope.core.dicom.encoding import scan_instance
from qrscope.core.receive.storage import InstanceStore
from qrscope.demo_pacs.clinical import build_clinical_studies

CHARSET_FILES = ("chrArab", "chrFren", "chrFrenMulti", "chrGerm", "chrGreek", "chrH31",
                 "chrH32", "chrHbrw", "chrI2", "chrJapMulti", "chrJapMultiExplicitIR6",
                 "chrKoreanMulti", "chrRuss", "chrX1", "chrX2")


def _scanned_row(path: Path):
    data = path.read_bytes()
    scanned = scan_instance(data, INDEX_TAGS)
    if scanned is None:
        return None
    stat = path.stat()
    return row_from_scan(scanned, "name", stat.st_size, stat.st_mtime_ns)


def _assert_same_rows(paths: list[Path], min_scanned: int) -> None:
    scanned = 0
    for path in paths:
        row = _scanned_row(path)
        if row is not None:
            scanned += 1
            assert row == describe(path, "name"), path
    assert scanned >= min_scanned  # the scan did the work, not only the fallback


@pytest.fixture(scope="module")
def clinical(tmp_path_factory) -> list[Path]:
    return build_clinical_studies(tmp_path_factory.mktemp("clinical"))


def test_the_scan_gives_pydicoms_row_for_every_file_of_the_clinical_set(clinical):
    _assert_same_rows(clinical, min_scanned=len(clinical) - 2)


def test_the_scan_gives_pydicoms_row_for_every_demo_sample(sample_folder):
    samples = sorted(p for p in sample_folder.rglob("*.dcm"))
    _assert_same_rows(samples, min_scanned=len(samples))


@pytest.fixture(scope="module")
def charsets(tmp_path_factory) -> list[Path]:
    """pydicom's character set files as Part 10 files, their text values as they came."""
    folder = tmp_path_factory.mktemp("charsets")
    paths = []
    for name in CHARSET_FILES:
        [source] = get_charset_files(f"{name}.dcm")
        ds = pydicom.dcmread(source, force=True)
        ds.StudyInstanceUID = ds.get("StudyInstanceUID") or "1.2.3"
        ds.SeriesInstanceUID = ds.get("SeriesInstanceUID") or "1.2.3.4"
        ds.SOPInstanceUID = ds.get("SOPInstanceUID") or "1.2.3.4.5"
        ds.SOPClassUID = ds.get("SOPClassUID") or "1.2.840.10008.5.1.4.1.1.7"
        path = folder / f"{name}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def test_names_in_every_character_set_are_decoded_as_pydicom_decodes_them(charsets):
    _assert_same_rows(charsets, min_scanned=len(charsets))
    names = {describe(p, "n").patient_name for p in charsets}
    assert "Yamada^Tarou=山田^太郎=やまだ^たろう" in names  # ISO 2022 IR 87
    assert "Buc^Jérôme" in names  # ISO_IR 100


def _part10(raw: dict[int, tuple[str, bytes]], explicit: bool = True) -> bytes:
    """CT_small with some elements replaced by raw bytes, as a sender might send them."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for tag, (vr, value) in raw.items():
        ds[tag] = RawDataElement(Tag(tag), vr, len(value), value, 0, not explicit, True)
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


ODD_VALUES = {
    "leading and trailing spaces": {0x00100010: ("PN", b"  Doe^John  ")},
    "several values": {0x00081030: ("LO", b"CHEST\\ABDOMEN "), 0x00080060: ("CS", b"CT\\PT")},
    "trailing NUL": {0x00080050: ("SH", b"ACC1\x00")},
    "a signed number": {0x00200013: ("IS", b"+7")},
    "frames with spaces": {0x00280008: ("IS", b" 12 ")},
    "frames of zero": {0x00280008: ("IS", b"0 ")},
    "component groups": {0x00100010: ("PN", b"Doe^John=Ideographic")},
    "Latin-1 without a character set": {0x00100010: ("PN", b"M\xfcller^J")},
    "UTF-8": {0x00080005: ("CS", b"ISO_IR 192"), 0x00100010: ("PN", "Müller^Jürgen".encode())},
    "an empty name": {0x00100010: ("PN", b"")},
}


@pytest.mark.parametrize("values", ODD_VALUES.values(), ids=ODD_VALUES.keys())
def test_odd_values_give_pydicoms_row(values, tmp_path):
    path = tmp_path / "odd.dcm"
    path.write_bytes(_part10(values))
    row = _scanned_row(path)
    assert row is not None and row == describe(path, "name")


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "storage"
    yield InstanceStore(root)
    close_index(root)


def test_filing_never_reads_the_stored_file_again(store, clinical, monkeypatch):
    def no_second_read(path, *args, **kwargs):
        raise AssertionError(f"{path} read again")

    index = open_index(store.root)  # a new index is filled from the folder first
    monkeypatch.setattr(pydicom, "dcmread", no_second_read)
    scannable = [p for p in clinical if _scanned_row(p) is not None]
    for path in scannable:
        store.store(path.read_bytes())
    monkeypatch.undo()
    assert len(index.files()) == len(scannable)
    for row in index.select(archive_index.ArchiveLevel.INSTANCE):
        stored = index.path_of(row["path"])
        expected = describe(stored, "x")
        assert (row["patient_name"], row["frames"], row["transfer_syntax"], row["bytes"]) == (
            expected.patient_name, expected.frames, expected.transfer_syntax, expected.size)


DECLINED = {
    # Elements out of order: only pydicom judges the data set.
    "scanner declines": lambda: _swap_first_elements(_part10({})),
    # A name labelled with another VR: the scan gives the keys, pydicom the row.
    "decoding declines": lambda: _part10({0x00100010: ("LO", b"Doe^Jane")}),
}


def _swap_first_elements(data: bytes) -> bytes:
    """CT_small with (0008,0005) moved behind (0008,0008): out of ascending order."""
    ds = pydicom.dcmread(BytesIO(data))
    head = data.index(b"\x08\x00\x05\x00CS")
    charset_length = 8 + int.from_bytes(data[head + 6:head + 8], "little")
    second = head + charset_length
    second_length = 8 + int.from_bytes(data[second + 6:second + 8], "little")
    assert data[second:second + 4] == b"\x08\x00\x08\x00", ds.SpecificCharacterSet
    return (data[:head] + data[second:second + second_length] + data[head:second]
            + data[second + second_length:])


@pytest.mark.parametrize("make", DECLINED.values(), ids=DECLINED.keys())
def test_what_the_scan_declines_is_indexed_from_pydicoms_reading(store, make):
    data = make()
    scanned = scan_instance(data, INDEX_TAGS)
    assert scanned is None or row_from_scan(scanned, "x", 0, 0) is None
    stored = store.store(data)
    [row] = open_index(store.root).select(archive_index.ArchiveLevel.INSTANCE)
    expected = describe(stored.path, "x")
    assert (row["sop_instance_uid"], row["patient_name"], row["study_uid"]) == (
        expected.sop_instance_uid, expected.patient_name, expected.study_uid)
