"""Reproducer: the SCP's A-ASSOCIATE-AC meets a DUL that has already aborted.

Runs against stock pynetdicom (no other dependency than pydicom). An SCP on
loopback takes DELAY seconds to decide on each association request, in an
``EVT_REQUESTED`` handler, as an SCP that looks the peer up somewhere does.
A raw socket client sends an A-ASSOCIATE-RQ and, without waiting for the
answer, a burst of A-RELEASE-RQ PDUs, as a broken or hostile peer (or a
fuzzer) does. The first A-RELEASE-RQ is unexpected in Sta3: the SCP's DUL
sends an A-ABORT and goes to Sta13 (AA-8), where it ignores the rest of the
burst (AA-6) while it reads it. Then the association thread, still on the
request, queues its A-ASSOCIATE-AC (Evt7). PS3.8 Table 9-10 has no action
for Evt7 in Sta13; pynetdicom 3.0.4 raises ``InvalidEventError`` in the DUL
thread, which dies with a traceback, and the connection is not closed by
the DUL but only once the association thread notices the DUL has died.

With the patch the A-ASSOCIATE-AC is discarded with a warning and the DUL
closes the connection itself (AA-2, as when the ARTIM timer expires).

The round is repeated (50 times by default). Threads that died with an
exception are counted through ``threading.excepthook``; the rounds where
the SCP did not close the connection within 2 s of the burst are counted
too. Exit status 1 if a thread died.

    python repro_local_request_after_abort.py [rounds]
"""

import logging
import socket
import struct
import sys
import threading
import time

from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification

DELAY = 0.02  # the SCP's EVT_REQUESTED handler
BURST = 3000  # A-RELEASE-RQ PDUs after the A-ASSOCIATE-RQ
CLOSE_WITHIN = 2.0


def _item(item_type: int, value: bytes) -> bytes:
    return struct.pack(">BBH", item_type, 0, len(value)) + value


def associate_rq(called: bytes, calling: bytes) -> bytes:
    """An A-ASSOCIATE-RQ PDU (PS3.8 9.3.2) proposing Verification."""
    variable = _item(0x10, b"1.2.840.10008.3.1.1.1")  # Application Context
    variable += _item(
        0x20,  # Presentation Context: ID 1, Verification, Implicit VR LE
        b"\x01\x00\x00\x00"
        + _item(0x30, Verification.encode())
        + _item(0x40, b"1.2.840.10008.1.2"),
    )
    variable += _item(0x50, _item(0x51, struct.pack(">L", 16384)))  # User Information
    fixed = struct.pack(">HH", 1, 0) + called.ljust(16) + calling.ljust(16) + bytes(32)
    body = fixed + variable
    return struct.pack(">BBL", 0x01, 0, len(body)) + body


RELEASE_RQ = struct.pack(">BBLL", 0x05, 0, 4, 0)


def one_round(port: int) -> float | None:
    """Send the request and the burst; return how long the SCP took to close."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(associate_rq(b"SCP", b"FUZZER") + RELEASE_RQ * BURST)
        sent = time.monotonic()
        sock.settimeout(CLOSE_WITHIN)
        try:
            while sock.recv(65536):
                pass
        except (TimeoutError, ConnectionResetError):
            return None
        return time.monotonic() - sent


def main(rounds: int) -> int:
    logging.basicConfig(level=logging.CRITICAL)
    died = []
    threading.excepthook = lambda args: died.append(
        f"{args.exc_type.__name__}: {args.exc_value}")

    scp = AE("SCP")
    scp.add_supported_context(Verification)
    server = scp.start_server(
        ("127.0.0.1", 0),
        block=False,
        evt_handlers=[(evt.EVT_REQUESTED, lambda event: time.sleep(DELAY))],
    )
    port = server.server_address[1]
    closed = []
    try:
        for _ in range(rounds):
            took = one_round(port)
            if took is not None:
                closed.append(took)
    finally:
        server.shutdown()

    print(f"rounds: {rounds}")
    print(f"DUL threads that died: {len(died)}")
    for reason in sorted(set(died)):
        print(f"  {died.count(reason)} x {reason}")
    print(f"connections not closed by the SCP within {CLOSE_WITHIN:.0f} s: {rounds - len(closed)}")
    if closed:
        print(f"closed after the burst in {1000 * sum(closed) / len(closed):.1f} ms on average")
    return 1 if died else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50))
