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
import time
from collections.abc import Iterable, Iterator

import pytest
from pydicom.uid import ImplicitVRLittleEndian
from pynetdicom.dsutils import encode
from pynetdicom.sop_class import CTImageStorage
from tests.core.listener_peers import (
    ATTACKER,
    PeakMemory,
    associated,
    echo_request,
    find_message,
    first_recovery,
    p_data,
    running_listener,
    small_ct,
    store,
    store_request,
    uid_value,
)

from qrscope.core.receive.guard import ListenerLimits
from qrscope.core.receive.listener import StorageListener

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
    assert first_recovery(lambda: store(port, [small_ct()]) == [0x0000]) is not None


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
        sock.sendall(p_data(1, COMMAND | LAST, find_message(field)))
        took = _flood(sock, _fragments(0x00))
        _assert_aborted(listener, sock, caplog, words)
    assert took < 16 << 20, f"the listener read {took >> 20} MiB of one identifier"
    assert memory.growth_mb < 32, f"memory grew {memory.growth_mb:.0f} MB"


@pytest.mark.parametrize("other", [3, 7, 0, 255])
def test_a_fragment_on_another_presentation_context_is_not_merged(listener, caplog, other):
    caplog.set_level(logging.WARNING)
    ct = small_ct()
    data = encode(ct, True, True)
    with associated(listener.port, CTImageStorage, ImplicitVRLittleEndian) as sock:
        sock.sendall(p_data(1, COMMAND | LAST, store_request(ct.SOPInstanceUID)))
        sock.sendall(p_data(1, 0x00, data[:40]))
        sock.sendall(p_data(other, LAST, data[40:]))
        _assert_aborted(listener, sock, caplog, f"presentation context {other}")
    assert listener.received == 1, "the merged data set was stored"


def test_an_oversized_uid_in_a_command_is_refused_and_said_why(listener, caplog):
    caplog.set_level(logging.WARNING)
    command = echo_request(uid_value("1." + "2" * (LIMITS.max_command_length + 1)))
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
        pdu = p_data(1, COMMAND | LAST, echo_request())
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
    assert first_recovery(lambda: store(listener.port, [small_ct()]) == [0]) is not None


def test_the_pdu_deadline_lets_a_slow_wan_pass_a_full_pdu():
    # 64 kbit/s, the slowest link a PACS is still run over (ISDN, a congested VPN).
    slow_wan = 64_000 / 8
    assert LIMITS.pdu_seconds(LIMITS.max_pdu_length) > LIMITS.max_pdu_length / slow_wan
    assert LIMITS.pdu_seconds(100) < 10
