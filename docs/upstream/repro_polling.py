"""Reproducer: pynetdicom's reactor threads poll every millisecond.

Runs against stock pynetdicom. One process holds both ends of an association
on loopback (an SCP and an SCU, TCP_NODELAY as DICOM toolkits set it) and
measures:

* the CPU time the idle association costs (both ends, four reactor threads)
  per second of wall time, with nothing sent;
* the mean round trip of a C-ECHO;
* the mean time per response of a C-FIND answered with 100 matches.

With pynetdicom 3.0.4 the DUL threads sleep ``_run_loop_delay`` (1 ms) and
the association threads ``time.sleep(0.001)`` whenever they found nothing to
do, so an idle association keeps the CPU busy and every PDU waits for the
sleeping thread that must handle it. Exit status 1 when the idle association
costs more than 1% of a core.

    python repro_polling.py [seconds idle]
"""

import socket
import sys
import time

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as FIND
from pynetdicom.sop_class import Verification

ECHOES = 500
MATCHES = 100
FINDS = 20


def no_delay(event):
    event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def on_find(event):
    for number in range(MATCHES):
        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        ds.StudyInstanceUID = f"1.2.3.{number}"
        yield 0xFF00, ds


def main(idle_seconds: float) -> int:
    scp = AE("SCP")
    scp.add_supported_context(Verification)
    scp.add_supported_context(FIND)
    handlers = [(evt.EVT_CONN_OPEN, no_delay)]
    server = scp.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=[*handlers, (evt.EVT_C_FIND, on_find)]
    )
    scu = AE("SCU")
    scu.add_requested_context(Verification)
    scu.add_requested_context(FIND)
    scu.dimse_timeout = 5
    assoc = scu.associate("127.0.0.1", server.server_address[1], evt_handlers=handlers)
    try:
        time.sleep(0.5)  # let both ends settle
        cpu, wall = time.process_time(), time.perf_counter()
        time.sleep(idle_seconds)
        idle = (time.process_time() - cpu) / (time.perf_counter() - wall)

        start = time.perf_counter()
        for _ in range(ECHOES):
            if not assoc.send_c_echo():  # an empty status: the response was lost
                print("a C-ECHO response was lost (see repro_response_race.py): run again")
                return 2
        echo = (time.perf_counter() - start) / ECHOES

        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = ""
        responses = 0
        start = time.perf_counter()
        for _ in range(FINDS):
            responses += sum(1 for _ in assoc.send_c_find(query, FIND))
        find = (time.perf_counter() - start) / responses
    finally:
        if assoc.is_established:
            assoc.release()
        server.shutdown()
    print(f"idle association: {idle * 100:.1f}% of a core (both ends)")
    print(f"C-ECHO round trip: {echo * 1000:.2f} ms (mean of {ECHOES})")
    print(f"C-FIND: {find * 1000:.3f} ms per response ({responses} responses)")
    return 1 if idle > 0.01 else 0


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0))
