"""Reproducer: a send_c_store() whose response the association reactor took stalls.

Runs against stock pynetdicom (no other dependency than pydicom). A Storage
SCP on loopback answers each C-STORE at once; the SCU sends the same small
CT image again and again, as a send of a study does, and stops at the first
C-STORE that got no response. With pynetdicom 3.0.4 one does: the SCU's
reactor thread took the C-STORE response off the DIMSE queue while
send_c_store() was starting (the race of 0001-response-race.patch) and
dropped it with "Received unexpected C-STORE service message";
send_c_store() then waits out the DIMSE timeout and aborts the association,
although the peer stored the instance. Exit status 1 when that happened.

Against Orthanc on a loaded machine this stopped a 1000-instance send
within its first hundred instances in most runs (the peer's idle timeout,
30 s, ended the wait). Unaided on loopback it is rare; --preempt makes the
reactor thread lose the CPU for 5 ms right after it passes its checkpoint,
as it does when the interpreter hands the GIL to another thread there.

    python repro_store_stall.py [--preempt] [seconds]
"""

import socket
import sys
import threading
import time

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import CTImageStorage

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


def ct_image() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.PatientID = "STALL"
    ds.Rows = ds.Columns = 64
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(64 * 64 * 2)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def main(seconds: float, preempt: bool) -> int:
    stored = []
    scp = AE("SCP")
    scp.add_supported_context(CTImageStorage, ExplicitVRLittleEndian)
    server = scp.start_server(
        ("127.0.0.1", 0),
        block=False,
        evt_handlers=[
            (evt.EVT_C_STORE, lambda event: stored.append(1) or 0x0000),
            (evt.EVT_CONN_OPEN, no_delay),
        ],
    )
    scu = AE("SCU")
    scu.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    scu.dimse_timeout = 5  # a lost response: send_c_store() waits this long, then aborts
    assoc = scu.associate(
        "127.0.0.1", server.server_address[1], evt_handlers=[(evt.EVT_CONN_OPEN, no_delay)]
    )
    if preempt:
        checkpoint = PreemptedCheckpoint()
        checkpoint.set()
        assoc._reactor_checkpoint = checkpoint
    ds = ct_image()
    sent = 0
    lost = None
    start = time.monotonic()
    try:
        while time.monotonic() - start < seconds and assoc.is_established:
            waited = time.monotonic()
            status = assoc.send_c_store(ds)
            sent += 1
            if "Status" not in status:
                lost = time.monotonic() - waited
                break
    finally:
        if assoc.is_established:
            assoc.release()
        server.shutdown()
    print(f"{sent} C-STOREs in {time.monotonic() - start:.1f} s, the peer stored {len(stored)}"
          + (f"; C-STORE {sent} got no response: send_c_store() waited {lost:.1f} s and the"
             " association was aborted" if lost is not None else ""))
    return 1 if lost is not None else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    preempt = "--preempt" in args
    args = [arg for arg in args if arg != "--preempt"]
    sys.exit(main(float(args[0]) if args else 10.0, preempt))
