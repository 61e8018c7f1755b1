"""Thumbnails made in worker processes (issue 22: the window never stalls while they are made).

A thumbnail made in a thread of the window held its interpreter lock; these
tests prove the work happens in another process, that a known thumbnail is
answered without one, and that where processes cannot be used (a frozen
bundle, a dead pool) it is made in the calling thread as before.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from qrscope.core.archive.index import close_index, open_index
from qrscope.core.imaging import apart, known_thumbnail, make_thumbnail, render_frame
from qrscope.core.imaging import thumbnails as thumbnails_module
from qrscope.core.imaging.thumbnails import UnknownSeries

SERIES = "1.2.826.0.1.3680043.8.498.7002"


@pytest.fixture
def root(tmp_path: Path):
    root = tmp_path / "storage"
    root.mkdir()
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.SeriesInstanceUID = SERIES
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"{SERIES}.1"
    ds.save_as(root / "ct.dcm", enforce_file_format=True)
    from qrscope.core.archive.importer import ImportMode, import_paths

    import_paths([root / "ct.dcm"], root, ImportMode.IN_PLACE)
    yield root
    apart.shut_down()
    close_index(root)


def _no_making_here(monkeypatch) -> list[Path]:
    """Make rendering in this process fail loudly; the calls it saw."""
    calls: list[Path] = []

    def refused(path: Path, target: Path, size: int):
        calls.append(path)
        raise AssertionError("made in the caller's process")

    monkeypatch.setattr(thumbnails_module, "_make", refused)
    return calls


def test_the_thumbnail_is_made_in_another_process(root: Path, monkeypatch):
    calls = _no_making_here(monkeypatch)
    result = apart.make_thumbnail_apart(root, SERIES, 64)
    assert calls == [] and result.state == "ok" and result.path is not None
    with Image.open(result.path) as image:  # the same picture as made here
        assert image.format == "PNG" and max(image.size) == 64
        made = np.asarray(image.resize((128, 128))).astype(int)
    assert np.abs(made - render_frame(root / "ct.dcm").pixels.astype(int)).mean() < 8
    assert open_index(root).thumbnail_state(SERIES) == ("ok", "")


def test_a_known_thumbnail_is_answered_without_a_process(root: Path, monkeypatch):
    assert known_thumbnail(root, SERIES, 64) is None
    made = make_thumbnail(root, SERIES, 64)
    assert known_thumbnail(root, SERIES, 64) == made

    def no_processes():
        raise AssertionError("a process was asked")

    monkeypatch.setattr(apart, "_processes", no_processes)
    assert apart.make_thumbnail_apart(root, SERIES, 64) == made


def test_an_unknown_series_is_an_error_as_in_the_caller(root: Path):
    with pytest.raises(UnknownSeries):
        known_thumbnail(root, "1.2.3.999")
    with pytest.raises(UnknownSeries):
        apart.make_thumbnail_apart(root, "1.2.3.999")


def test_a_frozen_bundle_makes_it_in_the_calling_thread(root: Path, monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    calls = _no_making_here(monkeypatch)
    with pytest.raises(AssertionError, match="caller's process"):
        apart.make_thumbnail_apart(root, SERIES, 64)
    assert calls == [root / "ct.dcm"]
    assert apart._pool is None  # no process was started


def test_a_dead_pool_makes_it_here_and_the_next_one_starts_anew(root: Path, monkeypatch):
    apart.make_thumbnail_apart(root, SERIES, 64)  # the pool is up
    broken = apart._pool
    assert broken is not None
    for process in list(broken._processes.values()):
        process.kill()
        process.join()
    other = thumbnails_module.thumbnail_file(root, SERIES, 32)
    result = apart.make_thumbnail_apart(root, SERIES, 32)
    assert result.state == "ok" and result.path == other and other.exists()
    assert apart._pool is not broken


_ABRUPT_END = """
import os, sys
from qrscope.core.imaging import apart
apart.make_thumbnail_apart(sys.argv[1], sys.argv[2], 48)
print(" ".join(str(p) for p in apart._pool._processes), flush=True)
os._exit(0)  # as a crash: no exit handler joins the workers
"""


def test_the_workers_end_with_a_process_that_ends_abruptly(root: Path):
    done = subprocess.run([sys.executable, "-c", _ABRUPT_END, str(root), SERIES],
                          capture_output=True, text=True, timeout=120, check=True)
    workers = [int(p) for p in done.stdout.split()]
    assert len(workers) >= 1
    deadline = time.monotonic() + 60
    while any(_alive(pid) for pid in workers):
        assert time.monotonic() < deadline, f"workers {workers} outlived their parent"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
