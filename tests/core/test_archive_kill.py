"""Killing qrscope while it files or imports loses no file, and the next start heals the index."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from io import BytesIO
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification
from tests.demo_site import free_port

APP = str(Path(__file__).resolve().parents[2] / "app")


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": APP, "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_DATA_HOME": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}


def _ct(n: int) -> pydicom.Dataset:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.9.1"
    ds.SOPInstanceUID = f"1.2.826.0.1.3680043.8.498.9.1.{n}"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def _listed(tmp_path: Path, storage: Path) -> set[str]:
    """The files ``qrscope archive list`` shows, from a fresh process (the next start)."""
    result = subprocess.run(
        [sys.executable, "-m", "qrscope", "archive", "list", "--level", "instance",
         "--storage", str(storage), "--json"],
        capture_output=True, text=True, timeout=120, env=_env(tmp_path), check=True)
    return {r["path"] for r in json.loads(result.stdout)["results"]}


def _on_disk(storage: Path) -> set[str]:
    return {str(p) for p in storage.rglob("*.dcm") if not p.name.startswith(".")}


def _wait_until(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_a_listener_killed_while_it_files_loses_nothing_and_the_index_is_healed(tmp_path):
    storage, port = tmp_path / "archive", free_port()
    listener = subprocess.Popen(
        [sys.executable, "-m", "qrscope", "listen", "--port", str(port), "--bind", "127.0.0.1",
         "--out", str(storage), "--accept", "any"], env=_env(tmp_path),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ae = AE(ae_title="SENDER")
    ae.add_requested_context(CTImageStorage)
    ae.add_requested_context(Verification)
    # A response lost with the killed listener is waited for this long, not pynetdicom's 30 s.
    ae.dimse_timeout = 5
    confirmed: list[str] = []
    try:
        # The first association established is the one that sends (a second one, while
        # the probe stayed open, was now and then refused on a loaded machine).
        opened = []
        _wait_until(lambda: opened.append(ae.associate(
            "127.0.0.1", port, ae_title="QRSCOPE")) or opened[-1].is_established)
        assoc = opened[-1]
        for n in range(400):
            if n == 40:
                listener.send_signal(signal.SIGKILL)
            try:
                status = assoc.send_c_store(_ct(n))
            except RuntimeError:  # pynetdicom: the association ended (the kill) before it
                if n < 40:
                    raise
                break
            if not status or status.Status != 0:
                break
            confirmed.append(_ct(n).SOPInstanceUID)
        assoc.abort()
    finally:
        listener.kill()
        listener.wait(timeout=30)
    files = _on_disk(storage)
    stems = {Path(f).stem for f in files}
    assert confirmed and set(confirmed) <= stems  # every instance answered success is there
    assert _listed(tmp_path, storage) == files


def test_a_process_killed_between_the_file_and_its_row_is_healed_at_the_next_start(tmp_path):
    """The row of each filed instance is held back (as a kill would leave it): only the
    writer's mark, left behind, tells the next start to read the folder."""
    storage = tmp_path / "archive"
    script = textwrap.dedent(f"""
        import sys, threading
        from io import BytesIO
        import pydicom
        from pydicom.data import get_testdata_file
        from qrscope.core.archive.index import ArchiveIndex, open_index
        from qrscope.core.receive.storage import InstanceStore
        store = InstanceStore({str(storage)!r})
        open_index(store.root)
        ArchiveIndex.add = lambda self, rows: threading.Event().wait()
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4.5"
        out = BytesIO()
        ds.save_as(out, enforce_file_format=True)
        threading.Thread(target=store.store, args=(out.getvalue(),), daemon=True).start()
        print("filing", flush=True)
        threading.Event().wait()
    """)
    child = subprocess.Popen([sys.executable, "-c", script], env=_env(tmp_path),
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "filing"
        _wait_until(lambda: len(_on_disk(storage)) == 1)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert _listed(tmp_path, storage) == _on_disk(storage)


def test_an_import_killed_midway_loses_nothing_and_can_be_run_again(tmp_path):
    source, storage = tmp_path / "cd", tmp_path / "archive"
    source.mkdir()
    for n in range(300):
        buffer = BytesIO()
        _ct(n).save_as(buffer, enforce_file_format=True)
        (source / f"{n:04}.dcm").write_bytes(buffer.getvalue())
    command = [sys.executable, "-m", "qrscope", "archive", "import", str(source), "--copy",
               "--storage", str(storage)]
    child = subprocess.Popen(command, env=_env(tmp_path), stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(30):
            assert child.stdout.readline().startswith("imported")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    files = _on_disk(storage)
    assert 30 <= len(files) < 300
    assert _listed(tmp_path, storage) == files
    again = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=300,
                           env=_env(tmp_path), check=True)
    counts = json.loads(again.stdout)["counts"]
    assert counts["imported"] + counts.get("already present", 0) == 300
    assert len(_listed(tmp_path, storage)) == 300
