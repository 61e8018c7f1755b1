"""``qrscope archive send`` against real Storage SCPs: Orthanc and DCMTK ``storescp``.

The clinical set (RT, SR, ECG, PDF, a private class, Big Endian, four
character sets, RLE and JPEG) is imported into an archive and sent, study
by study, as a user would from the command line. Orthanc must then hold
every instance byte for byte (its ``/instances/{id}/file``); a ``storescp``
that takes only uncompressed syntaxes gets the compressed instances
converted (identical pixel values) or, where no installed decoder reads
them, a per-instance failure that says why. The refusals a real archive
gives get their hints with the real AE titles, address and port.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import UID
from pynetdicom.sop_class import EncapsulatedPDFStorage

from qrscope.cli.main import main
from qrscope.core.archive.importer import ImportMode, import_paths
from qrscope.core.archive.index import ArchiveLevel, close_index, open_index
from qrscope.demo_pacs.clinical import build_clinical_studies

from .conftest import require
from .peers import WORKSTATION_AE_TITLE, find_binary, find_dcmtk_tool, pixel_readings
from .send_targets import UNCOMPRESSED, StoreTarget, empty_orthanc, running_storescp

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("send-archive")
    files = build_clinical_studies(folder / "clinical")
    storage = folder / "archive"
    results = import_paths(files, storage, ImportMode.COPY)
    assert all(r.outcome != "failed" for r in results), results
    yield storage
    close_index(storage)


def _instances(storage: Path) -> list[dict]:
    return list(open_index(storage).select(ArchiveLevel.INSTANCE))


def _studies(storage: Path) -> list[str]:
    return [r["study_uid"] for r in open_index(storage).select(ArchiveLevel.STUDY)]


def _send(storage: Path, target: StoreTarget, *selection: str, called: str = "",
          calling: str = WORKSTATION_AE_TITLE, extra: tuple[str, ...] = ()) -> tuple[int, dict]:
    out = io.StringIO()
    args = ["archive", "send", *selection, "--host", target.host, "--port", str(target.port),
            "--called-aet", called or target.ae_title, "--aet", calling,
            "--storage", str(storage), "--json", *extra]
    with redirect_stdout(out):
        code = main(args)
    return code, json.loads(out.getvalue())


def _data_set(raw: bytes) -> bytes:
    """A Part 10 file's data set bytes: what follows its File Meta Information, whose
    length its first element, (0002,0000) UL, gives (PS3.10 7.1)."""
    assert raw[128:132] == b"DICM" and raw[132:136] == b"\x02\x00\x00\x00"
    return raw[144 + int.from_bytes(raw[140:144], "little"):]


def _as_dcmtk_writes(raw: bytes) -> tuple[bytes, int]:
    """The data set re-encoded as Orthanc's writer (DCMTK's) stores it, and how many
    changes that took: every sequence and item of explicit length, encapsulated
    Pixel Data as OB (PS3.5 A.4; an old file of the clinical set says OW)."""
    ds = pydicom.dcmread(io.BytesIO(raw))
    changed = 0
    pixels = ds["PixelData"] if "PixelData" in ds else None  # noqa: SIM401 - the element
    if pixels is not None and pixels.is_undefined_length and pixels.VR != "OB":
        pixels.VR = "OB"
        changed += 1
    for element in ds.iterall():
        if element.VR == "SQ":
            changed += bool(element.is_undefined_length)
            element.is_undefined_length = False
            for item in element.value:
                changed += bool(item.is_undefined_length_sequence_item)
                item.is_undefined_length_sequence_item = False
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return _data_set(out.getvalue()), changed


def _same_data_set(held: bytes, stored: bytes) -> bool:
    """Byte for byte; where the file has what DCMTK writes otherwise (sequences of
    undefined length, PS3.5 7.5; encapsulated OW), byte for byte once both sides
    are written that way (docs/PACS-BEHAVIOUR.md, "Orthanc and DCMTK as C-STORE SCPs")."""
    if _data_set(held) == _data_set(stored):
        return True
    ours, changed = _as_dcmtk_writes(held)
    return changed > 0 and ours == _as_dcmtk_writes(stored)[0]


@pytest.mark.parametrize("parallel", [1, 2])
def test_every_study_reaches_orthanc_byte_for_byte_and_the_log_names_the_contexts(
        archive: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str],
        parallel: int) -> None:
    require(find_binary("Orthanc"), "Orthanc not installed (apt-get install orthanc)")
    rows = _instances(archive)
    with empty_orthanc(tmp_path / "orthanc") as orthanc:
        results: dict[str, dict] = {}
        for study in _studies(archive):
            code, outcome = _send(archive, orthanc, "--study", study,
                                  extra=("-vv", "--max-parallel", str(parallel)))
            assert code == 0 and outcome["status"] == "success", outcome
            assert outcome["converted"] == 0, outcome
            assert 1 <= outcome["associations"] <= parallel, outcome
            assert len(outcome["instances"]) == len(
                {i["sop_instance_uid"] for i in outcome["instances"]})
            results.update({i["sop_instance_uid"]: i for i in outcome["instances"]})
        assert set(results) == {r["sop_instance_uid"] for r in rows}
        assert orthanc.instance_count() == len(rows)
        for row in rows:
            held = open_index(archive).path_of(row["path"]).read_bytes()
            stored = orthanc.stored_file(row["sop_instance_uid"])
            assert _same_data_set(held, stored), row["sop_instance_uid"]
            assert results[row["sop_instance_uid"]]["transfer_syntax"] == row["transfer_syntax"]
    log = capfd.readouterr().err
    # -vv: the association log names the contexts proposed and which were accepted,
    # among them one in each syntax the archive holds (every file went as held).
    for syntax in {r["transfer_syntax"] for r in rows}:
        assert f"): accepted, {UID(syntax).name}" in log, syntax


def _pixels_kept(source: Path, received: Path) -> bool:
    """The converted copy holds the source's pixel values (either reading of
    :func:`~tests.interop.peers.pixel_readings`), or, without pixels, its elements."""
    held = pydicom.dcmread(source)
    got = pydicom.dcmread(received)
    if "PixelData" not in held:
        return all(got.get(e.tag) == e for e in held)
    return any(np.array_equal(reading, got.pixel_array) for reading in pixel_readings(held, got))


def test_to_an_uncompressed_only_storescp_each_compressed_instance_is_converted_or_says_why(
        archive: Path, tmp_path: Path) -> None:
    require(find_dcmtk_tool("storescp"), "DCMTK not installed (apt-get install dcmtk)")
    rows = _instances(archive)
    accepts = {c: UNCOMPRESSED for c in dict.fromkeys(r["sop_class_uid"] for r in rows)}
    with running_storescp(tmp_path / "storescp", accepts) as scp:
        results: dict[str, dict] = {}
        for study in _studies(archive):
            _code, outcome = _send(archive, scp, "--study", study)
            results.update({i["sop_instance_uid"]: i for i in outcome["instances"]})
        # One C-STORE per instance that went out (those with the peer's status).
        assert scp.stores() == sum(1 for r in results.values() if r["status"] is not None)
    assert any(r["note"] for r in results.values()), "nothing was converted"
    index = open_index(archive)
    for row in rows:
        uid, held = row["sop_instance_uid"], UID(row["transfer_syntax"])
        result = results[uid]
        source = index.path_of(row["path"])
        if held in UNCOMPRESSED:
            assert result["state"] == "stored" and not result["note"], result
            assert (_data_set(source.read_bytes())
                    == _data_set(scp.received_file(uid).read_bytes())), uid
        elif result["state"] == "stored":
            # Said per instance, and the peer holds the same pixel values.
            assert result["note"] == (f"sent as {UID(result['transfer_syntax']).name}: the peer "
                                      f"accepted no {held.name} context"), result
            assert _pixels_kept(source, scp.received_file(uid)), uid
        else:
            # No installed decoder for it: the reason says so; nothing went out.
            assert result["state"] == "failed" and held.name in result["reason"], result
            assert "decoder" in result["reason"], result


def test_a_class_the_peer_does_not_take_gets_the_class_hint_naming_it(
        archive: Path, tmp_path: Path) -> None:
    require(find_dcmtk_tool("storescp"), "DCMTK not installed (apt-get install dcmtk)")
    rows = _instances(archive)
    pdf = next(r for r in rows if r["sop_class_uid"] == EncapsulatedPDFStorage)
    study_classes = {r["sop_class_uid"] for r in rows if r["study_uid"] == pdf["study_uid"]}
    accepts = {c: UNCOMPRESSED for c in study_classes - {EncapsulatedPDFStorage}}
    with running_storescp(tmp_path / "storescp", accepts) as scp:
        code, outcome = _send(archive, scp, "--study", pdf["study_uid"])
        assert scp.stores() == len(study_classes) - 1 == outcome["stored"]
    assert code == 1 and outcome["status"] == "partial", outcome
    assert outcome["refused_classes"] == [EncapsulatedPDFStorage]
    (failed,) = [i for i in outcome["instances"] if i["state"] == "failed"]
    assert failed["sop_instance_uid"] == pdf["sop_instance_uid"]
    assert "Encapsulated PDF Storage" in failed["reason"]
    (hint,) = outcome["hint_details"]
    assert hint["id"] == "send-class-not-accepted"
    assert "Encapsulated PDF Storage" in hint["summary"]
    assert f"'STORESCP' at 127.0.0.1:{scp.port}" in hint["summary"]


def test_a_wrong_called_ae_at_orthanc_gets_the_refusal_hint_with_the_real_values(
        archive: Path, tmp_path: Path) -> None:
    require(find_binary("Orthanc"), "Orthanc not installed (apt-get install orthanc)")
    with empty_orthanc(tmp_path / "orthanc") as orthanc:
        code, outcome = _send(archive, orthanc, "--study", _studies(archive)[0],
                              called="ORTHANX")
        assert orthanc.instance_count() == 0
    assert code == 3 and outcome["status"] == "failed" and not outcome["instances"]
    (hint,) = outcome["hint_details"]
    assert hint["id"] == "association-rejected-called-aet"
    assert "'ORTHANX'" in hint["title"]
    assert hint["summary"].startswith(f"127.0.0.1:{orthanc.port} rejected the association")
    assert hint["evidence"]["called_ae"] == "ORTHANX", hint["evidence"]
    assert hint["evidence"]["calling_ae"] == WORKSTATION_AE_TITLE, hint["evidence"]


def test_orthanc_that_does_not_know_us_gets_the_unknown_calling_ae_hint(
        archive: Path, tmp_path: Path) -> None:
    require(find_binary("Orthanc"), "Orthanc not installed (apt-get install orthanc)")
    with empty_orthanc(tmp_path / "orthanc", known=("MODALITY",),
                       always_allow_store=False) as orthanc:
        code, outcome = _send(archive, orthanc, "--study", _studies(archive)[0],
                              calling="STRANGER")
        assert orthanc.instance_count() == 0
    assert code == 3 and not outcome["instances"], outcome
    (hint,) = outcome["hint_details"]
    assert hint["id"] == "association-rejected-calling-aet", hint
    assert "'STRANGER'" in hint["title"]


def test_orthanc_that_echoes_for_anyone_but_stores_for_known_callers_aborts_and_is_told(
        archive: Path, tmp_path: Path) -> None:
    # Measured with Orthanc 1.10.1: DicomAlwaysAllowEcho on lets the association
    # through; the first C-STORE from an unknown caller is answered with A-ABORT.
    require(find_binary("Orthanc"), "Orthanc not installed (apt-get install orthanc)")
    with empty_orthanc(tmp_path / "orthanc", known=("MODALITY",), always_allow_store=False,
                       always_allow_echo=True) as orthanc:
        code, outcome = _send(archive, orthanc, "--study", _studies(archive)[0],
                              calling="STRANGER")
        assert orthanc.instance_count() == 0
    assert code == 4 and outcome["status"] == "failed" and outcome["stored"] == 0, outcome
    assert outcome["error"] and outcome["error"]["reason"] == "association-aborted", outcome
    hint = outcome["hint_details"][0]
    assert hint["id"] == "association-aborted"
    assert "do not know the calling AE title 'STRANGER'" in hint["summary"]
