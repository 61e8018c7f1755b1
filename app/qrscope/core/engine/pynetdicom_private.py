"""The few places where qrscope reaches into pynetdicom's private state.

Each is here, and nowhere else, with the reason it cannot be done through a
public API, and each does so only on the tuned engine
(:mod:`qrscope.core.engine.choice`: a pynetdicom release it was tested
with); on stock pynetdicom each does what pynetdicom's public API allows, or
nothing, and says what the user loses. ``tests/core/test_pynetdicom_private.py``
fails loudly when a new pynetdicom release moves them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from pynetdicom import evt
from pynetdicom.pdu_primitives import A_P_ABORT

from qrscope.core.engine.choice import current

__all__ = [
    "IncomingFile",
    "abandon_incoming",
    "abort_source_and_reason",
    "end_wait_for_request",
    "finish_incoming",
    "grant_scp_role",
    "install_fast_encoding",
    "install_large_reads",
    "install_reactor_classes",
    "pause_requested",
    "peer_socket",
    "reader_timeout",
    "reads_held_data",
    "receive_data_sets_into",
    "wait_until_sent",
    "wake_reader",
    "wrap_peer_socket",
]


def wake_reader(assoc: Any) -> None:
    """Unblock a thread waiting in pynetdicom for the next DIMSE message.

    With the DIMSE timeout switched off (a retrieve's waits belong to our
    watchdog), pynetdicom does not wake the reader on every kind of abort or
    dropped connection; an empty message does. Stock pynetdicom cannot be
    woken so: :func:`reader_timeout` gives its reader a wait that ends.
    """
    if current().tuned:
        assoc.dimse.msg_queue.put((None, None))


def reader_timeout(limit: float) -> float | None:
    """The DIMSE timeout for a retrieve whose waits belong to our watchdog.

    The tuned engine waits without one (:func:`wake_reader` ends the wait);
    stock pynetdicom waits at most *limit*, the retrieve's idle limit, so a
    retrieve we abort (cancel, timeout) ends by then instead of never.
    """
    return None if current().tuned else limit


def grant_scp_role(assoc: Any, sop_classes: set[str]) -> list[str]:
    """Take the SCP role on accepted contexts of *sop_classes* the peer did not grant it on.

    PS3.7 D.3.3.4: when the acceptor of a C-GET association leaves a role
    selection unanswered, the default roles apply and we are only SCU, so
    pynetdicom refuses the peer's C-STOREs on those contexts (0x0122). Orthanc
    1.10 does exactly that for SOP classes it does not know (private ones),
    and sends them all the same; being liberal in what we receive keeps the
    instance. Returns the classes the role was taken for, for the log. Stock
    pynetdicom has no way to take it: the instances are refused (0x0122) and
    the retrieve says which are missing.
    """
    if not current().tuned:
        return []
    taken = []
    for context in assoc.accepted_contexts:
        if context.abstract_syntax in sop_classes and not context.as_scp:
            context._as_scp = True
            taken.append(str(context.abstract_syntax))
    return taken


def abort_source_and_reason(primitive: Any) -> tuple[int, int | None]:
    """Source and provider reason of an A-ABORT or A-P-ABORT primitive (PS3.8 9.3.8).

    An A-P-ABORT comes from the service provider (2) and has a reason; an
    A-ABORT has a source and no reason. The public properties raise when a
    value was never set; an unset source counts as the service provider.
    """
    if isinstance(primitive, A_P_ABORT):
        try:
            return 2, primitive.provider_reason
        except ValueError:
            return 2, None
    try:
        source = primitive.abort_source
    except (AttributeError, ValueError):
        source = None
    return (2 if source is None else int(source)), None


class IncomingFile:
    """Where pynetdicom writes a received data set: memory while small, then a file.

    A data set up to :data:`HELD_IN_MEMORY` bytes stays in memory and is
    filed from there (:func:`held_data`): no temporary file is made, written
    fragment by fragment, read back and removed for each of a study's
    thousand small images. A larger one goes to a file in the incoming folder
    from the fragment that crosses the limit on, so its size never has to fit
    in memory; an association holds at most the limit.

    It never raises. pynetdicom writes each fragment from its reader thread;
    an ``OSError`` there (a full disk) would kill the association with a
    traceback and leave the partial file behind, holding the space. Instead
    the first error is kept, the partial file removed, the rest of the data
    set read and dropped, and the C-STORE handler, seeing
    :func:`finish_incoming`, answers "out of resources" (0xA700) as for any
    full disk.
    """

    def __init__(self, folder: Path, **options: Any) -> None:
        self.folder = folder
        # Only a handler that knows to ask held() may get no file: pynetdicom
        # promises other handlers (tests' SCPs) a file at event.dataset_path.
        hold = _store_handler_reads_held_data()
        # The name the data set will have on disk if it grows large; nothing
        # is made there until then (pynetdicom wants a name at once).
        self.name = str(folder / f".incoming-{uuid.uuid4().hex}{options.get('suffix', '')}")
        self.thread = threading.get_ident()  # the association's reader thread
        self.error: OSError | None = None
        self.file = self  # pynetdicom calls ``.file.flush()``
        self._held: bytearray | None = bytearray()
        self._fh: Any = None
        _OPEN[self.name] = self
        if not hold:
            self._spill()

    def write(self, data: bytes) -> int:
        if self.error is not None:
            return len(data)
        if self._held is not None:
            self._held += data
            if len(self._held) > HELD_IN_MEMORY:
                self._spill()
            return len(data)
        try:
            return self._fh.write(data)
        except OSError as exc:
            self._fail(exc)
        return len(data)

    def _spill(self) -> None:
        """From now on to a file: the data set is too large to hold."""
        held, self._held = self._held, None
        try:
            try:
                fd = os.open(self.name, _CREATE, 0o600)
            except FileNotFoundError:
                # The storage folder was removed while we ran: make it again.
                self.folder.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.name, _CREATE, 0o600)
            self._fh = os.fdopen(fd, "wb")
            self._fh.write(held)
        except OSError as exc:
            self._fail(exc)

    def flush(self) -> None:
        if self.error is None and self._fh is not None:
            try:
                self._fh.flush()
            except OSError as exc:
                self._fail(exc)

    @property
    def on_disk(self) -> bool:
        """Whether a file was made for it (it grew past :data:`HELD_IN_MEMORY`)."""
        return self._fh is not None

    def held(self) -> bytes | None:
        """The whole data set, when it stayed in memory."""
        return bytes(self._held) if self._held is not None and self.error is None else None

    def close(self) -> None:
        _OPEN.pop(self.name, None)
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()

    def _fail(self, exc: OSError) -> None:
        self.error, self._held = exc, None
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
        with contextlib.suppress(OSError):
            os.unlink(self.name)

    def __enter__(self) -> IncomingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def reads_held_data(handler: Any) -> Any:
    """Mark an EVT_C_STORE handler that files what :meth:`IncomingFile.held` returns."""
    handler.reads_held_data = True
    return handler


def _store_handler_reads_held_data() -> bool:
    """Whether the C-STORE handler of the association receiving now is so marked.

    pynetdicom creates the file from the DUL thread of the association that
    receives, and each association has its own handler for EVT_C_STORE.
    """
    assoc = getattr(threading.current_thread(), "assoc", None)
    try:
        handler = assoc.get_handlers(evt.EVT_C_STORE)[0]  # type: ignore[union-attr]
    except (AttributeError, IndexError, KeyError, TypeError):
        return False
    return bool(getattr(handler, "reads_held_data", False))


# A small instance (a CT slice is about 0.5 MB, an MR slice less) is filed
# from memory; 1 MiB per association, 40 associations at most: 40 MiB.
HELD_IN_MEMORY = 1 << 20
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


_OPEN: dict[str, IncomingFile] = {}


def abandon_incoming() -> int:
    """Close and remove the files this thread's association left unfinished.

    Called when an association ends (from its reader thread, where pynetdicom
    fires the event): a peer that aborts in the middle of a data set must not
    leave an open file and a partial file behind. Returns how many.
    """
    me = threading.get_ident()
    left = [f for f in list(_OPEN.values()) if f.thread == me]
    for incoming in left:
        incoming.close()
        with contextlib.suppress(OSError):
            os.unlink(incoming.name)
    return len(left)


def finish_incoming(path: Path) -> IncomingFile | None:
    """Close what pynetdicom wrote *path* through, and return it (None if not ours).

    Called by the C-STORE handler once the data set is complete; the result
    says what stopped the writing (``error``) and holds a small data set
    (``held()``). pynetdicom closes the file itself after a listener's
    C-STORE, but not after one inside a C-GET, where it would stay open until
    garbage collection.
    """
    incoming = _OPEN.get(str(path))
    if incoming is not None:
        incoming.close()
    return incoming


def receive_data_sets_into(folder: Path) -> None:
    """Have pynetdicom write each incoming C-STORE data set to a file in *folder*.

    ``_config.STORE_RECV_CHUNKED_DATASET`` (public) makes pynetdicom write a
    data set to a temporary Part 10 file as its fragments arrive instead of
    holding it in memory. It creates that file with ``NamedTemporaryFile`` in
    the system's temporary folder, which may be another filesystem (or RAM,
    on a tmpfs), and lets a write error escape in its reader thread. There is
    no public setting for either, so the name ``NamedTemporaryFile`` in
    ``pynetdicom.dimse_messages`` is replaced by :class:`IncomingFile`: small
    data sets stay in memory, larger ones go to a file in *folder*, beside
    the storage, where the handler files it by a hard link instead of a copy.
    Process-wide, like the switch itself: the folder of the last store wins,
    and a store elsewhere falls back to a chunked copy. On stock pynetdicom
    only the public switch is set: every data set goes through a temporary
    file in the system's folder and is copied from there.
    """
    from pynetdicom import _config, dimse_messages

    folder.mkdir(parents=True, exist_ok=True)
    _config.STORE_RECV_CHUNKED_DATASET = True
    if not current().uses("incoming_files"):
        return
    dimse_messages.NamedTemporaryFile = functools.partial(  # type: ignore[attr-defined]
        IncomingFile, folder)


def end_wait_for_request(assoc: Any) -> None:
    """End an acceptor's wait for the A-ASSOCIATE-RQ, as if the ACSE timeout had expired.

    ``Association.run_reactor`` waits on the DUL's ``to_user_queue`` for the
    request for the whole ACSE timeout, even after the connection is gone;
    a ``None`` there is what a timeout returns, so it kills the association
    through pynetdicom's own path. Stock pynetdicom waits the ACSE timeout
    (the listener's handshake deadline).
    """
    if current().tuned:
        assoc.dul.to_user_queue.put(None)


def peer_socket(assoc: Any) -> Any:
    """The socket object pynetdicom reads an association's PDUs from.

    For the listener that is the guard's ``PeerConnection`` (handed over by
    ``AssociationServer.get_request``); EVT_CONN_OPEN gives the association
    but not its socket, which sits in ``assoc.dul.socket.socket`` (public
    attributes both; None before a connection is made).
    """
    transport = assoc.dul.socket
    return None if transport is None else transport.socket


def wrap_peer_socket(assoc: Any, adopt: Any) -> None:
    """Have pynetdicom read and write through ``adopt(socket)`` from now on.

    There is no public hook for the socket of an association we requested
    (the listener's sockets come through ``AssociationServer.get_request``,
    TLS sockets through the SSL context's ``sslsocket_class``); a plain one is
    in ``assoc.dul.socket.socket``, which pynetdicom uses for every later
    read. *adopt* returns a real socket of the same connection. Only on the
    tuned engine, and only for a plain socket (*adopt* says which it takes).
    """
    transport = assoc.dul.socket
    if current().uses("quick_ack") and transport is not None \
            and type(transport.socket) is socket.socket:
        transport.socket = adopt(transport.socket)


def install_reactor_classes(dul_class: type, dimse_class: type, reactor_time: Any) -> None:
    """Have ``Association`` build its DUL and DIMSE providers from our subclasses.

    ``Association.__init__`` creates them through the names
    ``DULServiceProvider`` and ``DIMSEServiceProvider`` in
    ``pynetdicom.association``, and both reactor loops sleep through the name
    ``time`` of their module (``pynetdicom.dul``, ``pynetdicom.association``);
    there is no public way to give an association other providers or another
    wait. See :mod:`qrscope.core.engine.reactors` for why.
    """
    from pynetdicom import association, dul

    association.DULServiceProvider = dul_class  # type: ignore[misc]
    association.DIMSEServiceProvider = dimse_class  # type: ignore[misc]
    association.time = reactor_time  # type: ignore[assignment]
    dul.time = reactor_time  # type: ignore[assignment]


class _FileMeta:
    """What ``create_file_meta`` was asked for, kept until the meta is written."""

    def __init__(self, **values: Any) -> None:
        self.values = values


def install_fast_encoding() -> None:
    """Have pynetdicom encode and decode command sets, and write file meta headers, by hand.

    ``pynetdicom.dimse_messages`` encodes every command set (twice: once to
    measure its group length), decodes every command set received, and
    writes the file meta header of every received data set through the
    names ``encode``, ``decode``, ``create_file_meta`` and
    ``write_file_meta_info`` it imported; ``pynetdicom.association`` decodes
    every response identifier (10,000 for a large search) through its own
    name ``decode``. There is no public hook. The replacements produce the
    same bytes and data sets (:mod:`qrscope.core.dicom.encoding`) and hand
    anything unusual to the originals.
    """
    from pydicom import config, filewriter
    from pydicom.charset import default_encoding
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset
    from pydicom.tag import BaseTag
    from pynetdicom import (
        PYNETDICOM_IMPLEMENTATION_UID,
        PYNETDICOM_IMPLEMENTATION_VERSION,
        association,
        dimse_messages,
        dsutils,
    )

    from qrscope.core.dicom.encoding import (
        command_set_bytes,
        command_set_values,
        file_meta_bytes,
        read_plain_dataset,
    )

    if getattr(dimse_messages.encode, "qrscope_fast", False):
        return
    pydicom_encode, pydicom_create = dsutils.encode, dsutils.create_file_meta
    pydicom_decode = dsutils.decode
    pydicom_write_meta = filewriter.write_file_meta_info

    def encode(ds: Any, is_implicit_vr: bool, is_little_endian: bool,
               deflated: bool = False) -> bytes | None:
        if is_implicit_vr and is_little_endian and not deflated:
            data = command_set_bytes(ds)
            if data is not None:
                return data
        return pydicom_encode(ds, is_implicit_vr, is_little_endian, deflated)

    def create_file_meta(**values: Any) -> Any:
        return _FileMeta(**values)

    def write_file_meta_info(fp: Any, file_meta: Any, enforce_standard: bool = True) -> None:
        if isinstance(file_meta, _FileMeta):
            values = file_meta.values
            data = file_meta_bytes(
                values["sop_class_uid"], values["sop_instance_uid"], values["transfer_syntax"],
                values.get("implementation_uid", PYNETDICOM_IMPLEMENTATION_UID),
                values.get("implementation_version", PYNETDICOM_IMPLEMENTATION_VERSION),
                preamble=False)
            if data is not None:
                fp.write(data)
                return
            file_meta = pydicom_create(**values)
        pydicom_write_meta(fp, file_meta, enforce_standard)

    def decode(bytestring: Any, is_implicit_vr: bool, is_little_endian: bool,
               deflated: bool = False) -> Any:
        values = command_set_values(bytestring.getvalue()) \
            if is_implicit_vr and is_little_endian and not deflated else None
        if values is None:
            return pydicom_decode(bytestring, is_implicit_vr, is_little_endian, deflated)
        ds = Dataset()
        for tag, vr, value in values:
            # Checked above: pydicom's value validation would only repeat it.
            ds._dict[BaseTag(tag)] = DataElement(tag, vr, value,
                                                 validation_mode=config.IGNORE)
        ds.set_original_encoding(True, True, default_encoding)
        return ds

    def decode_data_set(bytestring: Any, is_implicit_vr: bool, is_little_endian: bool,
                        deflated: bool = False) -> Any:
        if not deflated:
            ds = read_plain_dataset(bytestring.getvalue(), is_implicit_vr, is_little_endian)
            if ds is not None:
                return ds
        return pydicom_decode(bytestring, is_implicit_vr, is_little_endian, deflated)

    encode.qrscope_fast = True  # type: ignore[attr-defined]
    dimse_messages.encode = encode  # type: ignore[assignment]
    dimse_messages.decode = decode  # type: ignore[assignment]
    association.decode = decode_data_set  # type: ignore[assignment]
    dimse_messages.create_file_meta = create_file_meta  # type: ignore[assignment]
    dimse_messages.write_file_meta_info = write_file_meta_info  # type: ignore[assignment]


READ_SIZE = 1 << 20


def install_large_reads() -> None:
    """Have pynetdicom read a PDU from its socket in large pieces, not 4096 bytes at a time.

    ``AssociationSocket.recv(nr_bytes)`` loops over ``socket.recv(4096)``: a
    256 KiB PDU took 64 system calls, each followed by our quick-ACK re-arm
    (:mod:`qrscope.core.net.tcp`) and the listener guard's bookkeeping. This
    reads what the kernel has, up to what is still missing, through the same
    ``socket.recv`` (so the wrappers still see every byte), returning what
    pynetdicom's own returns: all *nr_bytes*, or what came before the peer
    closed. No public setting exists.
    """
    from pynetdicom.transport import AssociationSocket

    if getattr(AssociationSocket.recv, "qrscope_large", False):
        return

    def recv(self: Any, nr_bytes: int) -> bytearray:
        sock = self.socket
        data = bytearray()
        while len(data) < nr_bytes:
            piece = sock.recv(min(nr_bytes - len(data), READ_SIZE))
            if not piece:
                break
            data += piece
        return data

    recv.qrscope_large = True  # type: ignore[attr-defined]
    AssociationSocket.recv = recv  # type: ignore[method-assign]


def pause_requested(assoc: Any) -> bool:
    """Whether a ``send_*`` call has asked the association's reactor to pause.

    pynetdicom clears ``_reactor_checkpoint`` before it sends a request whose
    responses it reads itself, and sets it again after the last one.
    """
    return not assoc._reactor_checkpoint.is_set()


def wait_until_sent(assoc: Any, timeout: float) -> None:
    """Wait until the association's queued PDUs have left, so the peer's next PDU is read.

    pynetdicom's DUL thread either sends one queued PDU *or* reads the
    socket on each turn of its loop, sending first. An SCP handler that
    yields responses faster than the DUL sends keeps that queue full, so a
    C-CANCEL is only read after the last match has gone, i.e. never
    honoured. There is no public way to see the queue (``to_provider_queue``
    of the DUL); on a release without it this returns at once and the
    handler is not held back. The wait is bounded so a peer that stops
    reading is left to the network timeout.
    """
    pending = getattr(getattr(assoc, "dul", None), "to_provider_queue", None)
    if pending is None or not hasattr(pending, "empty"):
        return
    deadline = time.monotonic() + timeout
    while not pending.empty() and time.monotonic() < deadline:
        time.sleep(0.0005)
