"""The window while the Local view makes thumbnails (issue 22): does the GUI thread stall?

An archive of ``--series`` series (one 512x512 16-bit image each, or
``--frames`` frames) is imported into a fresh storage folder; the real
window opens on it (offscreen unless ``QT_QPA_PLATFORM`` says otherwise),
shows its Local archive tab, and every series' thumbnail is made by the
view's worker pool (threads that wait for the worker processes of
``qrscope.core.imaging.apart``), none cached before. A 5 ms heartbeat timer on the GUI
thread records how late it fires: the longest lateness is the longest stall
a user would feel (goal of issue 22: never more than 50 ms). A second pass
shows the same series again, every thumbnail from the core's cache.

    python benchmarks/thumbnails.py [--series 200] [--syntax explicit|rle] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, RLELossless, generate_uid

BEAT_MS = 5


def _instance(folder: Path, number: int, frames: int, syntax: str) -> Path:
    """One synthetic CT image (a gradient with noise: the encoders have work to do)."""
    rng = np.random.default_rng(number)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PatientName, ds.PatientID = f"BENCH^{number // 10:03d}", f"B{number // 10:03d}"
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[f"study-{number // 10}"])
    ds.SeriesInstanceUID, ds.Modality = generate_uid(), "CT"
    ds.StudyDate, ds.SeriesNumber, ds.InstanceNumber = "20260101", number % 10 + 1, 1
    ds.Rows = ds.Columns = 512
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    ramp = np.add.outer(np.arange(512), np.arange(512)).astype(np.uint16) * 3
    pixels = np.stack([ramp + rng.integers(0, 64, (512, 512), dtype=np.uint16)
                       for _ in range(frames)])
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PixelData = (pixels if frames > 1 else pixels[0]).tobytes()
    if syntax == "rle":
        ds.compress(RLELossless)
    path = folder / f"{number:05d}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def build(root: Path, sources: Path, series: int, frames: int, syntax: str) -> float:
    from qrscope.core.archive.importer import ImportMode, import_paths

    sources.mkdir(parents=True, exist_ok=True)
    files = [_instance(sources, n, frames, syntax) for n in range(series)]
    started = time.perf_counter()
    import_paths(files, root, ImportMode.COPY)
    return time.perf_counter() - started


def measure(home: Path, root: Path, series: int) -> dict:
    import qasync
    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from qrscope.core.profile_store import Profiles, ProfileStore
    from qrscope.core.profiles import LocalAE
    from qrscope.ui.app import build_window

    app = QApplication.instance() or QApplication(sys.argv)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    store = ProfileStore(home / "profiles.json")
    store.save(Profiles(local=LocalAE(listener_port=_free_port(), bind_address="127.0.0.1",
                                      storage_folder=root), nodes=[]))
    window = build_window(store, QSettings(str(home / "s.ini"), QSettings.Format.IniFormat))
    window.show()
    result: dict = {"series": series}
    clock = QElapsedTimer()
    late: list[float] = []
    when: list[float] = []  # seconds since the pass began, of each beat
    began = [0.0]

    def beat() -> None:
        late.append(max(0.0, clock.restart() - BEAT_MS))
        when.append(time.perf_counter() - began[0])

    heartbeat = QTimer()
    heartbeat.setInterval(BEAT_MS)
    heartbeat.timeout.connect(beat)

    async def until(condition, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("not done in time")
            await asyncio.sleep(0.02)

    async def one_pass(name: str) -> None:
        place = window.local
        model = place.view.models["series"]
        place.thumbnails.forget()
        late.clear()
        when.clear()
        began[0] = time.perf_counter()
        clock.start()
        heartbeat.start()
        listed: list[float] = []
        place.view.listed.connect(lambda: listed.append(time.perf_counter() - began[0]))
        started = time.perf_counter()
        window.show_place(1)
        place.view.refresh()
        await until(lambda: model.rowCount() == series
                    and len(place.thumbnails.shown) >= series, 600)
        seconds = time.perf_counter() - started
        heartbeat.stop()
        states = [t.state for t in place.thumbnails.shown.values()]
        result[name] = {"seconds": round(seconds, 2),
                        "per_second": round(series / seconds, 1),
                        "longest_stall_ms": round(max(late, default=0.0), 1),
                        "p99_stall_ms": round(float(np.percentile(late, 99)), 1) if late else 0,
                        "stalls_over_50ms": sum(1 for x in late if x > 50),
                        "listed_at_s": round(listed[0], 2) if listed else None,
                        "longest_stall_after_listing_ms": max(
                            (x for t, x in zip(when, late, strict=True)
                             if listed and t - x / 1000 > listed[-1]), default=0.0),
                        "worst_at_s": sorted(((round(t, 2), x) for t, x in zip(when, late,
                                                                               strict=True)),
                                             key=lambda p: -p[1])[:3],
                        "beats": len(late), "ok": states.count("ok"),
                        "failed": states.count("failed")}
        window.show_place(0)
        await asyncio.sleep(0.2)

    async def drive() -> None:
        await until(lambda: not window.demo_switching
                    and window.listener.state not in ("starting", "stopping"), 30)
        await asyncio.sleep(0.5)
        await one_pass("made")
        await one_pass("cached")
        window.close()
        await until(lambda: window.ended, 30)

    with loop:
        loop.run_until_complete(drive())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--frames", type=int, default=1)
    parser.add_argument("--syntax", choices=("explicit", "rle"), default="explicit")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        root = home / "archive"
        imported = build(root, home / "sources", args.series, args.frames, args.syntax)
        result = measure(home, root, args.series)
    result |= {"syntax": args.syntax, "frames": args.frames, "import_seconds": round(imported, 2),
               "workers": _workers(), "processes": _processes(), "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:>16}: {value}")
    sys.stdout.flush()
    from qrscope.core.imaging import apart

    apart.shut_down()  # its semaphores would outlive os._exit
    os._exit(0)  # as scripts/screenshots.py: no final collection after a driven window


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _workers() -> int:
    from qrscope.ui.bridge import THUMBNAIL_WORKERS

    return THUMBNAIL_WORKERS


def _processes() -> int:
    from qrscope.core.imaging.apart import PROCESSES, processes_available

    return PROCESSES if processes_available() else 0


if __name__ == "__main__":
    raise SystemExit(main())
