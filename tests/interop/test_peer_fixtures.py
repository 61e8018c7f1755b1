"""Smoke tests of the server fixtures, with a plain pynetdicom SCU and SCP.

They prove each server is up, holds every loaded study, and returns a study
unchanged by C-MOVE and by C-GET, before any qrscope code is involved.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import pydicom
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, _config, build_role, evt
from pynetdicom.association import Association
from pynetdicom.service_class import StorageServiceClass
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind as STUDY_ROOT_FIND,
)
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelGet as STUDY_ROOT_GET,
)
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelMove as STUDY_ROOT_MOVE,
)
from pynetdicom.sop_class import uid_to_service_class

from .peers import (
    HOST,
    NETWORK_TIMEOUT,
    STORABLE,
    UNCOMPRESSED,
    UNREACHABLE_AE_TITLE,
    WORKSTATION_AE_TITLE,
    PeerServer,
    StoredInstance,
    echo_status,
)


@pytest.fixture(autouse=True)
def _storage_contexts_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    # qrscope's StorageListener switches pynetdicom's process-wide
    # UNRESTRICTED_STORAGE_SERVICE on and never off; then every later storage
    # SCP in the process accepts any context, and the listeners below must
    # accept only the syntaxes they list.
    monkeypatch.setattr(_config, "UNRESTRICTED_STORAGE_SERVICE", False)


@dataclass(frozen=True)
class Received:
    sop_instance_uid: str
    transfer_syntax_uid: str
    pixel_data: bytes | None


def _on_store(received: list[Received]) -> Callable[[evt.Event], int]:
    def handler(event: evt.Event) -> int:
        received.append(
            Received(
                sop_instance_uid=str(event.request.AffectedSOPInstanceUID),
                transfer_syntax_uid=str(event.context.transfer_syntax),
                pixel_data=event.dataset.get("PixelData"),
            )
        )
        return 0x0000

    return handler


def _pairs(instances: Iterable[StoredInstance]) -> list[tuple[str, str]]:
    return list(dict.fromkeys((i.sop_class_uid, i.transfer_syntax_uid) for i in instances))


def _compressed(instances: Iterable[StoredInstance]) -> list[StoredInstance]:
    return [i for i in instances if i.transfer_syntax_uid not in UNCOMPRESSED]


def _study_to_retrieve(server: PeerServer) -> list[StoredInstance]:
    """The study with the most transfer syntaxes, then the most compressed
    instances, among those holding one syntax per SOP class (so that even
    dcmqrscp, which moves a SOP class in one syntax, returns it unchanged)."""

    def holds_one_syntax_per_sop_class(instances: list[StoredInstance]) -> bool:
        sop_classes = [sop_class for sop_class, _ in _pairs(instances)]
        return len(sop_classes) == len(set(sop_classes))

    def standard_classes_only(instances: list[StoredInstance]) -> bool:
        # A plain pynetdicom SCP refuses classes it has no service class for, and
        # Orthanc leaves the SCP role of a class it does not know unanswered. By
        # the UID, not pynetdicom's registry: a test earlier in the process may
        # have registered a private class there (register_uid is process-wide).
        return all(uid_to_service_class(i.sop_class_uid) is StorageServiceClass
                   and i.sop_class_uid.startswith("1.2.840.10008.") for i in instances)

    studies = [server.study(uid) for uid in server.study_uids]
    candidates = [s for s in studies if holds_one_syntax_per_sop_class(s)
                  and standard_classes_only(s)]
    assert candidates, "no loaded study holds a single transfer syntax per SOP class"
    return max(
        candidates,
        key=lambda s: (len(_pairs(s)), len(_compressed(s)), len(s), s[0].study_instance_uid),
    )


def _stored_pixel_data(instance: StoredInstance) -> bytes | None:
    return pydicom.dcmread(instance.path).get("PixelData")


def _assert_delivered_as_stored(received: list[Received], study: list[StoredInstance]) -> None:
    by_uid = {r.sop_instance_uid: r for r in received}
    assert len(received) == len(by_uid), "an instance arrived twice"
    assert set(by_uid) == {i.sop_instance_uid for i in study}
    for instance in study:
        arrived = by_uid[instance.sop_instance_uid]
        assert arrived.transfer_syntax_uid == instance.transfer_syntax_uid, instance.path.name
        assert arrived.pixel_data == _stored_pixel_data(instance), instance.path.name


def _study_query(study_uid: str) -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study_uid
    return query


def _final(responses: Iterable[tuple[Dataset, Dataset | None]]) -> Dataset:
    statuses = [status for status, _ in responses]
    assert statuses and "Status" in statuses[-1], "no final response"
    return statuses[-1]


@contextlib.contextmanager
def _association(server: PeerServer, ae: AE, **kwargs: object) -> Iterator[Association]:
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = NETWORK_TIMEOUT
    assoc = ae.associate(server.host, server.port, ae_title=server.ae_title, **kwargs)
    assert assoc.is_established, f"{server.ae_title} did not accept the association"
    try:
        yield assoc
    finally:
        assoc.release()


def _move(server: PeerServer, study: list[StoredInstance], destination: str) -> Dataset:
    ae = AE(WORKSTATION_AE_TITLE)
    ae.add_requested_context(STUDY_ROOT_MOVE)
    query = _study_query(study[0].study_instance_uid)
    with _association(server, ae) as assoc:
        return _final(assoc.send_c_move(query, destination, STUDY_ROOT_MOVE))


@contextlib.contextmanager
def _storage_listener(
    port: int, contexts: Iterable[tuple[str, str | Iterable[str]]]
) -> Iterator[list[Received]]:
    """A storage SCP for QRSCOPE accepting each (SOP class, syntaxes) of ``contexts``."""
    ae = AE(WORKSTATION_AE_TITLE)
    for sop_class, syntaxes in contexts:
        ae.add_supported_context(sop_class, syntaxes)
    received: list[Received] = []
    handlers = [(evt.EVT_C_STORE, _on_store(received))]
    server = ae.start_server((HOST, port), block=False, evt_handlers=handlers)
    try:
        yield received
    finally:
        server.shutdown()


def test_server_answers_echo(qr_server: PeerServer) -> None:
    assert echo_status(qr_server.ae_title, qr_server.port) == 0x0000


def test_study_find_returns_every_loaded_study(qr_server: PeerServer) -> None:
    ae = AE(WORKSTATION_AE_TITLE)
    ae.add_requested_context(STUDY_ROOT_FIND)
    with _association(qr_server, ae) as assoc:
        responses = list(assoc.send_c_find(_study_query(""), STUDY_ROOT_FIND))

    assert _final(responses).Status == 0x0000
    found = [str(identifier.StudyInstanceUID) for _, identifier in responses if identifier]
    assert sorted(found) == qr_server.study_uids


def test_move_delivers_study_as_stored(qr_server: PeerServer, peer_listener_port: int) -> None:
    study = _study_to_retrieve(qr_server)
    # The listener takes each SOP class only in the syntax the study holds it
    # in; dcmqrscp proposes one context per stored syntax and must pick it.
    with _storage_listener(peer_listener_port, _pairs(study)) as received:
        final = _move(qr_server, study, WORKSTATION_AE_TITLE)

    assert final.Status == 0x0000
    assert final.NumberOfCompletedSuboperations == len(study)
    _assert_delivered_as_stored(received, study)


def test_get_delivers_study_as_stored(qr_server: PeerServer) -> None:
    study = _study_to_retrieve(qr_server)
    pairs = _pairs(study)
    ae = AE(WORKSTATION_AE_TITLE)
    ae.add_requested_context(STUDY_ROOT_GET)
    # One context per stored syntax. Offered several syntaxes in one context,
    # both servers accept Explicit VR Little Endian; then Orthanc decompresses
    # (JPEG baseline and RLE) or fails on JPEG 2000 with 0xC000 and sends no
    # further instance, and dcmqrscp fails every compressed instance.
    for sop_class, syntax in pairs:
        ae.add_requested_context(sop_class, syntax)
    # PS3.4 C.4.3.1: the C-GET SCU takes the SCP role of each storage SOP class.
    sop_classes = dict.fromkeys(sop_class for sop_class, _ in pairs)
    roles = [build_role(sop_class, scp_role=True) for sop_class in sop_classes]
    received: list[Received] = []
    handlers = [(evt.EVT_C_STORE, _on_store(received))]
    query = _study_query(study[0].study_instance_uid)

    with _association(qr_server, ae, ext_neg=roles, evt_handlers=handlers) as assoc:
        final = _final(assoc.send_c_get(query, STUDY_ROOT_GET))

    assert final.Status == 0x0000
    _assert_delivered_as_stored(received, study)


def test_move_to_listener_accepting_every_syntax(
    qr_server: PeerServer, peer_listener_port: int
) -> None:
    """What a workstation that accepts everything, like qrscope, receives:
    every instance with its pixel data unchanged, compressed ones in their
    stored syntax. (dcmqrscp may turn Implicit into Explicit VR Little Endian
    or back: it proposes both in one context and converts to the one taken.)"""
    study = _study_to_retrieve(qr_server)
    sop_classes = dict.fromkeys(i.sop_class_uid for i in study)
    with _storage_listener(peer_listener_port, [(s, STORABLE) for s in sop_classes]) as received:
        final = _move(qr_server, study, WORKSTATION_AE_TITLE)

    assert final.Status == 0x0000
    by_uid = {r.sop_instance_uid: r for r in received}
    assert set(by_uid) == {i.sop_instance_uid for i in study}
    for instance in study:
        arrived = by_uid[instance.sop_instance_uid]
        assert arrived.pixel_data == _stored_pixel_data(instance), instance.path.name
        if instance in _compressed(study):
            assert arrived.transfer_syntax_uid == instance.transfer_syntax_uid, instance.path.name
        else:
            assert arrived.transfer_syntax_uid in UNCOMPRESSED, instance.path.name


# Final C-MOVE-RSP when the destination is known but nobody listens there
# ("connection refused" in pacs-behaviour.md). Measured here, unlike that
# table: both answer in ~0.045 s, not ~0.1 s (and most of that is pynetdicom's
# own Nagle wait); Orthanc does send completed/failed/warning counts, all 0;
# dcmqrscp counts every instance of the study as failed.
# pynetdicom's C-MOVE SCP answers 0xA801 ("destination unknown") when it
# cannot connect to a destination it knows (service_class.py, 3.0).
UNREACHABLE_STATUS = {"orthanc": 0xC000, "dcmqrscp": 0xA702, "demo-pacs": 0xA801}


def test_move_to_unreachable_destination_fails(qr_server: PeerServer) -> None:
    study = _study_to_retrieve(qr_server)

    final = _move(qr_server, study, UNREACHABLE_AE_TITLE)

    assert final.Status == UNREACHABLE_STATUS[qr_server.kind]
