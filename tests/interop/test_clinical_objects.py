"""Clinical objects retrieved from real Orthanc and strict DCMTK dcmqrscp.

The clinical set (``demo_pacs.clinical``) holds what a hospital archive holds
besides images: RT Structure Set, Plan and Dose with their CT, a planning
system's private SOP class, Enhanced SR, Encapsulated PDF, a 12-lead ECG
alone in its study, a retired ultrasound class, Big Endian MR, RT Plans and
Doses each in Implicit VR, Big Endian, Explicit VR and (the dose) RLE
Lossless, an ultrasound cine loop in JPEG Baseline with its Segmentation in
RLE Lossless, and patient names in four character sets. Every study must
arrive whole, by C-MOVE and by C-GET, from both servers, each instance as
the server was given it: the
same compressed pixel data bytes in the same syntax, and otherwise the same
data set bytes or, where the data set was re-encoded on the way (sequence
lengths, Implicit VR or Big Endian converted to Explicit VR Little Endian),
the same element values and pixel values.

dcmqrscp runs with ``--check-find`` and ``--check-move``; it cannot hold
private SOP classes, so its RT study has 5 instances, not 7
(``peers.known_to_dcmtk``); and it holds one syntax group of a class, so
its RT Dose in RLE Lossless is left out (``peers.one_syntax_per_sop_class``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.receive.listener import StorageListener
from qrscope.core.retrieve import RetrieveJob
from qrscope.core.retrieve.types import RetrieveOutcome, RetrieveScope
from qrscope.demo_pacs.clinical import PRIVATE_SOP_CLASS_UID, build_clinical_studies
from qrscope.demo_pacs.samples import sample_uid

from . import peers
from .conftest import require
from .peers import (
    PeerServer,
    StoredInstance,
    assert_missing_for_want_of_role,
    roleless_by_get_here,
)

RT_STUDY = sample_uid("clinical-rt-prostate")
ECG_STUDY = sample_uid("clinical-ecg")
RT_SYNTAXES_STUDY = sample_uid("clinical-rt-syntaxes")
_RT_DOSE = "1.2.840.10008.5.1.4.1.1.481.2"
CLINICAL_STUDIES = {
    "rt": ("clinical-rt-prostate", "QRS-2001"),
    "reports": ("clinical-reports", "QRS-2001"),
    "ecg": ("clinical-ecg", "QRS-2002"),
    "us-retired": ("clinical-us-legacy", "QRS-2003"),
    "mr-big-endian": ("clinical-mr-outside", "QRS-2004"),
    "rt-syntaxes": ("clinical-rt-syntaxes", "QRS-2002"),
    "echo-seg": ("clinical-echo", "QRS-2004"),
}


def _node(server: PeerServer) -> RemoteNode:
    return RemoteNode(
        name=server.kind, ae_title=server.ae_title, host=server.host, port=server.port
    )


def _local(server: PeerServer, folder: Path) -> LocalAE:
    return LocalAE(
        ae_title="QRSCOPE",
        listener_port=server.peer_listener_port,
        bind_address="127.0.0.1",
        storage_folder=folder,
    )


def _retrieve(server: PeerServer, folder: Path, study_uid: str, patient_id: str,
              method: RetrieveMethod, log: AssociationLog | None = None) -> RetrieveOutcome:
    log = log if log is not None else AssociationLog()
    local = _local(server, folder)
    scope = RetrieveScope.study(study_uid, patient_id=patient_id)
    if method is RetrieveMethod.GET:
        return RetrieveJob(_node(server), local, log, scope, method=method).run()
    with StorageListener(local, log) as listener:
        return RetrieveJob(_node(server), local, log, scope, method=method,
                           listener=listener).run()


def _report(outcome: RetrieveOutcome, server: PeerServer) -> str:
    return f"{json.dumps(outcome.to_dict(), indent=1)}\n--- {server.log_path}"


def _data_set_bytes(path: Path) -> bytes | None:
    """The file's bytes after its File Meta Information, or None when the meta
    has no group length to find where it ends (PS3.10 7.1)."""
    raw = path.read_bytes()
    if raw[128:132] != b"DICM" or raw[132:136] != b"\x02\x00\x00\x00":
        return None
    group_length = int.from_bytes(raw[140:144], "little")
    return raw[144 + group_length:]


def _pixels(ds: Dataset) -> np.ndarray:
    return ds.pixel_array


# Data Set Trailing Padding carries nothing and may be dropped in transit
# (PS3.10 7.2); DCMTK's storescu drops CT_small.dcm's.
_TRAILING_PADDING = 0xFFFCFFFC


def _assert_same_values(got: Dataset, source: Dataset, where: str) -> None:
    """Every element of ``source`` is in ``got`` with the same value, and no other.

    Compressed pixel data was compared byte for byte already (and may need a
    decoder this machine lacks); native pixel data is compared as values."""
    assert set(got.keys()) - {_TRAILING_PADDING} == set(source.keys()) - {_TRAILING_PADDING}, where
    for element in source:
        if element.tag == _TRAILING_PADDING:
            continue
        if element.tag == 0x7FE00010 and source.file_meta.TransferSyntaxUID.is_compressed:
            continue
        if element.tag == 0x7FE00010:
            assert any(np.array_equal(_pixels(got), pixels)
                       for pixels in peers.pixel_readings(source, got)), f"{where}: pixel values"
            continue
        other = got[element.tag]
        if element.VR in ("OB", "OW", "UN", "OF", "OD", "OL", "OV") and isinstance(
            element.value, bytes
        ):
            # Byte order of OW and friends follows the syntax; the values must agree.
            dtype = {"OW": "u2", "OF": "f4", "OD": "f8", "OL": "u4", "OV": "u8"}.get(
                element.VR, "u1")
            mine = np.frombuffer(element.value, (">" if not source.is_little_endian
                                                 else "<") + dtype)
            theirs = np.frombuffer(other.value, ("<" if got.is_little_endian else ">") + dtype)
            assert np.array_equal(mine, theirs), f"{where}: {element.tag}"
            continue
        assert other.value == element.value, f"{where}: {element.tag} {element.keyword}"


def _assert_arrived_as_stored(outcome: RetrieveOutcome, expected: list[StoredInstance],
                              server: PeerServer, left_out: set[str] = frozenset()) -> None:
    report = _report(outcome, server)
    expected = [i for i in expected if i.sop_instance_uid not in left_out]
    received = {str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID): Path(path)
                for path in outcome.files}
    wanted = {i.sop_instance_uid: i for i in expected}
    assert sorted(received) == sorted(wanted), report
    for uid, path in received.items():
        source_path = wanted[uid].path
        got, source = pydicom.dcmread(path), pydicom.dcmread(source_path)
        where = f"{source_path.relative_to(source_path.parents[3])} from {server.kind}"
        stored_as = source.file_meta.TransferSyntaxUID
        if stored_as.is_compressed:
            assert got.file_meta.TransferSyntaxUID == stored_as, f"{where}: transcoded"
            assert got.PixelData == source.PixelData, f"{where}: pixel data bytes"
        if _data_set_bytes(path) != _data_set_bytes(source_path):
            # Re-encoded on the way (storescu and both servers rewrite sequence
            # lengths; dcmqrscp converts Implicit VR and Big Endian to Explicit
            # VR Little Endian): the values must not change.
            _assert_same_values(got, source, where)
    if not left_out:
        assert outcome.status == "success", report
        assert outcome.missing == [], report


def test_rt_study_arrives_whole_by_c_get_from_orthanc(orthanc: PeerServer, tmp_path: Path):
    """The RT study holds CT, RTSTRUCT, RTPLAN, RTDOSE and 2 instances of a
    private SOP class; none may be left behind for want of a context."""
    expected = orthanc.study(RT_STUDY)
    assert len(expected) == 7
    assert PRIVATE_SOP_CLASS_UID in {i.sop_class_uid for i in expected}

    log = AssociationLog()
    outcome = _retrieve(orthanc, tmp_path, RT_STUDY, "QRS-2001", RetrieveMethod.GET, log)

    roleless = roleless_by_get_here(orthanc, expected)
    assert len(outcome.stored) == 7 - len(roleless), _report(outcome, orthanc)
    if roleless:
        assert_missing_for_want_of_role(outcome, roleless)
    _assert_arrived_as_stored(outcome, expected, orthanc, roleless)
    # Orthanc names every class of the study, the private one included, in
    # SOPClassesInStudy: one study-level C-FIND was all the C-GET needed (a
    # short C-GET lists the instances to name what is missing).
    assert _finds(log) == 1 or roleless, _report(outcome, orthanc)


@pytest.fixture(scope="module")
def orthanc_as_stored(tmp_path_factory: pytest.TempPathFactory,
                      move_destinations: tuple[peers.MoveDestination, ...],
                      ) -> Iterator[PeerServer]:
    """Orthanc holding the clinical set with ``TranscodeDicomProtocol`` off: like an
    archive that does not convert, it sends a file by C-GET only on a context of
    the syntax it holds it in (issue 21: Orthanc 1.10, "No presentation context")."""
    require(peers.find_binary("Orthanc"), "Orthanc not installed (apt-get install orthanc)")
    require(peers.find_dcmtk_tool("storescu"), "DCMTK not installed (apt-get install dcmtk)")
    folder = tmp_path_factory.mktemp("orthanc-as-stored")
    files = build_clinical_studies(folder / "clinical")
    with peers.running_orthanc(folder, files, move_destinations, transcode=False) as server:
        yield server


def test_rt_doses_in_every_syntax_arrive_by_c_get_from_an_orthanc_that_does_not_convert(
        orthanc_as_stored: PeerServer, tmp_path: Path):
    """Issue 21: RT Plans and Doses stored in Implicit VR, Big Endian, Explicit VR
    Little Endian and (the doses' pixel data) RLE Lossless all come by C-GET from
    an archive that sends each only as stored, each in the syntax it was stored in."""
    server = orthanc_as_stored
    expected = server.study(RT_SYNTAXES_STUDY)
    assert len(expected) == 7
    doses = {UID(i.transfer_syntax_uid) for i in expected if i.sop_class_uid == _RT_DOSE}
    assert doses == {ImplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian,
                     RLELossless}

    outcome = _retrieve(server, tmp_path, RT_SYNTAXES_STUDY, "QRS-2002", RetrieveMethod.GET)

    _assert_arrived_as_stored(outcome, expected, server)
    for path in outcome.files:
        got = pydicom.dcmread(path, stop_before_pixels=True)
        source = next(i for i in expected if i.sop_instance_uid == got.SOPInstanceUID)
        assert got.file_meta.TransferSyntaxUID == source.transfer_syntax_uid, path


@pytest.mark.parametrize("study", sorted(CLINICAL_STUDIES))
def test_clinical_study_arrives_whole_by_c_get_from_an_orthanc_that_does_not_convert(
        orthanc_as_stored: PeerServer, tmp_path: Path, study: str):
    key, patient_id = CLINICAL_STUDIES[study]
    study_uid = sample_uid(key)
    expected = orthanc_as_stored.study(study_uid)

    outcome = _retrieve(orthanc_as_stored, tmp_path, study_uid, patient_id, RetrieveMethod.GET)

    roleless = roleless_by_get_here(orthanc_as_stored, expected)
    if roleless:
        assert_missing_for_want_of_role(outcome, roleless)
    _assert_arrived_as_stored(outcome, expected, orthanc_as_stored, roleless)


def _finds(log: AssociationLog) -> int:
    return sum(1 for e in log.events()
               if e.kind == "dimse-sent" and e.summary.startswith("C-FIND-RQ"))


def test_ecg_study_arrives_by_c_get_from_strict_dcmqrscp(dcmqrscp: PeerServer, tmp_path: Path):
    """The study holds one 12-lead ECG: a class no modality table guesses,
    on an SCP that returns no SOPClassesInStudy and answers only hierarchical
    queries."""
    expected = dcmqrscp.study(ECG_STUDY)
    assert len(expected) == 1

    log = AssociationLog()
    outcome = _retrieve(dcmqrscp, tmp_path, ECG_STUDY, "QRS-2002", RetrieveMethod.GET, log)

    assert len(outcome.stored) == 1, _report(outcome, dcmqrscp)
    _assert_arrived_as_stored(outcome, expected, dcmqrscp)
    # No SOPClassesInStudy: the study, its series and their instances were listed.
    assert _finds(log) >= 3, _report(outcome, dcmqrscp)


@pytest.mark.parametrize("method", [RetrieveMethod.MOVE, RetrieveMethod.GET])
@pytest.mark.parametrize("study", sorted(CLINICAL_STUDIES))
def test_clinical_study_arrives_whole(qr_server: PeerServer, tmp_path: Path, study: str,
                                      method: RetrieveMethod):
    key, patient_id = CLINICAL_STUDIES[study]
    study_uid = sample_uid(key)
    expected = qr_server.study(study_uid)
    assert expected, f"{qr_server.kind} holds no instance of {key}"

    outcome = _retrieve(qr_server, tmp_path, study_uid, patient_id, method)

    roleless = roleless_by_get_here(qr_server, expected) \
        if method is RetrieveMethod.GET else set()
    if roleless:
        assert_missing_for_want_of_role(outcome, roleless)
    _assert_arrived_as_stored(outcome, expected, qr_server, roleless)
