"""C-STORE requests of a file, written by the sending thread, answered without a pause handshake.

**Why.** ``Association.send_c_store`` of a file path (with
``_config.STORE_SEND_CHUNKED_DATASET``) reads the file meta with pydicom,
builds a ``C_STORE`` primitive, turns it into a message whose command set is
a pydicom data set of validated elements, queues every P-DATA-TF fragment for
the DUL thread (which steps the state machine and encodes a PDU object for
each), and before all that spins in 0.1 ms sleeps until the association's
reactor thread says it has paused. For 1000 small images sent to Orthanc that
was about 1.5 ms of each instance's 3.4 ms, more than the peer's own share
(docs/PERFORMANCE.md "Sending on").

**What.** :func:`send_c_store` does what ``send_c_store`` does for a file,
from the calling thread: the meta group read by hand
(:func:`~qrscope.core.dicom.encoding.file_meta`), the command set encoded by
hand (:func:`~qrscope.core.dicom.encoding.store_request_bytes`), the context
chosen as pynetdicom chooses it for a file (its abstract syntax, its own
transfer syntax, we as SCU, no conversion), and the PDUs (the command, then
the data set as it lies in the file, in fragments the peer's maximum PDU
length allows, PS3.8 9.3.5 and Annex E) written to the socket in as few
``sendall`` calls as fit in :data:`WRITE_SIZE`. The response comes as before:
through the data lane (or pynetdicom's DIMSE) onto the message queue. The
reactor thread is asked to pause but not waited for: the prompt reactor's
DIMSE provider gives it no message while a pause is asked for
(:class:`~qrscope.core.engine.reactors.PromptDIMSE`), which is all the
handshake was for.

**When it steps aside** (``send_c_store`` of pynetdicom then runs, with the
same results as before): the piece is left out
(``QRSCOPE_ENGINE_OFF=send_lane``, or ``reactors``), the association is not
on the prompt reactors, its socket is TLS (the DUL thread reads it; an SSL
object is not written from one thread while read from another), a handler
would miss the events pynetdicom fires per PDU or per byte
(``EVT_DATA_SENT``, ``EVT_FSM_TRANSITION``, an ``EVT_PDU_SENT`` or
``EVT_DIMSE_SENT`` handler not marked
:func:`~qrscope.core.engine.data_lane.lane_ready`), or the file's meta group
or UIDs are anything but plain.

The DUL thread sends nothing of its own during data transfer on an
association we requested unless it ends (an A-ABORT), so the socket has one
writer at a time; the state machine's only action on a P-DATA request in
Sta6 is to send it (DT-1), which is what is done here.
"""

from __future__ import annotations

import os
import queue
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import evt

from qrscope.core.dicom.encoding import FileMeta, file_meta, store_request_bytes
from qrscope.core.engine.choice import current
from qrscope.core.engine.data_lane import _is_ready, _message_class
from qrscope.core.engine.reactors import PromptDUL

__all__ = ["WRITE_SIZE", "Prepared", "prepare", "send_c_store"]

WRITE_SIZE = 1 << 20
"""The most bytes of PDUs joined for one ``sendall`` (and read from the file at once)."""
_HEAD = 4096  # bytes read to find the meta group; a longer group goes to pynetdicom
_PRIORITY_LOW = 2  # as send_c_store's default
_SKIPPED_EVENTS = (evt.EVT_DATA_SENT, evt.EVT_FSM_TRANSITION)
_MARKED_EVENTS = (evt.EVT_PDU_SENT, evt.EVT_DIMSE_SENT)


class Prepared:
    """A request made ready while the previous one's response is awaited (:func:`prepare`):
    its command set and the first of its PDUs, read from the file, so that once
    that response is in only a ``sendall`` stands between it and this request."""

    def __init__(self, assoc: Any, path: Path, msg_id: int, meta: FileMeta, command: bytes,
                 context_id: int, sock: Any) -> None:
        self.assoc = assoc
        self.path = path
        self.msg_id = msg_id
        self.meta = meta
        self.context_id = context_id
        self.sock = sock
        self._batches = _batches(path, meta.data_set_offset, command, context_id,
                                 _fragment_size(assoc))
        self.first = next(self._batches)

    def write(self) -> None:
        """Write every PDU of the request to the socket."""
        self.sock.sendall(self.first)
        for batch in self._batches:
            self.sock.sendall(batch)

    def close(self) -> None:
        """Let go of the file (a request prepared and never sent, or sent)."""
        self._batches.close()


def prepare(assoc: Any, path: Path, msg_id: int) -> Prepared | None:
    """The request for *path* made ready for :func:`send_c_store` (None: the lane would
    not take it, or the file cannot be read now; pynetdicom then sends it)."""
    if not current().uses("send_lane"):
        return None
    taken = _prepare(assoc, path, msg_id)
    if taken is None:
        return None
    try:
        return Prepared(assoc, path, msg_id, *taken)
    except (OSError, StopIteration):
        return None


def send_c_store(assoc: Any, path: Path, msg_id: int,
                 while_waiting: Callable[[], None] | None = None,
                 prepared: Prepared | None = None) -> Dataset:
    """``assoc.send_c_store(path, msg_id=msg_id)``, by the lane where it can (see the module).

    *while_waiting* is called once the request is on the wire, before the
    response is awaited, so that the caller's own work overlaps the peer's
    (called first where pynetdicom sends; the response is awaited even if it
    raises). *prepared* is this request made ready by :func:`prepare` (for this
    association, path and message ID; it is closed here either way). Returns
    and raises as pynetdicom's: the response's status data set, an empty one
    when none came (the association is then aborted or ended).
    """
    request = prepared if prepared is not None and (prepared.assoc, prepared.path,
                                                    prepared.msg_id) == (assoc, path, msg_id) \
        else prepare(assoc, path, msg_id)
    if prepared is not None and prepared is not request:
        prepared.close()
    if request is None:
        if while_waiting is not None:
            while_waiting()
        return assoc.send_c_store(path, msg_id=msg_id)
    if not assoc.is_established or assoc.dul.state_machine.current_state != "Sta6":
        request.close()  # ended since it was prepared: pynetdicom says so as it does
        return assoc.send_c_store(path, msg_id=msg_id)
    assoc._reactor_checkpoint.clear()  # its DIMSE gives the reactor no message now
    rsp = None
    try:
        _fire_sent(assoc, request.meta, msg_id, request.context_id)
        request.write()
        try:
            if while_waiting is not None:
                while_waiting()
        finally:
            rsp = _wait_for_response(assoc)
    except OSError:
        rsp = None  # the connection is gone: as a missing response
    finally:
        request.close()
        assoc._reactor_checkpoint.set()
    if rsp is None:
        assoc._handle_no_response()
        return Dataset()
    return assoc._check_received_status(rsp)


def _prepare(assoc: Any, path: Path, msg_id: int) -> tuple[FileMeta, bytes, int, Any] | None:
    """(meta, command set, context ID, socket) for the lane, or None: pynetdicom sends."""
    dul = getattr(assoc, "dul", None)
    if not isinstance(dul, PromptDUL) or not assoc.is_established \
            or dul.state_machine.current_state != "Sta6":
        return None
    transport = getattr(dul, "socket", None)
    sock = getattr(transport, "socket", None)
    if not isinstance(sock, socket.socket) or isinstance(sock, ssl.SSLSocket) \
            or not _handlers_allow(assoc):
        return None
    try:
        with open(path, "rb") as file:
            meta = file_meta(file.read(_HEAD))
    except OSError:
        return None  # pynetdicom raises what it raises for it
    if meta is None or path.stat().st_size <= meta.data_set_offset:
        return None
    context_id = _context_id(assoc, meta)
    command = store_request_bytes(meta.sop_class_uid, msg_id, meta.sop_instance_uid,
                                  _PRIORITY_LOW)
    limit = _peer_maximum(assoc)
    if context_id is None or command is None or (limit and len(command) + 6 > limit):
        return None
    return meta, command, context_id, sock


def _handlers_allow(assoc: Any) -> bool:
    if any(assoc.get_handlers(event) for event in _SKIPPED_EVENTS):
        return False
    return all(_is_ready(handler) for event in _MARKED_EVENTS
               for handler, _args in assoc.get_handlers(event))


def _context_id(assoc: Any, meta: FileMeta) -> int | None:
    """The accepted context pynetdicom would use for a file: its class and own syntax
    (``_get_valid_context`` without conversion), where we are SCU."""
    for cx in assoc.accepted_contexts:
        if str(cx.abstract_syntax) == meta.sop_class_uid \
                and str(cx.transfer_syntax[0]) == meta.transfer_syntax and cx.as_scu:
            return int(cx.context_id)
    return None


def _peer_maximum(assoc: Any) -> int:
    """The peer's Maximum Length Received (PS3.8 D.1): 0 for no limit."""
    return int(assoc.acceptor.maximum_length or 0)


def _fragment_size(assoc: Any) -> int:
    """The most data set bytes per P-DATA-TF: the peer's maximum less the PDV item's
    length and header (6 bytes), as pynetdicom's ``encode_msg`` fragments."""
    limit = _peer_maximum(assoc)
    return limit - 6 if limit else WRITE_SIZE


def _fire_sent(assoc: Any, meta: FileMeta, msg_id: int, context_id: int) -> None:
    """``EVT_DIMSE_SENT`` for the request, with the values the association log reads."""
    evt.trigger(assoc, evt.EVT_DIMSE_SENT, {"message": _message_class("C_STORE_RQ")({
        "AffectedSOPClassUID": meta.sop_class_uid,
        "CommandField": 0x0001,
        "MessageID": msg_id,
        "Priority": _PRIORITY_LOW,
        "CommandDataSetType": 0x0001,
        "AffectedSOPInstanceUID": meta.sop_instance_uid,
    }, context_id)})


def _pdu(context_id: int, control: int, fragment: bytes | memoryview) -> list[bytes | memoryview]:
    """A P-DATA-TF PDU of one presentation data value (PS3.8 9.3.5), in pieces."""
    item = len(fragment) + 2
    return [b"\x04\x00" + (item + 4).to_bytes(4, "big") + item.to_bytes(4, "big")
            + bytes((context_id, control)), fragment]


def _batches(path: Path, offset: int, command: bytes, context_id: int,
             fragment: int) -> Iterator[bytes]:
    """The command PDU, then the data set's fragments (the last marked so), joined in
    batches of about :data:`WRITE_SIZE` bytes, the file read as they are taken."""
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size - offset
        file.seek(offset)
        pending: list[bytes | memoryview] = _pdu(context_id, 0x03, command)
        left = size
        while left > 0:
            chunk = file.read(min(left, max(fragment, WRITE_SIZE // fragment * fragment)))
            if not chunk:
                raise OSError(f"{path} ended {left} bytes early")
            view = memoryview(chunk)
            for start in range(0, len(view), fragment):
                piece = view[start:start + fragment]
                left -= len(piece)
                pending += _pdu(context_id, 0x02 if left == 0 else 0x00, piece)
            yield b"".join(pending)
            pending = []


def _wait_for_response(assoc: Any) -> Any:
    """The next message on the association's queue, as ``send_c_store`` waits for it:
    None when the response timeout passes first, or when the association ends
    (pynetdicom's abort actions, AA-2 to AA-4, queue an empty message to wake us)."""
    try:
        return assoc.dimse.msg_queue.get(timeout=assoc.dimse_timeout)[1]
    except queue.Empty:
        return None
