"""``qrscope archive``: the clinical set imported, listed, checked and deleted."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest

from qrscope.cli.main import main
from qrscope.core.archive.index import close_index
from qrscope.demo_pacs.clinical import build_clinical_studies


def _json(capsys):
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def clinical(tmp_path):
    files = build_clinical_studies(tmp_path / "cd")
    (tmp_path / "cd" / "README.txt").write_text("not an image")
    return tmp_path / "cd", files


@pytest.fixture
def storage(tmp_path):
    yield tmp_path / "archive"
    close_index(tmp_path / "archive")


def _expected_studies(files: list[Path]) -> dict[str, tuple[str, int, int]]:
    """study UID -> (patient name, instances, bytes), from the files themselves."""
    found: dict[str, tuple[str, int, int]] = {}
    for path in files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        name, count, size = found.get(ds.StudyInstanceUID, (str(ds.PatientName), 0, 0))
        found[ds.StudyInstanceUID] = (name, count + 1, size + path.stat().st_size)
    return found


def test_the_clinical_set_imports_with_its_counts_and_names_and_a_text_file_is_reported(
        clinical, storage, capsys):
    folder, files = clinical
    assert main(["archive", "import", str(folder), "--storage", str(storage), "--json"]) == 0
    result = _json(capsys)
    assert result["counts"] == {"imported": len(files), "not DICOM": 1}
    [text] = [r for r in result["results"] if r["outcome"] == "not DICOM"]
    assert text["path"].endswith("README.txt") and "not a DICOM Part 10 file" in text["reason"]
    assert main(["archive", "list", "--storage", str(storage), "--json"]) == 0
    listed = {r["study_uid"]: (r["patient_name"], r["instances"], r["bytes"])
              for r in _json(capsys)["results"]}
    assert listed == _expected_studies(files)
    names = {name for name, _, _ in listed.values()}
    assert {"Wang^XiaoDong=王^小東", "Иванова^Мария", "Buc^Jérôme"} <= names
    # Imported again: every file is already present, nothing is written twice.
    assert main(["archive", "import", str(folder), "--storage", str(storage), "--json"]) == 0
    assert _json(capsys)["counts"] == {"already present": len(files), "not DICOM": 1}
    assert len(list(storage.rglob("*.dcm"))) == len(files)


def test_a_dicomdir_imports_the_files_it_lists(tmp_path, storage, capsys):
    from pydicom.fileset import FileSet

    files = build_clinical_studies(tmp_path / "src")[:3]
    fileset = FileSet()
    for path in files:
        fileset.add(pydicom.dcmread(path))
    fileset.write(tmp_path / "cd")
    assert main(["archive", "import", str(tmp_path / "cd" / "DICOMDIR"), "--storage",
                 str(storage), "--json"]) == 0
    assert _json(capsys)["counts"] == {"imported": 3}


def test_in_place_indexes_without_copying_and_delete_keeps_those_files(clinical, storage,
                                                                       capsys):
    folder, files = clinical
    assert main(["archive", "import", str(folder), "--in-place", "--storage", str(storage),
                 "--json"]) == 0
    assert _json(capsys)["counts"]["imported"] == len(files)
    assert not list(storage.rglob("*.dcm"))
    assert main(["archive", "list", "--level", "instance", "--storage", str(storage),
                 "--json"]) == 0
    paths = {r["path"] for r in _json(capsys)["results"]}
    assert paths == {str(p.absolute()) for p in files}
    assert main(["archive", "delete", "--patient-id", "QRS-2001", "--yes", "--storage",
                 str(storage), "--json"]) == 0
    report = _json(capsys)
    assert report["files_removed"] == 0 and report["kept_outside"]
    assert all(p.exists() for p in files)
    assert main(["archive", "list", "--patient-id", "QRS-2001", "--storage", str(storage),
                 "--json"]) == 0
    assert _json(capsys)["count"] == 0


def test_delete_asks_first_then_removes_files_rows_and_empty_folders(clinical, storage,
                                                                     capsys, monkeypatch):
    folder, _ = clinical
    main(["archive", "import", str(folder), "--storage", str(storage)])
    capsys.readouterr()
    main(["archive", "list", "--patient-id", "QRS-2002", "--storage", str(storage), "--json"])
    # QRS-2002 holds the ECG study and the RT syntaxes study (the clinical set on main).
    [ecg] = [r for r in _json(capsys)["results"] if "ECG" in r["modalities"]]
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert main(["archive", "delete", "--study", ecg["study_uid"], "--storage",
                 str(storage)]) == 130
    assert (storage / "QRS-2002" / ecg["study_uid"]).is_dir()
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert main(["archive", "delete", "--study", ecg["study_uid"], "--storage",
                 str(storage)]) == 0
    assert not (storage / "QRS-2002" / ecg["study_uid"]).exists()
    assert (storage / "QRS-2002").is_dir()  # its other study stays
    capsys.readouterr()
    main(["archive", "list", "--storage", str(storage), "--json"])
    assert ecg["study_uid"] not in {r["study_uid"] for r in _json(capsys)["results"]}


def test_delete_without_a_terminal_needs_yes(clinical, storage, capsys, monkeypatch):
    folder, _ = clinical
    main(["archive", "import", str(folder), "--storage", str(storage)])
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["archive", "delete", "--patient-id", "QRS-2002", "--storage",
                 str(storage)]) == 2
    assert "confirm with --yes" in capsys.readouterr().err
    assert (storage / "QRS-2002").is_dir()


def test_check_reports_what_changed_by_hand_and_repair_heals_it(clinical, storage, capsys):
    folder, files = clinical
    main(["archive", "import", str(folder), "--storage", str(storage)])
    capsys.readouterr()
    gone = next(storage.rglob("*.dcm"))
    gone.unlink()
    assert main(["archive", "check", "--storage", str(storage), "--json"]) == 4
    assert _json(capsys)["removed"] == [gone.relative_to(storage).as_posix()]
    assert main(["archive", "check", "--repair", "--storage", str(storage), "--json"]) == 0
    assert _json(capsys)["files"] == len(files) - 1
    assert main(["archive", "check", "--storage", str(storage), "--json"]) == 0
    assert _json(capsys)["clean"]


def test_a_malformed_date_is_a_usage_error(storage, capsys):
    storage.mkdir()
    assert main(["archive", "list", "--date", "2024", "--storage", str(storage)]) == 2
    assert "study date" in capsys.readouterr().err
