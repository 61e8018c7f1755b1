"""Every buffer a listener peer fills on the wire is bounded (issue 19).

One test per attack seen on loopback: command fragments never marked last,
a response's data set sent to the listener, fragments of one message on
other presentation contexts, an oversized UID in a command, and a P-DATA PDU
dripped a byte a second. The attacker connects from 127.0.0.2, the sender
we want to keep serving from 127.0.0.1. The listener's two engine paths are
both attacked where their code differs: the data lane (the association log
records no PDUs) and pynetdicom's own (it does, ``set_debug(True)``).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import time
from collections.abc import Iterable, Iterator

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ImplicitVRLittleEndian, generate_uid
from pynetdicom.dsutils import encode
from pynetdicom.sop_class import CTImageStorage
from tests.core.listener_peers import (
    ATTACKER,
    PeakMemory,
    associated,
    first_recovery,
    p_data,
    running_listener,
    store,
)

from qrscope.core.listener import StorageListener
from qrscope.core.listener_guard import ListenerLimits

LIMITS = ListenerLimits()
FLOOD_BYTES = 200 << 20  # what an attacker tries to make the listener hold
FLOOD_SECONDS = 15.0  # ... for at most this long
FRAGMENT = 16 << 10  # the fragment size of Orthanc's and pynetdicom's PDUs
ENDED_WITHIN = 5.0  # seconds from the offending fragment to the closed connection
ENGINES = [pytest.param(False, id="data-lane"), pytest.param(True, id="pynetdicom")]
COMMAND, LAST = 0x01, 0x02  # PS3.8 E.2: the message control header's bits


@pytest.fixture(params=ENGINES)
def listener(request, tmp_path) -> Iterator[StorageListener]:
    for running in running_listener(tmp_path, [ATTACKER]):
        running.set_debug(request.param)
        yield running


# -- command sets, by hand (implicit VR little endian, PS3.7 6.3.1) -------------------
def _element(element: int, value: bytes) -> bytes:
    return struct.pack("<HHL", 0, element, len(value)) + value


def _uid(value: str) -> bytes:
    data = value.encode("ascii")
    return data + b"\x00" if len(data) % 2 else data


def _command(*elements: tuple[int, bytes]) -> bytes:
    body = b"".join(_element(element, value) for element, value in elements)
    return _element(0x0000, struct.pack("<L", len(body))) + body


def _echo_request(sop_class: bytes = _uid("1.2.840.10008.1.1")) -> bytes:
    return _command((0x0002, sop_class), (0x0100, b"\x30\x00"), (0x0110, b"\x01\x00"),
                    (0x0800, b"\x01\x01"))


def _find(field: int) -> bytes:
    """A C-FIND request or response (field 0x0020 or 0x8020) announcing a data set."""
    message_id = 0x0110 if field == 0x0020 else 0x0120
    elements = [(0x0002, _uid("1.2.840.10008.1.1")), (0x0100, struct.pack("<H", field)),
                (message_id, b"\x01\x00"), (0x0800, b"\x01\x00")]
    if field == 0x8020:
        elements.append((0x0900, b"\x00\xff"))  # pending
    else:
        elements.insert(3, (0x0700, b"\x00\x00"))
    return _command(*elements)


def _store_request(instance_uid: str) -> bytes:
    return _command((0x0002, _uid(CTImageStorage)), (0x0100, b"\x01\x00"),
                    (0x0110, b"\x01\x00"), (0x0700, b"\x00\x00"), (0x0800, b"\x01\x00"),
                    (0x1000, _uid(instance_uid)))


def _small_ct(instance_uid: str | None = None) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = instance_uid or generate_uid()
    ds.PatientID, ds.PatientName = "WIRE", "Wire^Bounds"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "CT"
    return ds


# -- the attacker's side ----------------------------------------------------------------
def _fragments(control: int, total: int = FLOOD_BYTES) -> Iterator[bytes]:
    """P-DATA-TF PDUs of one fragment each, never marked last, *total* bytes in all."""
    pdu = p_data(1, control, bytes(FRAGMENT))
    for _ in range(total // FRAGMENT):
        yield pdu


def _flood(sock: socket.socket, pdus: Iterable[bytes]) -> int:
    """Send *pdus* until the listener stops reading or FLOOD_SECONDS pass; bytes it took."""
    sent = 0
    deadline = time.monotonic() + FLOOD_SECONDS
    sock.settimeout(2)
    try:
        for pdu in pdus:
            sock.sendall(pdu)
            sent += len(pdu)
            if time.monotonic() > deadline:
                break
    except OSError:
        pass
    return sent


def _ending(sock: socket.socket, within: float = ENDED_WITHIN) -> bytes | None:
    """What the listener sends until it closes *sock*; None when it is still open."""
    received = b""
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return None
        except OSError:
            return received
        if not data:
            return received
        received += data
    return None


def _assert_aborted(listener: StorageListener, sock: socket.socket, caplog, words: str) -> None:
    """An A-ABORT came and the connection closed; the Python log and the association
    log say *words*; the known sender then stores within 1 s."""
    ended = _ending(sock)
    assert ended is not None, f"the connection is still open {ENDED_WITHIN:g} s later"
    assert ended[:1] == b"\x07", f"no A-ABORT, but {ended[:6].hex()}"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(words in message for message in warnings), warnings
    lines = [e.summary for e in listener.log.events() if e.kind == "aborted"]
    assert any(line.startswith("aborted: ") and words in line for line in lines), lines
    port = listener.port
    assert first_recovery(lambda: store(port, [_small_ct()]) == [0x0000]) is not None


# -- the attacks ---------------------------------------------------------------------------
def test_a_command_set_without_its_last_fragment_is_refused_at_the_limit(listener, caplog):
    caplog.set_level(logging.WARNING)
    with PeakMemory() as memory, associated(listener.port) as sock:
        started = time.monotonic()
        took = _flood(sock, _fragments(COMMAND))
        _assert_aborted(listener, sock, caplog, "command set passed 64 KiB")
    assert time.monotonic() - started < ENDED_WITHIN + 2, "not aborted in bounded time"
    assert took < 16 << 20, f"the listener read {took >> 20} MiB of one command set"
    assert memory.growth_mb < 32, f"memory grew {memory.growth_mb:.0f} MB"


@pytest.mark.parametrize(("field", "words"), [
    pytest.param(0x8020, "sent a C-FIND-RSP", id="C-FIND-RSP"),
    pytest.param(0x0020, "C-FIND-RQ's data set passed 1 MiB", id="C-FIND-RQ"),
])
def test_a_data_set_other_than_a_stores_is_bounded(listener, caplog, field, words):
    caplog.set_level(logging.WARNING)
    with PeakMemory() as memory, associated(listener.port) as sock:
        sock.sendall(p_data(1, COMMAND | LAST, _find(field)))
        took = _flood(sock, _fragments(0x00))
        _assert_aborted(listener, sock, caplog, words)
    assert took < 16 << 20, f"the listener read {took >> 20} MiB of one identifier"
    assert memory.growth_mb < 32, f"memory grew {memory.growth_mb:.0f} MB"


@pytest.mark.parametrize("other", [3, 7, 0, 255])
def test_a_fragment_on_another_presentation_context_is_not_merged(listener, caplog, other):
    caplog.set_level(logging.WARNING)
    ct = _small_ct()
    data = encode(ct, True, True)
    with associated(listener.port, CTImageStorage, ImplicitVRLittleEndian) as sock:
        sock.sendall(p_data(1, COMMAND | LAST, _store_request(ct.SOPInstanceUID)))
        sock.sendall(p_data(1, 0x00, data[:40]))
        sock.sendall(p_data(other, LAST, data[40:]))
        _assert_aborted(listener, sock, caplog, f"presentation context {other}")
    assert listener.received == 1, "the merged data set was stored"


def test_an_oversized_uid_in_a_command_is_refused_and_said_why(listener, caplog):
    caplog.set_level(logging.WARNING)
    command = _echo_request(_uid("1." + "2" * (LIMITS.max_command_length + 1)))
    pieces = [command[n:n + FRAGMENT] for n in range(0, len(command), FRAGMENT)]
    with associated(listener.port) as sock:
        with contextlib.suppress(OSError):  # the listener may have closed before the last
            for n, piece in enumerate(pieces):
                sock.sendall(p_data(1, COMMAND | (LAST if n == len(pieces) - 1 else 0), piece))
        _assert_aborted(listener, sock, caplog, "command set passed 64 KiB")


@pytest.fixture
def one_listener(tmp_path) -> Iterator[StorageListener]:
    """For an attack on the guard's socket alone, which both engine paths share."""
    yield from running_listener(tmp_path, [ATTACKER])


def test_a_p_data_dripped_a_byte_a_second_is_dropped_within_10_s(one_listener, caplog):
    caplog.set_level(logging.WARNING)
    listener = one_listener
    with associated(listener.port) as sock:
        pdu = p_data(1, COMMAND | LAST, _echo_request())
        sock.sendall(pdu[:6])  # the header at once, then the body a byte a second
        started = time.monotonic()
        closed_after = None
        for byte in pdu[6:18]:
            try:
                sock.send(bytes([byte]))
            except OSError:
                closed_after = time.monotonic() - started
                break
            if _ending(sock, 1.0) is not None:
                closed_after = time.monotonic() - started
                break
        assert closed_after is not None and closed_after < 10, \
            f"a PDU of {len(pdu) - 6} bytes dripped at 1 byte/s still open after 12 s"
    lines = [e.summary for e in listener.log.events() if e.kind == "dropped"]
    assert any(line.startswith("closed: the peer sent a PDU too slowly") for line in lines), \
        lines
    assert first_recovery(lambda: store(listener.port, [_small_ct()]) == [0]) is not None


def test_the_pdu_deadline_lets_a_slow_wan_pass_a_full_pdu():
    # 64 kbit/s, the slowest link a PACS is still run over (ISDN, a congested VPN).
    slow_wan = 64_000 / 8
    assert LIMITS.pdu_seconds(LIMITS.max_pdu_length) > LIMITS.max_pdu_length / slow_wan
    assert LIMITS.pdu_seconds(100) < 10
