"""The archive index: filled as instances are filed, a cache the files can always rebuild."""

import sqlite3
from io import BytesIO

import pydicom
import pytest
from pydicom.data import get_testdata_file

from qrscope.core.archive.index import (
    INDEX_NAME,
    ArchiveFilter,
    ArchiveIndex,
    ArchiveLevel,
    close_index,
    open_index,
    reconcile,
)
from qrscope.core.archive.index.marks import MARKS_FOLDER
from qrscope.core.receive.storage import InstanceStore
from qrscope.core.retrieve.local import local_counts, local_instance_uids


def _part10(**changes) -> bytes:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    if "SOPInstanceUID" in changes:
        ds.file_meta.MediaStorageSOPInstanceUID = changes["SOPInstanceUID"]
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "storage"
    yield InstanceStore(root)
    close_index(root)


def _fill(store, series=("1.2.3.1", "1.2.3.2"), per_series=3, **common):
    stored = []
    for s, series_uid in enumerate(series):
        for n in range(per_series):
            stored.append(store.store(_part10(
                StudyInstanceUID="1.2.3", SeriesInstanceUID=series_uid,
                SOPInstanceUID=f"{series_uid}.{n}", InstanceNumber=n + 1,
                Modality="CT" if s == 0 else "MR", **common)))
    return stored


def test_every_filed_instance_is_listed_at_once_with_counts_and_bytes(store):
    stored = _fill(store, PatientName="Müller^Jürgen", PatientID="P1", StudyDate="20240102",
                   AccessionNumber="A77")
    index = open_index(store.root)
    [study] = index.select(ArchiveLevel.STUDY)
    assert study["study_uid"] == "1.2.3" and study["patient_name"] == "Müller^Jürgen"
    assert study["instances"] == 6 and study["series"] == 2
    assert study["bytes"] == sum(s.size for s in stored)
    assert study["modalities"] == ["CT", "MR"] and study["accession_number"] == "A77"
    [patient] = index.select(ArchiveLevel.PATIENT)
    assert (patient["patient_id"], patient["studies"], patient["instances"]) == ("P1", 1, 6)
    series = index.select(ArchiveLevel.SERIES)
    assert [(s["series_uid"], s["instances"]) for s in series] == [("1.2.3.1", 3), ("1.2.3.2", 3)]
    assert series[0]["transfer_syntaxes"] == [pydicom.uid.ExplicitVRLittleEndian]
    instances = index.select(ArchiveLevel.INSTANCE, ArchiveFilter(series_uid="1.2.3.2"))
    assert [store.root / i["path"] for i in instances] == [s.path for s in stored[3:]]


def test_a_duplicate_is_one_instance_and_a_conflicting_object_one_more_file(store):
    store.store(_part10())
    store.store(_part10())
    store.store(_part10(StudyDescription="another object, same UID"))
    [study] = open_index(store.root).select(ArchiveLevel.STUDY)
    assert (study["instances"], study["files"]) == (1, 2)


def test_filters_match_as_a_pacs_search_does(store):
    _fill(store, PatientName="SMITH^JOHN", StudyDate="20240102", StudyDescription="CT HEAD")
    index = open_index(store.root)
    assert len(index.select(ArchiveLevel.STUDY, ArchiveFilter(patient_name="smi*"))) == 1
    assert index.select(ArchiveLevel.STUDY, ArchiveFilter(patient_name="JONES*")) == []
    assert len(index.select(ArchiveLevel.STUDY, ArchiveFilter(study_date="20240101-"))) == 1
    assert index.select(ArchiveLevel.STUDY, ArchiveFilter(study_date="-20231231")) == []
    # A study matches by any of its series and is then counted whole.
    [study] = index.select(ArchiveLevel.STUDY, ArchiveFilter(modalities=("MR",)))
    assert study["instances"] == 6
    assert len(index.select(ArchiveLevel.SERIES, ArchiveFilter(modalities=("MR",)))) == 1
    assert len(index.select(ArchiveLevel.STUDY, ArchiveFilter(description="*HEAD"))) == 1
    assert index.select(ArchiveLevel.STUDY, ArchiveFilter(description="HEAD_")) == []


def test_the_local_column_and_what_is_missing_read_the_index(store):
    _fill(store)
    assert local_counts(store.root, ["1.2.3", "9.9"]) == {"1.2.3": 6, "9.9": 0}
    assert local_instance_uids(store.root, "1.2.3") == {f"1.2.3.{s}.{n}" for s in (1, 2)
                                                       for n in range(3)}


@pytest.mark.parametrize("damage", [b"this is not SQLite at all" * 100, "schema"])
def test_a_damaged_index_is_set_aside_and_rebuilt_from_the_files(store, damage):
    _fill(store)
    close_index(store.root)
    db = store.root / INDEX_NAME
    if damage == "schema":
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA user_version=99")
    else:
        db.write_bytes(damage)
    index = open_index(store.root)
    assert local_counts(store.root, ["1.2.3"]) == {"1.2.3": 6}
    assert index.rebuilt
    assert [p.name.startswith(f"{INDEX_NAME}.damaged-") for p in store.root.glob(
        f"{INDEX_NAME}.damaged-*") if not p.name.endswith(("-wal", "-shm"))] == [True]


def test_a_deleted_index_is_rebuilt_from_the_files(store):
    _fill(store)
    close_index(store.root)
    (store.root / INDEX_NAME).unlink()
    assert local_counts(store.root, ["1.2.3"]) == {"1.2.3": 6}


def test_check_finds_what_was_added_changed_or_removed_by_hand_and_repair_heals(store, tmp_path):
    stored = _fill(store)
    index = open_index(store.root)
    stored[0].path.unlink()
    stored[1].path.write_bytes(_part10(StudyInstanceUID="1.2.3", SeriesInstanceUID="1.2.3.1",
                                       SOPInstanceUID="1.2.3.1.1", PatientName="CHANGED"))
    by_hand = store.root / "P" / "hand" / "x.dcm"
    by_hand.parent.mkdir(parents=True)
    by_hand.write_bytes(_part10(StudyInstanceUID="1.2.4", SOPInstanceUID="1.2.4.1"))
    (store.root / "notes.txt").write_text("not DICOM")
    report = reconcile(index, repair=False)
    assert report.removed == [index.name_for(stored[0].path)]
    assert report.changed == [index.name_for(stored[1].path)]
    assert report.added == ["P/hand/x.dcm"]
    assert [p for p, _ in report.not_dicom] == ["notes.txt"]
    assert local_counts(store.root, ["1.2.3", "1.2.4"]) == {"1.2.3": 6, "1.2.4": 0}
    reconcile(index, repair=True)
    assert local_counts(store.root, ["1.2.3", "1.2.4"]) == {"1.2.3": 5, "1.2.4": 1}
    assert reconcile(index, repair=False).clean


def test_an_instance_whose_index_write_fails_is_still_stored_and_healed_next_start(
        store, monkeypatch):
    _fill(store, per_series=1)
    assert local_counts(store.root, ["1.2.3"]) == {"1.2.3": 2}

    def broken(self, rows):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(ArchiveIndex, "add", broken)
    late = store.store(_part10(StudyInstanceUID="1.2.3", SeriesInstanceUID="1.2.3.9",
                               SOPInstanceUID="1.2.3.9.1"))
    assert late.path.exists()
    assert local_counts(store.root, ["1.2.3"]) == {"1.2.3": 2}  # its batch failed: not yet
    monkeypatch.undo()
    close_index(store.root)  # this process ends: its mark stays, unclean
    assert list((store.root / MARKS_FOLDER).iterdir())
    assert local_counts(store.root, ["1.2.3"]) == {"1.2.3": 3}  # the next start heals
    assert not list((store.root / MARKS_FOLDER).iterdir())


def test_a_clean_end_leaves_no_mark_and_the_next_start_does_not_walk_the_folder(store):
    _fill(store, per_series=1)
    close_index(store.root)
    assert not list((store.root / MARKS_FOLDER).iterdir())
    (store.root / "added-by-hand.dcm").write_bytes(
        _part10(StudyInstanceUID="1.2.3", SOPInstanceUID="1.2.3.77"))
    assert local_counts(store.root, ["1.2.3"]) == {"1.2.3": 2}  # only a check finds it
    reconcile(open_index(store.root), repair=True)
    assert local_counts(store.root, ["1.2.3"]) == {"1.2.3": 3}


def test_the_listener_heals_the_index_as_it_starts_not_on_the_first_instance(store,
                                                                            monkeypatch):
    """Files copied in by hand are indexed before anything is received: the walk of the
    folder does not fall on the first C-STORE's response time."""
    from tests.demo_site import free_port

    import qrscope.core.receive.listener as listener_module
    from qrscope.core.net.association_log import AssociationLog
    from qrscope.core.profiles import LocalAE

    _fill(store)
    close_index(store.root)
    (store.root / INDEX_NAME).unlink()
    opened = []
    real = listener_module.open_in_background
    monkeypatch.setattr(listener_module, "open_in_background",
                        lambda root: opened.append(real(root)) or opened[-1])
    listener = listener_module.StorageListener(
        LocalAE(ae_title="QRSCOPE", listener_port=free_port(), bind_address="127.0.0.1",
                storage_folder=store.root), AssociationLog(), store)
    listener.start()
    try:
        [thread] = opened
        thread.join(30)
        with sqlite3.connect(store.root / INDEX_NAME) as db:
            assert db.execute("SELECT COUNT(*) FROM instances").fetchone() == (6,)
    finally:
        listener.stop()
