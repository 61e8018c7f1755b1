"""Hostile data sets cannot take the listener's memory or spill tracebacks.

A sender allowed to store can send a data set that is well formed on the
wire and poisonous to read: a deflated one that inflates a thousandfold
(PS3.5 A.5 lets any data set be deflated), or sequences nested so deep
that a recursive reader runs out of stack. Each is built here byte by
byte, filed through ``InstanceStore`` directly from memory and from a file,
and sent over loopback to a real listener, which must refuse it with
0xC000 (PS3.4 B.2.3, cannot understand), keep it in the quarantine, log one
line and stay small, while well-behaved deflated and nested instances are
stored as they came.
"""

from __future__ import annotations

import logging
import random
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, _config
from pynetdicom.dsutils import split_dataset
from tests.core.listener_peers import LISTENER_HOST, SENDER, PeakMemory, running_listener

from qrscope.core.dicom.encoding import INFLATION_FLOOR, MAX_DEPTH
from qrscope.core.receive.listener import StorageListener
from qrscope.core.receive.storage import QUARANTINE, InstanceStore, UnparseableInstance

MEGABYTE = 1 << 20
DEFLATED = "1.2.840.10008.1.2.1.99"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
# What filing one bomb may cost the listener's process (the whole test process).
RSS_BOUND_MB = 64
BOMB_INFLATED = 512 * MEGABYTE  # deflates to about 0.5 MiB


# -- building the data sets ---------------------------------------------------------------
def _keys(sop_class: str, patient_id: str) -> Dataset:
    ds = Dataset()
    if not patient_id.isascii():
        ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, generate_uid()
    ds.PatientID = patient_id
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    return ds


def _meta(ds: Dataset, syntax: str) -> bytes:
    """Preamble, ``DICM`` and the file meta group (PS3.10 7.1)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = (
        ds.SOPClassUID, ds.SOPInstanceUID)
    meta.TransferSyntaxUID = syntax
    buffer = DicomBytesIO()
    buffer.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(buffer, meta, enforce_standard=True)
    return buffer.getvalue()


def _explicit_le(ds: Dataset) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, ds)
    return buffer.getvalue()


def _pixel_header(length: int) -> bytes:
    return struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OB", 0, length)


def _deflate(parts: Iterator[bytes]) -> bytes:
    """Raw deflate (no zlib header, wbits -15), as PS3.5 A.5 requires."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = [deflater.compress(part) for part in parts]
    return b"".join(out) + deflater.flush()


def _image(zeros: int, patient_id: str, noise: bytes = b"") -> bytes:
    """A deflated image whose pixel data are *noise* and then *zeros* bytes of zeros."""
    ds = _keys(SECONDARY_CAPTURE, patient_id)
    ds.Modality = "OT"

    def parts() -> Iterator[bytes]:
        yield _explicit_le(ds) + _pixel_header(len(noise) + zeros) + noise
        for start in range(0, zeros, MEGABYTE):  # never whole in memory
            yield bytes(min(MEGABYTE, zeros - start))

    return _meta(ds, DEFLATED) + _deflate(parts())


def _nested(depth: int, padding: int = 0) -> bytes:
    """An SR whose Content Sequence nests *depth* deep, all of undefined length.

    *padding* bytes of pixel data after it make it large enough to arrive as a file.
    """
    ds = _keys(COMPREHENSIVE_SR, "NESTED")
    sequence = struct.pack("<HH2sHL", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF)
    item = struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF)
    leaf = struct.pack("<HH2sH", 0x0040, 0xA010, b"CS", 8) + b"CONTAINS"
    ends = struct.pack("<HHL", 0xFFFE, 0xE00D, 0) + struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
    pixels = _pixel_header(padding) + bytes(padding) if padding else b""
    return (_meta(ds, ExplicitVRLittleEndian) + _explicit_le(ds) + (sequence + item) * depth
            + leaf + ends * depth + pixels)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 0.5 MiB on the wire, 512 MiB of zeros inflated."""
    path = tmp_path_factory.mktemp("hostile") / "bomb.dcm"
    path.write_bytes(_image(BOMB_INFLATED, "BOMB"))
    assert path.stat().st_size < MEGABYTE
    return path


@pytest.fixture(scope="module")
def big_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Over 1 MiB on the wire (incompressible noise first), so it arrives as a file."""
    path = tmp_path_factory.mktemp("hostile") / "big-bomb.dcm"
    path.write_bytes(_image(BOMB_INFLATED, "BOMB", noise=random.Random(19).randbytes(
        3 * MEGABYTE // 2)))
    assert path.stat().st_size > 3 * MEGABYTE // 2
    return path


def _blank_deflated(tmp_path: Path) -> Path:
    """A blank 512 x 512 16-bit image: 500:1 and more, but small; a legitimate instance."""
    path = tmp_path / "blank.dcm"
    path.write_bytes(_image(512 * 512 * 2, "BLANK"))
    return path


def _stored(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.dcm") if QUARANTINE not in p.parts]


def _file(store: InstanceStore, data: bytes, tmp_path: Path, from_file: bool):
    if not from_file:
        return store.store(data)
    path = tmp_path / "incoming.dcm"
    path.write_bytes(data)
    return store.store_file(path)


def _no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]


# -- filed through the store ------------------------------------------------------------
@pytest.mark.parametrize("from_file", [False, True], ids=["memory", "file"])
def test_the_store_refuses_a_deflate_bomb_in_little_memory(bomb, tmp_path, from_file):
    store = InstanceStore(tmp_path / "store")
    data = bomb.read_bytes()
    with PeakMemory() as memory, pytest.raises(UnparseableInstance) as refused:
        _file(store, data, tmp_path, from_file)
    assert memory.growth_mb < RSS_BOUND_MB, memory.growth_mb
    assert f"would inflate to more than {INFLATION_FLOOR // MEGABYTE} MiB" in str(refused.value)
    assert refused.value.quarantined is not None
    assert refused.value.quarantined.read_bytes() == data
    assert not _stored(tmp_path / "store")
    # A blank image deflates 500:1 and more, but is small: stored as it came.
    blank = _blank_deflated(tmp_path).read_bytes()
    stored = _file(store, blank, tmp_path, from_file)
    assert stored.path.read_bytes() == blank
    assert stored.patient_id == "BLANK"


def _with_unusual_meta(data: bytes) -> bytes:
    """*data* with an undefined-length element in its file meta: pydicom reads it to its
    delimiter, qrscope's scanner declines (PS3.10 7.1 gives every meta element a length)."""
    (length,) = struct.unpack_from("<L", data, 140)  # (0002,0000) group length
    extra = (struct.pack("<HH2sHL", 0x0002, 0x0102, b"OB", 0, 0xFFFFFFFF) + b"\x01\x02"
             + struct.pack("<HHL", 0xFFFE, 0xE0DD, 0))
    end = 144 + length
    return data[:140] + struct.pack("<L", length + len(extra)) + data[144:end] + extra + \
        data[end:]


@pytest.mark.parametrize("from_file", [False, True], ids=["memory", "file"])
def test_a_deflate_bomb_behind_a_meta_header_the_scanner_declines_is_not_inflated(
        bomb, tmp_path, from_file):
    data = _with_unusual_meta(bomb.read_bytes())
    with PeakMemory() as memory, pytest.raises(UnparseableInstance, match="deflated") as refused:
        _file(InstanceStore(tmp_path / "store"), data, tmp_path, from_file)
    assert memory.growth_mb < RSS_BOUND_MB, memory.growth_mb
    assert refused.value.quarantined.read_bytes() == data


@pytest.mark.parametrize("from_file", [False, True], ids=["memory", "file"])
def test_a_deflated_instance_the_scanner_leaves_to_pydicom_is_read_from_its_head(
        tmp_path, from_file):
    data = _image(512 * 512 * 2, "Müller")  # not ASCII: pydicom decodes it
    stored = _file(InstanceStore(tmp_path / "store"), data, tmp_path, from_file)
    assert stored.patient_id == "Müller" and stored.path.read_bytes() == data


@pytest.mark.parametrize("from_file", [False, True], ids=["memory", "file"])
def test_a_stream_that_is_not_deflate_is_refused_and_kept(tmp_path, from_file, caplog):
    store = InstanceStore(tmp_path / "store")
    data = _blank_deflated(tmp_path).read_bytes()
    cut = data[:-200]  # the deflate stream ends in the middle
    with caplog.at_level(logging.DEBUG), pytest.raises(UnparseableInstance,
                                                       match="not valid deflate") as refused:
        _file(store, cut, tmp_path, from_file)
    assert refused.value.quarantined.read_bytes() == cut
    assert not _stored(tmp_path / "store")
    _no_traceback(caplog)


@pytest.mark.parametrize("from_file", [False, True], ids=["memory", "file"])
def test_the_store_refuses_sequences_nested_too_deep_and_keeps_real_ones(tmp_path, from_file,
                                                                         caplog):
    store = InstanceStore(tmp_path / "store")
    deep = _nested(10_000)
    with caplog.at_level(logging.DEBUG), pytest.raises(UnparseableInstance,
                                                       match=f"more than {MAX_DEPTH} deep") \
            as refused:
        _file(store, deep, tmp_path, from_file)
    assert refused.value.quarantined.read_bytes() == deep
    assert not _stored(tmp_path / "store")
    _no_traceback(caplog)
    # One past the limit is refused too; SR and RT trees of 40 levels are stored.
    with pytest.raises(UnparseableInstance):
        _file(store, _nested(MAX_DEPTH + 1), tmp_path, from_file)
    real = _nested(40)
    assert _file(store, real, tmp_path, from_file).path.read_bytes() == real


# -- sent to a running listener ------------------------------------------------------------
@pytest.fixture
def listener(tmp_path: Path) -> Iterator[StorageListener]:
    # AcceptPolicy.ANY: the sender is one the listener lets store.
    yield from running_listener(tmp_path, [SENDER])


@pytest.fixture
def send_files(monkeypatch: pytest.MonkeyPatch):
    """Send Part 10 files as they are: their data sets are never decoded or re-encoded."""
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)

    def send(port: int, paths: list[Path]) -> list[int]:
        ae = AE(ae_title="SENDER")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
        metas = [split_dataset(path)[0] for path in paths]
        for sop_class, syntax in {(str(m.MediaStorageSOPClassUID), str(m.TransferSyntaxUID))
                                  for m in metas}:
            ae.add_requested_context(sop_class, [syntax])
        assoc = ae.associate(LISTENER_HOST, port, ae_title="QRSCOPE",
                             bind_address=(SENDER, 0))
        assert assoc.is_established
        try:
            return [int(assoc.send_c_store(path).get("Status", -1)) for path in paths]
        finally:
            assoc.release()

    return send


def _data_set(path: Path) -> bytes:
    """The data set of a Part 10 file, without its file meta (which the receiver writes)."""
    return path.read_bytes()[split_dataset(path)[1]:]


def test_the_listener_refuses_a_deflate_bomb_and_stores_a_good_deflated_instance(
        bomb, big_bomb, listener, send_files, tmp_path, caplog):
    blank = _blank_deflated(tmp_path)
    with caplog.at_level(logging.INFO), PeakMemory() as memory:
        statuses = send_files(listener.port, [bomb, big_bomb, blank])
    assert statuses == [0xC000, 0xC000, 0x0000]
    assert memory.growth_mb < RSS_BOUND_MB, memory.growth_mb
    _assert_quarantined(listener, [bomb, big_bomb])
    (stored,) = _stored(listener.store.root)
    assert _data_set(stored) == _data_set(blank)  # as received: never transcoded
    refusals = [r for r in caplog.records if "would inflate" in r.getMessage()]
    assert len(refusals) == 2
    _no_traceback(caplog)


def test_the_listener_refuses_sequences_nested_too_deep_and_stores_real_ones(
        listener, send_files, tmp_path, caplog):
    deep, deep_large, real = (tmp_path / "deep.dcm", tmp_path / "deep-large.dcm",
                              tmp_path / "real.dcm")
    deep.write_bytes(_nested(10_000))  # held in memory as it arrives
    deep_large.write_bytes(_nested(10_000, padding=2 * MEGABYTE))  # arrives as a file
    real.write_bytes(_nested(40))
    with caplog.at_level(logging.INFO):
        statuses = send_files(listener.port, [deep, deep_large, real])
    assert statuses == [0xC000, 0xC000, 0x0000]
    _assert_quarantined(listener, [deep, deep_large])
    (stored,) = _stored(listener.store.root)
    assert _data_set(stored) == _data_set(real)
    refusals = [r for r in caplog.records if f"more than {MAX_DEPTH} deep" in r.getMessage()]
    assert len(refusals) == 2
    _no_traceback(caplog)


def _assert_quarantined(listener: StorageListener, sent: list[Path]) -> None:
    """Each of *sent* is in the quarantine as received (the file meta is the receiver's)."""
    folder = listener.store.root / QUARANTINE
    kept = [p.read_bytes() for p in folder.iterdir()] if folder.exists() else []
    assert len(kept) == len(sent)
    for path in sent:
        assert any(k.endswith(_data_set(path)) for k in kept), path
