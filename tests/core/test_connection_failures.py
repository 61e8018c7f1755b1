"""Each way of failing to reach a node is told apart, with its evidence, and logged."""

from __future__ import annotations

import socket
import threading

import pytest

from qrscope.core.net.association_log import AssociationLog
from qrscope.core.net.connection import AssociationFailure, FailureReason
from qrscope.core.net.verify import verify
from qrscope.core.profiles import LocalAE, RemoteNode, Timeouts
from qrscope.diagnosis.hints import hint_for_failure


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _node(port: int, host: str = "127.0.0.1", **timeouts) -> RemoteNode:
    return RemoteNode(name="target", ae_title="PACS", host=host, port=port,
                      timeouts=Timeouts(**timeouts))


def _fail(node: RemoteNode) -> tuple[AssociationFailure, AssociationLog]:
    log = AssociationLog()
    with pytest.raises(AssociationFailure) as info:
        verify(node, LocalAE(), log)
    hint = hint_for_failure(info.value, node, LocalAE())
    assert hint.id == info.value.reason.value or hint.id == "association-aborted"
    assert node.host in hint.summary or node.name in hint.summary or node.host in hint.title
    return info.value, log


def test_closed_port_is_connection_refused():
    port = _free_port()
    failure, log = _fail(_node(port))
    assert failure.reason is FailureReason.CONNECTION_REFUSED
    assert str(port) in failure.message
    assert log.events()[-1].kind == "connection-failed"
    assert log.events()[-1].detail["reason"] == "connection-refused"


def test_unknown_host_is_host_not_found():
    failure, log = _fail(_node(104, host="no-such-pacs.invalid"))
    assert failure.reason is FailureReason.HOST_NOT_FOUND
    assert "no-such-pacs.invalid" in failure.message
    assert log.events()[-1].detail["reason"] == "host-not-found"


@pytest.fixture
def full_backlog():
    """A port whose accept queue is full: the kernel drops further SYNs, so connect times out."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):  # fill the queue; later SYNs are dropped
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for filler in fillers:
        filler.close()
    server.close()


def test_dropped_packets_are_connection_timeout(full_backlog):
    failure, _ = _fail(_node(full_backlog, connect=1.0))
    assert failure.reason is FailureReason.CONNECTION_TIMEOUT
    assert hint_for_failure(failure, _node(full_backlog), LocalAE()).id == "connection-timeout"
    assert "1 s" in failure.message


@pytest.fixture
def silent_server():
    """Accepts TCP connections and never answers the A-ASSOCIATE-RQ."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    stop = threading.Event()
    held = []

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_peer_that_never_answers_the_association_request_times_out(silent_server):
    failure, _ = _fail(_node(silent_server, association=1.0))
    assert failure.reason is FailureReason.ASSOCIATION_TIMEOUT
    assert "did not answer" in failure.message


def test_a_rejection_read_after_the_connection_closed_is_still_a_rejection(sample_folder):
    # A PACS answers A-ASSOCIATE-RJ and closes at once (dcmqrscp does). On a
    # busy machine pynetdicom's reader had read the rejection and seen the
    # close before the association thread looked, and the association
    # thread then took the closed socket for an abort: the user was told
    # "aborted" instead of "wrong called AE title". Reproduced here without
    # timing by holding the association thread until the connection closed.
    from pynetdicom import build_context, evt
    from pynetdicom.sop_class import Verification

    from qrscope.core.net.connection import make_ae, open_association
    from qrscope.demo_pacs import DemoPacs, DemoPacsBehaviour

    pacs = DemoPacs(data_folder=sample_folder, port=0,
                    behaviour=DemoPacsBehaviour(require_called_ae_title=True))
    pacs.start()
    closed = threading.Event()

    def after_the_close(_event) -> None:
        assert closed.wait(10), "the connection never closed"

    node = RemoteNode(name="typo", ae_title="NOT_THE_PACS", host="127.0.0.1", port=pacs.port)
    local = LocalAE()
    try:
        with pytest.raises(AssociationFailure) as info:
            open_association(make_ae(local, node), node, AssociationLog(),
                             [build_context(Verification)], extra_handlers=[
                (evt.EVT_REQUESTED, after_the_close),
                (evt.EVT_CONN_CLOSE, lambda _event: closed.set())])
    finally:
        pacs.stop()
    assert info.value.reason is FailureReason.REJECTED_CALLED_AET, info.value.message
    assert "NOT_THE_PACS" in info.value.message


def test_a_pacs_that_accepts_none_of_our_contexts_is_no_accepted_context():
    # The A-ASSOCIATE-AC refuses every presentation context: pynetdicom then
    # aborts the association itself. The user must hear that the service or
    # model is not offered, not that the PACS aborted.
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    from qrscope.core.dicom.records import QueryLevel
    from qrscope.core.profiles import QueryModel
    from qrscope.core.query.find import FindOperation, QueryFilter

    ae = AE("ECHOONLY")
    ae.add_supported_context(Verification)
    port = _free_port()
    server = ae.start_server(("127.0.0.1", port), block=False)
    node = RemoteNode(name="Echo only", ae_title="ECHOONLY", host="127.0.0.1", port=port,
                      query_model=QueryModel.STUDY_ROOT)
    try:
        with pytest.raises(AssociationFailure) as info:
            FindOperation(node, LocalAE(), AssociationLog(), QueryLevel.STUDY,
                          QueryFilter()).run()
    finally:
        server.shutdown()
    assert info.value.reason is FailureReason.NO_ACCEPTED_CONTEXT, info.value.message
    assert "Study Root" in info.value.message
    hint = hint_for_failure(info.value, node, LocalAE())
    assert hint.id == "no-accepted-context"
    # The button switches the model (the node asked for Study Root: Patient Root).
    assert [(a.field, a.value) for a in hint.actions if a.kind == "set-node"] == \
        [("query_model", "patient-root")]


def _answer_with_an_a_abort(conn: socket.socket) -> None:
    """Read the A-ASSOCIATE-RQ, answer A-ABORT (source: service provider, reason:
    unrecognised PDU parameter), wait until the caller closes."""
    header = conn.recv(6)
    length = int.from_bytes(header[2:6], "big")
    while length > 0:
        length -= len(conn.recv(length))
    conn.sendall(bytes([0x07, 0, 0, 0, 0, 4, 0, 0, 2, 6]))
    conn.recv(1)


def test_a_peer_that_aborts_the_association_request_is_aborted_with_its_reason():
    # A server that reads the A-ASSOCIATE-RQ and answers with an A-ABORT
    # (source: service provider, reason: unrecognised PDU parameter).
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        # One connection only: the TLS probe that may follow the failure (does the port
        # want TLS?) is refused at once. Left in the listen backlog it waited out the
        # probe's 10 s connect timeout, which a real PACS answers by closing at once.
        server.close()
        with conn:
            _answer_with_an_a_abort(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        failure, _ = _fail(_node(server.getsockname()[1], association=5.0))
    finally:
        thread.join(timeout=10)
        server.close()
    assert failure.reason is FailureReason.ABORTED
    assert "aborted the association during negotiation" in failure.message
    assert failure.evidence["abort_source"] == 2 and failure.evidence["abort_reason"] == 6


def test_refused_is_told_without_pynetdicoms_log(monkeypatch):
    # The reason comes from the socket's own error, not from text pynetdicom
    # logs: with its logger silenced the user is still told "refused".
    import logging

    monkeypatch.setattr(logging.getLogger("pynetdicom"), "disabled", True)
    monkeypatch.setattr(logging.getLogger("pynetdicom.transport"), "disabled", True)
    failure, _ = _fail(_node(_free_port()))
    assert failure.reason is FailureReason.CONNECTION_REFUSED


@pytest.mark.parametrize(("error", "reason", "words"), [
    (ConnectionRefusedError(111, "Connection refused"), FailureReason.CONNECTION_REFUSED,
     "nothing is listening"),
    (TimeoutError("timed out"), FailureReason.CONNECTION_TIMEOUT, "no answer"),
    (OSError(110, "Connection timed out"), FailureReason.CONNECTION_TIMEOUT, "no answer"),
    (OSError(101, "Network is unreachable"), FailureReason.CONNECTION_FAILED, "unreachable"),
    (OSError(113, "No route to host"), FailureReason.CONNECTION_FAILED, "no route"),
    (ConnectionResetError(104, "Connection reset by peer"), FailureReason.CONNECTION_FAILED,
     "reset"),
])
def test_each_socket_error_has_its_reason(error: OSError, reason: FailureReason, words: str):
    from qrscope.core.net.connection import tcp_failure

    failure = tcp_failure(_node(104), "127.0.0.1", error)
    assert failure.reason is reason
    assert words in failure.message.lower()
    assert hint_for_failure(failure, _node(104), LocalAE()).id == reason.value


def test_a_peer_that_answers_with_an_a_abort_pdu_is_not_probed_for_tls():
    """An A-ABORT PDU in answer to the request proves the port speaks plain DICOM: no
    second connection asks whether it wants TLS (a PACS with a per-AE connection limit
    sees it, and the user waits up to the connect timeout for nothing)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            _answer_with_an_a_abort(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        failure, _ = _fail(_node(server.getsockname()[1], association=5.0, connect=2.0))
        thread.join(timeout=10)
        server.setblocking(False)
        try:
            probe, _ = server.accept()
        except BlockingIOError:
            probe = None
        else:
            probe.close()
    finally:
        server.close()
    assert failure.reason is FailureReason.ABORTED
    assert probe is None, "a second connection after the peer's A-ABORT"
