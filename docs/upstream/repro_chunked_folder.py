"""Reproducer: STORE_RECV_CHUNKED_DATASET writes to the system temp folder, and
a write error there escapes in the DUL thread.

Runs against stock pynetdicom. With ``_config.STORE_RECV_CHUNKED_DATASET``
a Storage SCP on loopback receives a C-STORE of a 256 KiB data set while
writing that data set fails after 64 KiB with ENOSPC, as on a full disk (the
file object NamedTemporaryFile returns is wrapped; nothing else changes).

pynetdicom 3.0.4 offers no setting for the folder (it always uses
tempfile.gettempdir(), which may be a RAM-backed tmpfs or another
filesystem than the storage), and the OSError escapes in the DUL thread:
the association is aborted with a traceback, the SCU gets no response, and
the partial file stays in the temp folder. Exit status 1 when that happens.

With the patch the data set goes to ``_config.STORE_RECV_CHUNKED_DATASET_PATH``
and the request is answered 0xA700 (Out of Resources), the partial file
removed and the association kept.

    python repro_chunked_folder.py
"""

import errno
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, _config, dimse_messages, evt
from pynetdicom.sop_class import SecondaryCaptureImageStorage

FAIL_AFTER = 64 * 1024


class DiskFull:
    """NamedTemporaryFile's file, on a disk that fills after FAIL_AFTER bytes."""

    def __init__(self, **kwargs):
        self._file = tempfile.NamedTemporaryFile(**kwargs)  # noqa: SIM115 (closed by pynetdicom)
        self.name = self._file.name
        self.file = self._file.file
        self.written = 0

    def write(self, data):
        self.written += len(data)
        if self.written > FAIL_AFTER:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self._file.write(data)

    def close(self):
        self._file.close()


def main() -> int:
    logging.basicConfig(level=logging.CRITICAL)
    folder = Path(tempfile.mkdtemp(prefix="incoming-"))
    _config.STORE_RECV_CHUNKED_DATASET = True
    has_setting = hasattr(_config, "STORE_RECV_CHUNKED_DATASET_PATH")
    if has_setting:
        _config.STORE_RECV_CHUNKED_DATASET_PATH = folder
    print(f"_config.STORE_RECV_CHUNKED_DATASET_PATH exists: {has_setting}")

    created = []

    def disk_full(**kwargs):
        f = DiskFull(**kwargs)
        created.append(Path(f.name))
        return f

    dimse_messages.NamedTemporaryFile = disk_full
    errors = []
    scp = AE("SCP")
    scp.add_supported_context(SecondaryCaptureImageStorage, ExplicitVRLittleEndian)
    server = scp.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, lambda event: 0x0000)]
    )
    threading.excepthook = lambda args: errors.append(
        f"{args.thread.name}: {args.exc_type.__name__}: {args.exc_value}")

    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.add_new(0x7FE00010, "OB", b"\x00" * (256 * 1024))  # Pixel Data
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian

    scu = AE("SCU")
    scu.add_requested_context(SecondaryCaptureImageStorage, ExplicitVRLittleEndian)
    scu.dimse_timeout = 5
    assoc = scu.associate("127.0.0.1", server.server_address[1])
    try:
        start = time.monotonic()
        status = assoc.send_c_store(ds)
        took = time.monotonic() - start
        kept = assoc.is_established and not assoc.is_aborted
    finally:
        if assoc.is_established:
            assoc.release()
        server.shutdown()

    left = [path for path in created if path.exists()]
    print(f"data set file created in: {created[0].parent if created else None}")
    answer = status.get("Status")
    print(f"C-STORE status: {'none' if answer is None else f'0x{answer:04X}'} after {took:.1f} s")
    print(f"association kept: {kept}")
    print(f"uncaught in a thread: {errors}")
    print(f"partial files left behind: {len(left)} {[str(p) for p in left]}")
    for path in left:
        path.unlink()
    ok = (has_setting and created and created[0].parent == folder
          and status.get("Status") == 0xA700 and kept and not left and not errors)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
