"""Reproducer: AssociationSocket.recv() reads a PDU 4096 bytes at a time.

Runs against stock pynetdicom. An SCP on loopback receives a C-STORE of a
1 MiB data set; its socket is wrapped to count the calls to socket.recv()
made while the data set arrives. Done twice: with the SCP's maximum PDU
length at pynetdicom's default (16382 bytes) and at 1 MiB (as DCMTK's
storescp -pdu 1048576 and dcm4che offer), where each P-DATA-TF PDU is one
large read away.

pynetdicom 3.0.4 asks socket.recv() for at most 4096 bytes, so a 1 MiB data
set takes about 260 calls whatever the PDU length, each one a system call
and a trip through the interpreter loop. Exit status 1 when the 1 MiB PDUs
take more than 20 calls.

    python repro_large_reads.py
"""

import sys

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import SecondaryCaptureImageStorage

SIZE = 1024 * 1024


class CountingSocket:
    """A socket that counts its recv() calls (everything else is the socket's)."""

    def __init__(self, sock):
        self._sock = sock
        self.calls = 0

    def recv(self, bufsize, *args):
        self.calls += 1
        return self._sock.recv(bufsize, *args)

    def __getattr__(self, name):
        return getattr(self._sock, name)


def data_set() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.add_new(0x7FE00010, "OB", b"\x00" * SIZE)  # Pixel Data
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def recv_calls(max_pdu: int) -> int:
    sockets = []
    counted = {}

    def count(event):
        sock = CountingSocket(event.assoc.dul.socket.socket)
        event.assoc.dul.socket.socket = sock
        sockets.append(sock)

    def on_store(event):
        counted["calls"] = sockets[0].calls - counted["before"]
        return 0x0000

    def on_request(event):
        counted["before"] = sockets[0].calls

    scp = AE("SCP")
    scp.maximum_pdu_size = max_pdu
    scp.add_supported_context(SecondaryCaptureImageStorage, ExplicitVRLittleEndian)
    server = scp.start_server(
        ("127.0.0.1", 0),
        block=False,
        evt_handlers=[
            (evt.EVT_CONN_OPEN, count),
            (evt.EVT_C_STORE, on_store),
            (evt.EVT_ACCEPTED, on_request),
        ],
    )
    scu = AE("SCU")
    scu.add_requested_context(SecondaryCaptureImageStorage, ExplicitVRLittleEndian)
    assoc = scu.associate("127.0.0.1", server.server_address[1])
    try:
        status = assoc.send_c_store(data_set())
        assert status.Status == 0x0000, status
    finally:
        assoc.release()
        server.shutdown()
    return counted["calls"]


def main() -> int:
    small = recv_calls(16382)
    large = recv_calls(SIZE)
    print(f"1 MiB data set, 16382-byte PDUs: {small} socket.recv() calls")
    print(f"1 MiB data set, 1 MiB PDUs:      {large} socket.recv() calls")
    return 1 if large > 20 else 0


if __name__ == "__main__":
    sys.exit(main())
