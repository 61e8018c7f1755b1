"""Received files: safe paths, atomic writes, no silent overwrite, quarantine, full disk."""

from io import BytesIO

import pydicom
import pytest
from pydicom.data import get_testdata_file

from qrscope.core.receive.storage import (
    QUARANTINE,
    InstanceStore,
    StorageError,
    UnparseableInstance,
    is_valid_uid,
    sanitise_component,
)


def _part10(**changes) -> bytes:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    if "SOPInstanceUID" in changes:
        ds.file_meta.MediaStorageSOPInstanceUID = changes["SOPInstanceUID"]
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_instance_is_filed_by_patient_study_series_and_uid(tmp_path):
    data = _part10()
    stored = InstanceStore(tmp_path).store(data)
    ds = pydicom.dcmread(stored.path)
    assert stored.path == (tmp_path / ds.PatientID / ds.StudyInstanceUID /
                           ds.SeriesInstanceUID / f"{ds.SOPInstanceUID}.dcm")
    assert stored.path.read_bytes() == data
    assert ds.file_meta.TransferSyntaxUID
    assert not list(stored.path.parent.glob(".incoming-*"))  # no temporary left behind


def test_same_instance_twice_is_not_stored_twice(tmp_path):
    store = InstanceStore(tmp_path)
    first = store.store(_part10())
    second = store.store(_part10())
    assert second.duplicate and second.path == first.path
    assert len(list(tmp_path.rglob("*.dcm"))) == 1


def test_different_object_with_same_uid_is_kept_beside_never_over(tmp_path):
    store = InstanceStore(tmp_path)
    first = store.store(_part10())
    original = first.path.read_bytes()
    other = store.store(_part10(StudyDescription="a different object"))
    assert other.conflict and other.path != first.path
    assert first.path.read_bytes() == original
    assert other.path.parent == first.path.parent


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_hostile_values_never_escape_the_storage_folder(tmp_path):
    root = tmp_path / "store"
    data = _part10(PatientID="../../etc", StudyInstanceUID="../../../tmp/x",
                   SeriesInstanceUID="1.2.3")
    stored = InstanceStore(root).store(data)
    assert root in stored.path.parents
    assert stored.path.relative_to(root).parts[0] == "etc"
    assert stored.path.parts[-3].startswith("invalid-uid-")
    with pytest.raises(UnparseableInstance, match="no valid SOP Instance UID") as info:
        InstanceStore(root).store(_part10(SOPInstanceUID="1.2.3.4/../../evil"))
    assert info.value.quarantined.parent == root / QUARANTINE
    assert not list(tmp_path.rglob("evil*"))


@pytest.mark.parametrize(("value", "ok"), [("1.2.840.10008.1.1", True), ("1.02.3", False),
                                           ("1.2.", False), ("", False), ("1" * 65, False)])
def test_uid_rule(value, ok):
    assert is_valid_uid(value) is ok


def test_sanitised_components_are_safe_names():
    assert sanitise_component("") == "UNKNOWN"
    assert sanitise_component("..") == "UNKNOWN"
    assert sanitise_component("CON") == "_CON"
    assert sanitise_component("Müller/ID 7") == "M_ller_ID_7"


@pytest.mark.filterwarnings("ignore:End of file reached")
def test_unparseable_data_is_quarantined_not_lost(tmp_path):
    garbage = b"\x00" * 128 + b"DICM" + b"\xff" * 40
    with pytest.raises(UnparseableInstance) as info:
        InstanceStore(tmp_path).store(garbage)
    assert info.value.quarantined is not None
    assert info.value.quarantined.parent == tmp_path / QUARANTINE
    assert info.value.quarantined.read_bytes() == garbage


def test_full_disk_gives_a_clear_error_and_leaves_no_partial_file(tiny_disk):
    store = InstanceStore(tiny_disk)
    big = _part10(PixelData=b"\x00" * 400_000)
    with pytest.raises(StorageError, match="disk is full"):
        store.store(big)
    # Nothing but the archive index's writer mark, taken before the file is placed.
    assert not [p for p in tiny_disk.rglob("*") if p.is_file()
                and not p.relative_to(tiny_disk).parts[0].startswith(".qrscope-index")]
    store.store(_part10())  # a small one still fits afterwards


def test_local_counts_are_every_stored_instance_of_each_study_asked_for(tmp_path):
    store = InstanceStore(tmp_path)
    layout = {  # (patient, study, series): files
        ("P1", "1.2.1", "1.2.1.1"): ["a.dcm", "b.dcm", "b~0123456789ab.dcm", ".incoming-x.part"],
        ("P1", "1.2.1", "1.2.1.2"): ["c.dcm"],
        ("P2", "1.2.1", "1.2.1.3"): ["d.dcm"],  # the same study filed under another patient
        ("P2", "1.2.2", "1.2.2.1"): ["e.dcm", "notes.txt"],
        ("P3", "1.2.3", "1.2.3.1"): ["f.dcm"],  # not asked for
    }
    for (patient, study, series), names in layout.items():
        folder = tmp_path / patient / study / series
        folder.mkdir(parents=True)
        for name in names:
            (folder / name).write_bytes(b"x")
    (tmp_path / ".incoming").mkdir()
    (tmp_path / "stray.dcm").write_bytes(b"x")
    asked = ["1.2.1", "1.2.2", "1.2.9", "1.2.1"]
    counts = store.count_local(asked)
    # b~hash is another object under b's UID, kept beside it: one instance, not two.
    assert counts == {"1.2.1": 4, "1.2.2": 1, "1.2.9": 0}
    # As many as a glob of every patient finds, less the objects kept beside another.
    assert counts == {uid: sum(1 for p in tmp_path.glob(f"*/{uid}/*/*.dcm") if "~" not in p.name)
                      for uid in asked}
