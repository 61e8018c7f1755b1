"""The private pynetdicom details qrscope relies on are still where they were."""

from __future__ import annotations

import inspect
import queue
from pathlib import Path
from types import SimpleNamespace

import pytest
from pynetdicom import build_context
from pynetdicom.association import Association
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.presentation import PresentationContext

from qrscope.core.engine.pynetdicom_private import grant_scp_role, wake_reader

# What this file tests is a piece of the tuned engine: on stock pynetdicom it is not there.
pytestmark = pytest.mark.tuned_engine


def test_presentation_contexts_keep_their_role_in_as_scp():
    context = build_context("1.2.3.4")
    assert isinstance(context, PresentationContext)
    assert context.as_scp is None  # nothing negotiated yet
    context._as_scp = False
    assert context.as_scp is False


def test_grant_scp_role_takes_the_role_only_where_it_was_missing():
    granted, denied = build_context("1.2.3.4"), build_context("1.2.3.5")
    granted._as_scp, denied._as_scp = True, False

    assoc = SimpleNamespace(accepted_contexts=[granted, denied])
    assert grant_scp_role(assoc, {"1.2.3.4", "1.2.3.5"}) == ["1.2.3.5"]
    assert denied.as_scp is True


def test_the_dimse_reader_waits_on_a_message_queue():
    assert "self.msg_queue" in inspect.getsource(DIMSEServiceProvider.__init__)
    assert "dimse" in inspect.getsource(Association.__init__)

    class Dimse:
        msg_queue: queue.Queue = queue.Queue()

    class Assoc:
        dimse = Dimse()

    wake_reader(Assoc())
    assert Assoc.dimse.msg_queue.get_nowait() == (None, None)


def test_abort_primitives_keep_source_and_reason_where_we_read_them():
    from pynetdicom.pdu_primitives import A_ABORT, A_P_ABORT

    from qrscope.core.engine.pynetdicom_private import abort_source_and_reason

    user = A_ABORT()
    user.abort_source = 0
    provider = A_P_ABORT()
    provider.provider_reason = 2
    assert abort_source_and_reason(user) == (0, None)
    assert abort_source_and_reason(provider) == (2, 2)


def test_pynetdicom_makes_received_data_set_files_with_the_name_we_replace(tmp_path):
    from pynetdicom import _config, dimse_messages

    from qrscope.core.engine.pynetdicom_private import receive_data_sets_into

    source = inspect.getsource(dimse_messages.DIMSEMessage.decode_msg)
    assert "NamedTemporaryFile(" in source and "STORE_RECV_CHUNKED_DATASET" in source
    receive_data_sets_into(tmp_path / "incoming")
    assert _config.STORE_RECV_CHUNKED_DATASET is True
    with dimse_messages.NamedTemporaryFile(delete=False, mode="wb", suffix=".dcm") as fh:
        name = fh.name
    assert Path(name).parent == tmp_path / "incoming"


def test_an_acceptor_waits_for_its_request_on_the_dul_queue():
    from pynetdicom.dul import DULServiceProvider

    from qrscope.core.engine.pynetdicom_private import end_wait_for_request

    source = inspect.getsource(Association.run_reactor)
    assert "self.dul.receive_pdu(wait=True, timeout=self.acse_timeout)" in source
    assert "if primitive is None:" in source
    assert "self.to_user_queue.get(" in inspect.getsource(DULServiceProvider.receive_pdu)

    assoc = SimpleNamespace(dul=SimpleNamespace(to_user_queue=queue.Queue()))
    end_wait_for_request(assoc)
    assert assoc.dul.to_user_queue.get_nowait() is None


def test_the_socket_pynetdicom_reads_is_reachable_from_the_association():
    from pynetdicom.transport import AssociationSocket, RequestHandler

    from qrscope.core.engine.pynetdicom_private import peer_socket

    assert "AssociationSocket(assoc, client_socket=self.request)" in inspect.getsource(
        RequestHandler._create_association)
    assert "self.dul.socket = " in inspect.getsource(Association.set_socket)
    assert "self.socket = client_socket" in inspect.getsource(AssociationSocket.__init__)
    marker = object()
    assoc = SimpleNamespace(dul=SimpleNamespace(socket=SimpleNamespace(socket=marker)))
    assert peer_socket(assoc) is marker


def test_pynetdicom_reads_whole_pdus_through_the_socket_recv_the_guard_wraps():
    # The guard bounds PDUs by reading their headers as they pass through
    # the socket's recv; if pynetdicom stops reading through recv, or starts
    # reading ahead, the guard no longer sees them.
    from pynetdicom.dul import DULServiceProvider
    from pynetdicom.transport import AssociationSocket

    read = inspect.getsource(DULServiceProvider._read_pdu_data)
    assert "self.socket.recv(6)" in read and "self.socket.recv(pdu_length)" in read
    from qrscope.core.engine.pynetdicom_private import install_large_reads

    install_large_reads()
    assert AssociationSocket.recv.qrscope_large  # ours: large reads, through socket.recv
    assert "isinstance(self.socket, ssl.SSLSocket)" in inspect.getsource(
        AssociationSocket.ready.fget)


def test_pynetdicom_encodes_command_sets_and_file_meta_through_the_names_we_replace():
    from pydicom.filebase import DicomBytesIO
    from pynetdicom import dimse_messages
    from pynetdicom.dimse_primitives import C_STORE
    from pynetdicom.dsutils import encode

    from qrscope.core.engine.pynetdicom_private import install_fast_encoding

    for method in (dimse_messages.DIMSEMessage.encode_msg,
                   dimse_messages.DIMSEMessage._set_command_group_length):
        assert "encode(self.command_set, True, True)" in inspect.getsource(method)
    source = inspect.getsource(dimse_messages.DIMSEMessage.decode_msg)
    assert "write_file_meta_info(" in source and "create_file_meta(" in source
    install_fast_encoding()
    install_fast_encoding()  # idempotent
    assert dimse_messages.encode.qrscope_fast
    # A C-STORE response encodes as pydicom encodes it, group length included.
    primitive = C_STORE()
    primitive.MessageIDBeingRespondedTo, primitive.Status = 5, 0
    primitive.AffectedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    primitive.AffectedSOPInstanceUID = "1.2.3.4.5"
    message = dimse_messages.C_STORE_RSP()
    message.primitive_to_message(primitive)
    assert dimse_messages.encode(message.command_set, True, True) == \
        encode(message.command_set, True, True)
    # The meta written for a received data set is pydicom's.
    ours, theirs = DicomBytesIO(), DicomBytesIO()
    values = dict(sop_class_uid="1.2.3", sop_instance_uid="1.2.3.4",
                  transfer_syntax="1.2.840.10008.1.2.1")
    dimse_messages.write_file_meta_info(ours, dimse_messages.create_file_meta(**values))
    from pydicom.filewriter import write_file_meta_info
    from pynetdicom.dsutils import create_file_meta
    write_file_meta_info(theirs, create_file_meta(**values))
    assert ours.getvalue() == theirs.getvalue()


def test_a_pdu_is_read_in_large_pieces_through_the_sockets_recv():
    from pynetdicom.transport import AssociationSocket

    from qrscope.core.engine.pynetdicom_private import install_large_reads

    class Peer:
        def __init__(self, data: bytes, pieces: int) -> None:
            self.data, self.calls, self.pieces = data, [], pieces

        def recv(self, size: int) -> bytes:
            self.calls.append(size)
            step = max(1, len(self.data) // self.pieces)
            piece, self.data = self.data[:min(size, step)], self.data[min(size, step):]
            return piece

    install_large_reads()
    sock = AssociationSocket.__new__(AssociationSocket)
    sock.socket = Peer(bytes(range(256)) * 1024, pieces=3)
    data = sock.recv(200_000)
    assert isinstance(data, bytearray) and data == (bytes(range(256)) * 1024)[:200_000]
    assert len(sock.socket.calls) <= 4, sock.socket.calls  # not 49 reads of 4096
    sock.socket = Peer(b"abc", pieces=1)
    assert sock.recv(10) == b"abc"  # the peer closed: what came before it


def test_data_transfer_hands_p_data_to_dimse_and_nothing_else():
    """What the data lane replaces (core/engine/data_lane.py): in Sta6 and Sta7 a P-DATA-TF
    PDU's only action is to give its values to the DIMSE provider, and the DUL
    reads PDUs through the names our reader overrides and calls."""
    import inspect

    from pynetdicom import dimse, fsm
    from pynetdicom.dul import DULServiceProvider

    from qrscope.core.engine.data_lane import DATA_TRANSFER_STATES

    actions = {state: fsm.TRANSITION_TABLE[("Evt10", state)] for state in DATA_TRANSFER_STATES}
    assert actions == {"Sta6": "DT-2", "Sta7": "AR-6"}
    for action in actions.values():
        source = inspect.getsource(fsm.ACTIONS[action][1])
        assert "dul.assoc.dimse.receive_primitive(" in source
        assert fsm.ACTIONS[action][2] in ("Sta6", "Sta7")
    reader = inspect.getsource(DULServiceProvider._is_transport_event)
    assert "self._read_pdu_data()" in reader
    assert inspect.signature(DULServiceProvider._decode_pdu).parameters.keys() == \
        {"self", "bytestream"}
    provider = inspect.getsource(dimse.DIMSEServiceProvider.receive_primitive)
    assert "self.message = None" in provider  # a message in progress is ``message``
    from pynetdicom.association import Association
    assert "self._sent_release" in inspect.getsource(Association.__init__)  # our release began


def test_a_file_c_store_pauses_the_reactor_and_waits_on_the_message_queue():
    """What the send lane does in place of ``send_c_store`` for a file (send_lane.py):
    the same pause flag, response wait, status check and no-response handling, and
    pynetdicom's abort actions wake that wait."""
    from pynetdicom import fsm

    source = inspect.getsource(Association.send_c_store)
    assert "self._reactor_checkpoint.clear()" in source
    assert "self.dimse.get_msg(block=True)" in source
    assert "self._handle_no_response()" in source
    assert "self._check_received_status(rsp)" in source
    assert "split_dataset(fpath)" in source  # the file sent from after its meta group
    for action in (fsm.AA_3, fsm.AA_4):
        assert "assoc.dimse.msg_queue.put((None, None))" in inspect.getsource(action)
