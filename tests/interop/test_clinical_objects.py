"""Clinical objects retrieved from real Orthanc and strict DCMTK dcmqrscp.

The clinical set (``demo_pacs.clinical``) holds what a hospital archive holds
besides images: RT Structure Set, Plan and Dose with their CT, a planning
system's private SOP class, Enhanced SR, Encapsulated PDF, a 12-lead ECG
alone in its study, a retired ultrasound class, Big Endian MR, and patient
names in four character sets. Every study must arrive whole, by C-MOVE and
by C-GET, from both servers, each instance as the server was given it: the
same compressed pixel data bytes in the same syntax, and otherwise the same
data set bytes or, where the data set was re-encoded on the way (sequence
lengths, Implicit VR or Big Endian converted to Explicit VR Little Endian),
the same element values and pixel values.

dcmqrscp runs with ``--check-find`` and ``--check-move``; it cannot hold
private SOP classes, so its RT study has 5 instances, not 7
(``peers.known_to_dcmtk``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.receive.listener import StorageListener
from qrscope.core.retrieve import RetrieveJob
from qrscope.core.retrieve.types import RetrieveOutcome, RetrieveScope
from qrscope.demo_pacs.clinical import PRIVATE_SOP_CLASS_UID
from qrscope.demo_pacs.samples import sample_uid

from .peers import (
    PeerServer,
    StoredInstance,
    assert_missing_for_want_of_role,
    roleless_by_get_here,
)

RT_STUDY = sample_uid("clinical-rt-prostate")
ECG_STUDY = sample_uid("clinical-ecg")
CLINICAL_STUDIES = {
    "rt": ("clinical-rt-prostate", "QRS-2001"),
    "reports": ("clinical-reports", "QRS-2001"),
    "ecg": ("clinical-ecg", "QRS-2002"),
    "us-retired": ("clinical-us-legacy", "QRS-2003"),
    "mr-big-endian": ("clinical-mr-outside", "QRS-2004"),
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
    """Every element of ``source`` is in ``got`` with the same value, and no other."""
    assert set(got.keys()) - {_TRAILING_PADDING} == set(source.keys()) - {_TRAILING_PADDING}, where
    for element in source:
        if element.tag == _TRAILING_PADDING:
            continue
        if element.tag == 0x7FE00010:
            assert np.array_equal(_pixels(got), _pixels(source)), f"{where}: pixel values"
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
