"""Well-behaved and hostile peers of the storage listener, all on loopback.

Every connection goes to 127.0.0.1. Hostile peers connect *from* other
loopback addresses (127.0.0.2 and up, which Linux routes without any
set-up) so that the per-address limits can tell them from the sender we
want to keep serving, as they would tell a scanner from the PACS.
Everything here is bounded in count and time and closes what it opens.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ImplicitVRLittleEndian, generate_uid
from pynetdicom import AE, build_context
from pynetdicom.pdu import A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import A_ASSOCIATE, MaximumLengthNotification
from pynetdicom.sop_class import CTImageStorage, Verification
from pynetdicom.transport import AddressInformation
from tests.demo_site import free_port

from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.receive.guard import ListenerLimits
from qrscope.core.receive.listener import StorageListener
from qrscope.core.security import AcceptPolicy

LISTENER_HOST = "127.0.0.1"
SENDER = "127.0.0.1"
ATTACKER = "127.0.0.2"


def require_loopback_sources(*addresses: str) -> None:
    """Skip when this system cannot send from the given loopback addresses (macOS)."""
    for address in addresses:
        with socket.socket() as sock:
            try:
                sock.bind((address, 0))
            except OSError:
                pytest.skip(f"cannot send from {address} on this system")


def connect(port: int, source: str = ATTACKER, timeout: float = 2.0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect((LISTENER_HOST, port))
    return sock


def is_closed_by_peer(sock: socket.socket, within: float) -> bool:
    """True when the listener closes *sock* (EOF or reset) within *within* seconds.

    Anything it sends first (an A-ABORT) is read and ignored.
    """
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except OSError:
            return True
    return False


@contextlib.contextmanager
def open_connections(port: int, count: int,
                     source: str = ATTACKER) -> Iterator[list[socket.socket]]:
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            socks.append(connect(port, source))
        yield socks
    finally:
        for sock in socks:
            sock.close()


# -- PDUs ------------------------------------------------------------------------------
def association_request(port: int, called: str = "QRSCOPE", calling: str = "FUZZER",
                        abstract_syntax: str = Verification, transfer_syntax: str | None = None,
                        source: str = ATTACKER, contexts: int = 1,
                        syntaxes: int = 1) -> bytes:
    """The bytes of a valid A-ASSOCIATE-RQ proposing *contexts* contexts (Verification).

    With *syntaxes* above 1 each context also proposes that many made-up
    transfer syntaxes: a large request (128 contexts of 26 syntaxes is
    about 113 KB) that costs the listener as much as any.
    """
    primitive = A_ASSOCIATE()
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"
    primitive.calling_ae_title = calling
    primitive.called_ae_title = called
    primitive.calling_presentation_address = AddressInformation(source, 0)
    primitive.called_presentation_address = AddressInformation(LISTENER_HOST, port)
    proposed = []
    for n in range(contexts):
        extra = [f"1.2.826.0.1.3680043.10.1.{n}.{k}" for k in range(syntaxes - 1)]
        context = build_context(abstract_syntax, [transfer_syntax or "1.2.840.10008.1.2",
                                                  *extra])
        context.context_id = 2 * n + 1
        proposed.append(context)
    primitive.presentation_context_definition_list = proposed
    item = MaximumLengthNotification()
    item.maximum_length_received = 16382
    primitive.user_information = [item]
    pdu = A_ASSOCIATE_RQ()
    pdu.from_primitive(primitive)
    return bytes(pdu.encode())


def pdu_header(pdu_type: int, length: int) -> bytes:
    return struct.pack(">BBL", pdu_type, 0, length)


def p_data(context_id: int, control: int, fragment: bytes) -> bytes:
    """A P-DATA-TF PDU of one presentation data value (PS3.8 9.3.5, E.2)."""
    value = struct.pack(">LBB", len(fragment) + 2, context_id, control) + fragment
    return pdu_header(0x04, len(value)) + value


def associated(port: int, abstract_syntax: str = Verification,
               transfer_syntax: str | None = None, source: str = ATTACKER) -> socket.socket:
    """A raw socket whose association (one context, ID 1) the listener accepted."""
    sock = connect(port, source, timeout=5)
    try:
        sock.sendall(association_request(port, abstract_syntax=abstract_syntax,
                                         transfer_syntax=transfer_syntax, source=source))
        header = sock.recv(6, socket.MSG_WAITALL)
        assert header[:1] == b"\x02", f"not accepted: {header.hex()}"
        sock.recv(struct.unpack(">L", header[2:])[0], socket.MSG_WAITALL)
    except BaseException:
        sock.close()
        raise
    return sock


# -- command sets, by hand (implicit VR little endian, PS3.7 6.3.1) -------------------
def command_element(element: int, value: bytes) -> bytes:
    return struct.pack("<HHL", 0, element, len(value)) + value


def uid_value(value: str) -> bytes:
    data = value.encode("ascii")
    return data + b"\x00" if len(data) % 2 else data


def command_set(*elements: tuple[int, bytes]) -> bytes:
    body = b"".join(command_element(element, value) for element, value in elements)
    return command_element(0x0000, struct.pack("<L", len(body))) + body


def echo_request(sop_class: bytes = uid_value("1.2.840.10008.1.1")) -> bytes:
    return command_set((0x0002, sop_class), (0x0100, b"\x30\x00"), (0x0110, b"\x01\x00"),
                       (0x0800, b"\x01\x01"))


def find_message(field: int) -> bytes:
    """A C-FIND request or response (field 0x0020 or 0x8020) announcing a data set."""
    message_id = 0x0110 if field == 0x0020 else 0x0120
    elements = [(0x0002, uid_value("1.2.840.10008.1.1")), (0x0100, struct.pack("<H", field)),
                (message_id, b"\x01\x00"), (0x0800, b"\x01\x00")]
    if field == 0x8020:
        elements.append((0x0900, b"\x00\xff"))  # pending
    else:
        elements.insert(3, (0x0700, b"\x00\x00"))
    return command_set(*elements)


def store_request(instance_uid: str, sop_class: str = CTImageStorage) -> bytes:
    return command_set((0x0002, uid_value(sop_class)), (0x0100, b"\x01\x00"),
                       (0x0110, b"\x01\x00"), (0x0700, b"\x00\x00"), (0x0800, b"\x01\x00"),
                       (0x1000, uid_value(instance_uid)))


def small_ct(instance_uid: str | None = None) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = instance_uid or generate_uid()
    ds.PatientID, ds.PatientName = "WIRE", "Wire^Bounds"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "CT"
    return ds


# -- well-behaved sender ---------------------------------------------------------------
def _ae(timeout: float, ae_title: str = "SENDER") -> AE:
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    return ae


def echo(port: int, source: str = SENDER, timeout: float = 3.0) -> bool:
    """One C-ECHO; True when the listener answered success."""
    ae = _ae(timeout)
    ae.add_requested_context(Verification)
    assoc = ae.associate(LISTENER_HOST, port, ae_title="QRSCOPE", bind_address=(source, 0))
    if not assoc.is_established:
        return False
    try:
        status = assoc.send_c_echo()
        return bool(status) and status.Status == 0x0000
    finally:
        assoc.release()


def store(port: int, datasets: list[Dataset], source: str = SENDER,
          timeout: float = 5.0) -> list[int]:
    """C-STORE every data set on one association; the statuses (-1 when none came)."""
    ae = _ae(timeout)
    for sop_class, syntax in {(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID))
                              for ds in datasets}:
        ae.add_requested_context(sop_class, [syntax])
    assoc = ae.associate(LISTENER_HOST, port, ae_title="QRSCOPE", bind_address=(source, 0))
    if not assoc.is_established:
        return [-1] * len(datasets)
    statuses = []
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            statuses.append(int(status.Status) if status and "Status" in status else -1)
    finally:
        assoc.release()
    return statuses


@contextlib.contextmanager
def held_echo_associations(port: int, sources: list[str], per_source: int,
                           ae_title: str = "STRANGER") -> Iterator[list]:
    """Associations that propose only Verification and stay open until the block ends.

    Those the listener refuses are not held; the held ones are aborted at the end.
    """
    ae = _ae(5.0, ae_title)
    ae.add_requested_context(Verification)
    held = []
    try:
        for source in sources:
            for _ in range(per_source):
                assoc = ae.associate(LISTENER_HOST, port, ae_title="QRSCOPE",
                                     bind_address=(source, 0))
                if assoc.is_established:
                    held.append(assoc)
        yield held
    finally:
        for assoc in held:
            assoc.abort()


def first_recovery(check, within: float = 1.0) -> float | None:
    """Seconds until *check()* first succeeds, trying for *within* seconds; None if never."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if check():
            return time.monotonic() - started
    return None


def load_study(folder: Path) -> list[Dataset]:
    """The instances of the first study in a folder built by ``build_sample_studies``."""
    files = sorted(folder.rglob("*.dcm"))
    study = str(dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
    chosen = [dcmread(path) for path in files]
    return [ds for ds in chosen if str(ds.StudyInstanceUID) == study]


# -- memory ----------------------------------------------------------------------------
class PeakMemory:
    """Samples this process's resident set size every 10 ms while it runs."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.start_rss = self._process.memory_info().rss
        self.peak_rss = self.start_rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="PeakMemory", daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak_rss = max(self.peak_rss, self._process.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak_rss - self.start_rss) / 2**20

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(1)
        self.peak_rss = max(self.peak_rss, self._process.memory_info().rss)


KNOWN_SENDER = RemoteNode(name="sender", ae_title="SENDER", host=SENDER, port=104)
"""The well-behaved sender (:func:`store`, :func:`echo`) as a configured node."""


def running_listener(tmp_path: Path, sources: list[str],
                     limits: ListenerLimits | None = None,
                     accept: AcceptPolicy = AcceptPolicy.ANY) -> Iterator[StorageListener]:
    """A listener on loopback; *sources* must be usable.

    It stores from any caller, or with ``accept=AcceptPolicy.KNOWN`` (the
    default of qrscope itself) from :data:`KNOWN_SENDER` only.
    """
    require_loopback_sources(*sources)
    local = LocalAE(ae_title="QRSCOPE", listener_port=free_port(), bind_address="127.0.0.1",
                    storage_folder=tmp_path / "received", accept=accept)
    with StorageListener(local, AssociationLog(), limits=limits,
                         known_nodes=lambda: [KNOWN_SENDER]) as running:
        yield running
