"""Received data sets stream to disk: a large instance costs little memory, and a
transfer that dies half way leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid
from pynetdicom import AE
from tests.demo_site import free_port

from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE
from qrscope.core.receive.listener import StorageListener
from qrscope.core.receive.reception import INCOMING_FOLDER
from qrscope.core.security import AcceptPolicy

MEGABYTE = 1 << 20


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _big_instance(path: Path, megabytes: int) -> Path:
    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID, ds.Modality = "BIG", "OT"
    ds.Rows, ds.Columns = 1024, megabytes * 512
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = bytes(megabytes * MEGABYTE)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path


def _listener(tmp_path: Path) -> StorageListener:
    local = LocalAE(ae_title="QRSCOPE", listener_port=free_port(), bind_address="127.0.0.1",
                    storage_folder=tmp_path / "store", accept=AcceptPolicy.ANY)
    return StorageListener(local, AssociationLog())


_SENDER = textwrap.dedent("""
    import sys
    from pydicom import dcmread
    from pynetdicom import AE
    from pynetdicom.sop_class import SecondaryCaptureImageStorage
    ae = AE("SENDER")
    ae.add_requested_context(SecondaryCaptureImageStorage)
    assoc = ae.associate("127.0.0.1", int(sys.argv[1]), ae_title="QRSCOPE")
    status = assoc.send_c_store(sys.argv[2])
    assoc.release()
    print(f"0x{status.Status:04X}")
""")


def test_a_large_instance_streams_to_disk_in_little_memory(tmp_path):
    source = _big_instance(tmp_path / "big.dcm", 64)
    with _listener(tmp_path) as listener:
        baseline, peak, done = _rss(), [0], threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _rss())
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            # The sender is another process: only the receiver's memory counts.
            result = subprocess.run([sys.executable, "-c", _SENDER, str(listener.port),
                                     str(source)], capture_output=True, text=True, timeout=120)
        finally:
            done.set()
            sampler.join()
    assert result.stdout.strip() == "0x0000", result.stderr[-2000:]
    stored = list((tmp_path / "store").rglob("*.dcm"))
    assert len(stored) == 1
    # The data set as sent (the file meta is the receiver's own).
    got, sent = pydicom.dcmread(stored[0]), pydicom.dcmread(source)
    assert got.SOPInstanceUID == sent.SOPInstanceUID and got.PixelData == sent.PixelData
    # Held whole in memory it would cost 64 MB at least, twice over before.
    assert peak[0] - baseline < 24 * MEGABYTE, (peak[0] - baseline) / MEGABYTE
    assert not list((tmp_path / "store" / INCOMING_FOLDER).iterdir())


def test_a_connection_lost_in_the_middle_of_a_data_set_leaves_nothing_behind(tmp_path,
                                                                             monkeypatch):
    """On the tuned engine the partial data set is in the store's incoming folder and
    goes with the connection. Stock pynetdicom writes it to the system's temporary
    folder (here a private one) and leaves it there when the connection is lost
    (docs/upstream/README.md); the store itself stays clean on both engines."""
    import tempfile

    from qrscope.core.engine import choice

    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    tuned = choice.current().uses("incoming_files")
    source = pydicom.dcmread(_big_instance(tmp_path / "big.dcm", 16))
    with _listener(tmp_path) as listener:
        ae = AE("SENDER")
        ae.add_requested_context(SecondaryCaptureImageStorage)
        ae.maximum_pdu_size = 16384  # many PDUs: the abort lands in the middle
        assoc = ae.associate("127.0.0.1", listener.port, ae_title="QRSCOPE")
        assert assoc.is_established
        incoming = tmp_path / "store" / INCOMING_FOLDER
        # A slow link: 2 ms per PDU, so that the abort lands half way.
        send = assoc.dul.socket.send
        assoc.dul.socket.send = lambda data: (time.sleep(0.002), send(data))[1]
        sender = threading.Thread(target=lambda: assoc.send_c_store(source))
        sender.start()
        def partial() -> list[Path]:
            return list(incoming.glob(".incoming-*") if tuned else system_tmp.glob("*.dcm"))

        deadline = time.monotonic() + 10
        while not partial() and time.monotonic() < deadline:
            time.sleep(0.005)
        assert partial(), "the data set started to arrive"
        # The connection dies under the sender (pynetdicom would queue an
        # A-ABORT behind the data it is still sending).
        assoc.dul.socket.socket.shutdown(socket.SHUT_RDWR)
        sender.join(timeout=10)
        deadline = time.monotonic() + 5
        while partial() and tuned and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not list(incoming.glob(".incoming-*"))
        assert not list((tmp_path / "store").rglob("*.dcm"))
        assert len(partial()) == (0 if tuned else 1)


def _store_one(listener: StorageListener, path: Path) -> int:
    ae = AE("SENDER")
    ae.add_requested_context(SecondaryCaptureImageStorage, ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", listener.port, ae_title="QRSCOPE")
    assert assoc.is_established
    try:
        return int(assoc.send_c_store(pydicom.dcmread(path)).Status)
    finally:
        assoc.release()


def test_a_storage_folder_removed_while_listening_is_made_again(tmp_path):
    listener = _listener(tmp_path)
    listener.start()
    try:
        if listener.index_opening is not None:  # its files, made in the folder meanwhile
            listener.index_opening.join(30)
        shutil.rmtree(tmp_path / "store")
        status = _store_one(listener, _big_instance(tmp_path / "one.dcm", 1))
    finally:
        listener.stop()
    assert status == 0x0000
    assert len(list((tmp_path / "store").rglob("*.dcm"))) == 1


def test_a_storage_folder_that_cannot_be_made_answers_out_of_resources(tmp_path):
    listener = _listener(tmp_path)
    listener.start()
    try:
        if listener.index_opening is not None:  # its files, made in the folder meanwhile
            listener.index_opening.join(30)
        shutil.rmtree(tmp_path / "store")
        (tmp_path / "store").write_text("a file where the folder was")
        status = _store_one(listener, _big_instance(tmp_path / "one.dcm", 1))
        echo_after = _store_one(listener, _big_instance(tmp_path / "two.dcm", 1))
    finally:
        listener.stop()
    # Refused with a reason, and the listener still answers the next one the same way.
    assert status == echo_after == 0xA700


@pytest.mark.tuned_engine
def test_a_small_instance_is_filed_from_memory_and_a_large_one_from_a_file(tmp_path,
                                                                            monkeypatch):
    from qrscope.core.engine import pynetdicom_private

    spilled: list[str] = []
    spill = pynetdicom_private.IncomingFile._spill

    def counting_spill(self) -> None:
        spilled.append(self.name)
        spill(self)

    monkeypatch.setattr(pynetdicom_private.IncomingFile, "_spill", counting_spill)
    listener = _listener(tmp_path)
    listener.start()
    try:
        small = _store_one(listener, _big_instance(tmp_path / "small.dcm", 0))
        assert (small, spilled) == (0x0000, [])
        large = _store_one(listener, _big_instance(tmp_path / "large.dcm", 2))
        assert (large, len(spilled)) == (0x0000, 1)
    finally:
        listener.stop()
    assert len(list((tmp_path / "store").rglob("*.dcm"))) == 2


def _other_filesystem_than(path: Path) -> Path | None:
    """A folder on another filesystem than *path* (RAM-backed /dev/shm), or None."""
    shm = Path("/dev/shm")
    try:
        if shm.is_dir() and os.access(shm, os.W_OK) and shm.stat().st_dev != path.stat().st_dev:
            return Path(tempfile.mkdtemp(dir=shm))
    except OSError:
        pass
    return None


def test_a_data_set_in_a_temporary_folder_on_another_filesystem_arrives_byte_for_byte(
        tmp_path, monkeypatch):
    """With the system's temporary folder on a tmpfs (Debian 13, Fedora), pynetdicom
    writes each data set there and the listener copies it into the storage."""
    other = _other_filesystem_than(tmp_path)
    if other is None:
        pytest.skip("no second filesystem to write temporary files on")
    monkeypatch.setattr(tempfile, "tempdir", str(other))
    try:
        ds = pydicom.dcmread(_big_instance(tmp_path / "src.dcm", 2))
        ds.PixelData = bytes((i * 7 + i // 251) % 256 for i in range(len(ds.PixelData)))
        ds.save_as(tmp_path / "src.dcm", enforce_file_format=True)
        listener = _listener(tmp_path)
        listener.start()
        try:
            assert _store_one(listener, tmp_path / "src.dcm") == 0x0000
        finally:
            listener.stop()
        (stored,) = list((tmp_path / "store").rglob("*.dcm"))
        got, sent = pydicom.dcmread(stored), pydicom.dcmread(tmp_path / "src.dcm")
        assert got.PixelData == sent.PixelData
        assert [e for e in got if e.tag.group != 2] == [e for e in sent if e.tag.group != 2]
    finally:
        shutil.rmtree(other, ignore_errors=True)


def test_a_large_data_set_on_a_filesystem_without_hard_links_arrives_byte_for_byte(
        tmp_path, monkeypatch):
    """A storage folder on exFAT or some network shares cannot hard-link the incoming
    file into place; it is copied, and the copy must hold every byte that arrived."""
    import errno

    from qrscope.core import files

    def no_links(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(files.os, "link", no_links)
    ds = pydicom.dcmread(_big_instance(tmp_path / "src.dcm", 3))
    ds.PixelData = bytes((i * 13 + i // 509) % 256 for i in range(len(ds.PixelData)))
    ds.save_as(tmp_path / "src.dcm", enforce_file_format=True)
    listener = _listener(tmp_path)
    listener.start()
    try:
        assert _store_one(listener, tmp_path / "src.dcm") == 0x0000
    finally:
        listener.stop()
    (stored,) = list((tmp_path / "store").rglob("*.dcm"))
    assert pydicom.dcmread(stored).PixelData == ds.PixelData
