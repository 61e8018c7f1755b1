"""Reproducer: the association reactor takes a response meant for send_c_find().

Runs against stock pynetdicom (no other dependency than pydicom). A C-FIND SCP
on loopback answers each request at once with MATCHES pending responses; the
SCU sends the same request again and again and counts the searches that
yielded fewer pending responses than were sent. With pynetdicom 3.0.4 some
do: the SCU's reactor thread took the response off the DIMSE queue while
send_c_find() was starting, and dropped it with "Received unexpected C-FIND
service message". Exit status 1 when a response went missing.

The window is a few bytecodes wide, so unaided it is hit about once in a
thousand searches here (a busy process, with a GUI thread or a second
association contending for the GIL, hits it far more often). --preempt
makes it the rule by having the reactor thread lose the CPU for 5 ms right
after it passes its checkpoint, as it does whenever the interpreter hands
the GIL to another thread at that point (the switch interval is 5 ms); the
pynetdicom code that runs is unchanged.

    python repro_response_race.py [--preempt] [seconds]
"""

import socket
import sys
import threading
import time

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as FIND

MATCHES = 3
PREEMPTED = 0.005  # one GIL switch interval, sys.getswitchinterval()


def no_delay(event):
    """Send each PDU at once, as most DICOM toolkits do (DCMTK, dcm4che)."""
    event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class PreemptedCheckpoint(threading.Event):
    """The reactor's checkpoint, after which its thread loses the CPU for a while."""

    def wait(self, timeout=None):
        passed = super().wait(timeout)
        time.sleep(PREEMPTED)
        return passed


def on_find(event):
    for number in range(MATCHES):
        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        ds.StudyInstanceUID = f"1.2.3.{number}"
        yield 0xFF00, ds


def main(seconds: float, preempt: bool) -> int:
    scp = AE("SCP")
    scp.add_supported_context(FIND)
    server = scp.start_server(
        ("127.0.0.1", 0),
        block=False,
        evt_handlers=[(evt.EVT_C_FIND, on_find), (evt.EVT_CONN_OPEN, no_delay)],
    )
    scu = AE("SCU")
    scu.add_requested_context(FIND)
    scu.dimse_timeout = 5  # a lost final response: send_c_find() waits this long, then aborts
    assoc = scu.associate(
        "127.0.0.1", server.server_address[1], evt_handlers=[(evt.EVT_CONN_OPEN, no_delay)]
    )
    if preempt:
        checkpoint = PreemptedCheckpoint()
        checkpoint.set()
        assoc._reactor_checkpoint = checkpoint
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ""
    searches = short = 0
    first_short = None
    start = time.monotonic()
    try:
        while time.monotonic() - start < seconds and assoc.is_established:
            pending = sum(
                1 for status, _ in assoc.send_c_find(query, FIND)
                if status.get("Status") == 0xFF00
            )
            searches += 1
            if pending != MATCHES:
                short += 1
                if first_short is None:
                    first_short = time.monotonic() - start
    finally:
        aborted = assoc.is_aborted
        if assoc.is_established:
            assoc.release()
        server.shutdown()
    elapsed = time.monotonic() - start
    print(f"{searches} searches in {elapsed:.1f} s, {short} missed a pending response"
          + (f" (first after {first_short:.2f} s)" if first_short is not None else "")
          + ("; the final response of one was lost: the association was aborted at the DIMSE"
             " timeout" if aborted else ""))
    return 1 if short or aborted else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    preempt = "--preempt" in args
    args = [arg for arg in args if arg != "--preempt"]
    sys.exit(main(float(args[0]) if args else 10.0, preempt))
