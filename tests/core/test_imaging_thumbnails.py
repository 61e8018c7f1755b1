"""Series thumbnails (issue 22, point 2): made once, cached with their state, thread-safe."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.pixels import get_decoder
from pydicom.uid import RLELossless

from qrscope.core.archive.importer import ImportMode, import_paths
from qrscope.core.archive.index import close_index, open_index, reconcile
from qrscope.core.imaging import (
    THUMBNAIL_FOLDER,
    UnknownSeries,
    make_thumbnail,
    render_frame,
)
from qrscope.core.imaging import frames as frames_module

SERIES = "1.2.826.0.1.3680043.8.498.7001"


def _write(folder: Path, source: str, series_uid: str, number: int, **changes) -> Path:
    ds = pydicom.dcmread(get_testdata_file(source))
    ds.SeriesInstanceUID = series_uid
    ds.SOPInstanceUID = f"{series_uid}.{number}"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.InstanceNumber = number
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    path = folder / f"{series_uid}.{number}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def root(tmp_path: Path):
    root = tmp_path / "storage"
    root.mkdir()
    yield root
    close_index(root)


def _ct_series(root: Path, count: int = 3) -> list[Path]:
    """CT_small.dcm with each instance's image rolled by its number, so they differ."""
    paths = []
    for number in range(1, count + 1):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        array = np.roll(ds.pixel_array, 30 * number, axis=1)
        paths.append(_write(root, "CT_small.dcm", SERIES, number, PixelData=array.tobytes()))
    return paths


def test_the_thumbnail_is_the_middle_instance_rendered_and_fits_the_size(root: Path):
    paths = _ct_series(root, 3)
    result = make_thumbnail(root, SERIES, size=64)
    assert result.state == "ok" and result.reason == ""
    assert result.path is not None and result.path.parent == root / THUMBNAIL_FOLDER
    with Image.open(result.path) as image:
        assert image.format == "PNG" and max(image.size) == 64
        shown = np.asarray(image.resize((128, 128)))
    expected = [render_frame(p).pixels.astype(int) for p in paths]
    errors = [np.abs(shown.astype(int) - e).mean() for e in expected]
    assert int(np.argmin(errors)) == 1  # instance number 2 of 1..3


def test_a_cached_thumbnail_is_returned_without_decoding(root: Path, monkeypatch):
    _ct_series(root, 1)
    first = make_thumbnail(root, SERIES)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(frames_module, "pixel_array", no_decoding)
    again = make_thumbnail(root, SERIES)
    assert again == first and again.state == "ok"


def test_an_undecodable_file_is_recorded_failed_with_why_and_not_tried_again(root: Path,
                                                                             monkeypatch):
    path = _write(root, "CT_small.dcm", SERIES, 1)
    raw = bytearray(path.read_bytes())
    raw[-2000:] = b"\0" * 2000
    path.write_bytes(bytes(raw[:-1000]))  # pixel data cut short: nothing a decoder can read
    result = make_thumbnail(root, SERIES)
    assert result.state == "failed" and result.path is None and result.reason
    assert open_index(root).thumbnail_state(SERIES) == ("failed", result.reason)
    calls = []
    monkeypatch.setattr(frames_module, "pixel_array", lambda *a, **k: calls.append(a))
    assert make_thumbnail(root, SERIES) == result
    assert calls == []


def test_a_series_without_pixels_is_recorded_as_such(root: Path):
    ds = pydicom.dcmread(get_testdata_file("rtplan.dcm"))
    _write(root, "rtplan.dcm", SERIES, 1)
    result = make_thumbnail(root, SERIES)
    assert (result.state, result.path) == ("no-pixels", None)
    assert ds.SOPClassUID.name in result.reason


def test_an_unknown_series_is_an_error_not_a_state(root: Path):
    _ct_series(root, 1)
    with pytest.raises(UnknownSeries):
        make_thumbnail(root, "1.2.3.999")


def test_a_series_that_gains_an_instance_is_made_again(root: Path):
    _ct_series(root, 1)
    assert make_thumbnail(root, SERIES).state == "ok"
    index = open_index(root)
    _write(root, "CT_small.dcm", SERIES, 2)
    reconcile(index, repair=True)
    assert index.thumbnail_state(SERIES) is None


def test_a_missing_png_is_made_again_without_being_asked(root: Path):
    _ct_series(root, 1)
    first = make_thumbnail(root, SERIES)
    assert first.path is not None
    first.path.unlink()
    assert make_thumbnail(root, SERIES).path.exists()


def test_workers_asking_at_once_make_the_thumbnail_once(root: Path, monkeypatch):
    _ct_series(root, 1)
    decoded = []
    real = frames_module.pixel_array

    def counting(*args, **kwargs):
        decoded.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(frames_module, "pixel_array", counting)
    results = []
    start = threading.Barrier(4)

    def worker():
        start.wait()
        results.append(make_thumbnail(root, SERIES))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and {r.state for r in results} == {"ok"}
    assert len(decoded) == 1


def test_the_thumbnail_folder_is_neither_indexed_nor_imported(root: Path, tmp_path: Path):
    _ct_series(root, 1)
    made = make_thumbnail(root, SERIES)
    assert made.path is not None
    report = reconcile(open_index(root), repair=False)
    assert report.clean and report.not_dicom == []
    other = tmp_path / "other"
    other.mkdir()
    results = import_paths([root], other, ImportMode.IN_PLACE)
    assert all(THUMBNAIL_FOLDER not in r.path for r in results)
    close_index(other)


def _cine(path: Path, frames: int) -> None:
    """A *frames*-frame 8-bit RLE Lossless cine, frame i holding the value i % 256."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"), stop_before_pixels=True)
    ds.SeriesInstanceUID = SERIES
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"{SERIES}.1"
    ds.NumberOfFrames = frames
    ds.Rows = ds.Columns = 8
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    del ds.RescaleSlope, ds.RescaleIntercept
    cine = np.repeat(np.arange(frames, dtype=np.uint8), 64).reshape(frames, 8, 8)
    ds.compress(RLELossless, cine, generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)


def test_a_600_frame_cine_thumbnails_by_decoding_one_frame(root: Path, monkeypatch):
    _cine(root / "cine.dcm", 600)
    decoder = get_decoder(RLELossless)
    decoded = []
    for label, decode in list(decoder._available.items()):
        def counting(src, runner, decode=decode):
            decoded.append(len(src))
            return decode(src, runner)
        monkeypatch.setitem(decoder._available, label, counting)
    assert make_thumbnail(root, SERIES).state == "ok"
    assert len(decoded) == 1
    assert render_frame(root / "cine.dcm", frame=300).frames == 600
