"""The window under load (issue 12, benchmark 5): does the GUI thread ever stall?

Starts Orthanc (Debian's package, ``TCP_NODELAY=1``) on loopback, loads a
study of small CT instances and many one-image studies, then runs the real
window (offscreen) in a fresh process, ``--repeat`` times, and measures::

    launch        process start to the window on screen
    search        a study-level search of every study: the longest stall of
                  the GUI thread, and the time from the last C-FIND response
                  to every row shown
    retrieve      C-MOVE of the small study with the log panel open: the
                  longest stall of the GUI thread
    peak memory   the process's resident high-water mark

A stall is how late a 10 ms heartbeat timer on the GUI thread fires. Nothing
here asserts a time; it prints medians::

    PYTHONPATH=$PWD/app python benchmarks/window.py            # 10,000 studies, 1000 images
    PYTHONPATH=$PWD/app python benchmarks/window.py --small    # 1000 studies, 100 images

``--profile FILE`` runs the window process under cProfile, whose main thread
is the GUI thread: where the GUI time goes. ``--stacks FILE`` writes the GUI
thread's Python stack whenever the heartbeat is over 30 ms late, sampled
from another thread: what a stall was. ``--calls`` counts, for each late
beat of the search, the Python functions Qt called on the GUI thread since
the beat before: each such call takes the interpreter lock, which the
threads decoding the responses hold (it slows the GUI thread's Python; for
the count, not the times). ``--spy FILE`` records the search with py-spy
(``--spy-options``, chrometrace: a timestamp per sample), to line samples up
with the stalls' times (``search_stalls`` in ``--json``).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from tests.interop.peers import HOST, free_ports

from benchmarks import data, orthanc
from benchmarks.processes import compile_qrscope, high_water_kib

HEARTBEAT_MS = 10
QRSCOPE_AE = "QRSCOPE"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="1000 studies, 100 images")
    parser.add_argument("--studies", type=int, help="one-image studies to search (10000)")
    parser.add_argument("--instances", type=int, help="images in the retrieved study (1000)")
    parser.add_argument("--repeat", type=int, default=3, help="window runs (default 3)")
    parser.add_argument("--json", type=Path, help="write every run as JSON")
    parser.add_argument("--profile", type=Path,
                        help="cProfile the (last) window process into this file")
    parser.add_argument("--stacks", type=Path,
                        help="write the GUI thread's stack during every stall to this file")
    parser.add_argument("--spy", type=Path,
                        help="record the (last) window process with py-spy during the search "
                             "into this file (chrometrace: a timestamp per sample)")
    parser.add_argument("--spy-options", default="--native --threads --gil",
                        help="py-spy record options for --spy (default: %(default)s)")
    parser.add_argument("--calls", action="store_true",
                        help="count the Python functions Qt called in each stall of the search")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.studies = args.studies or (1000 if args.small else 10000)
    args.instances = args.instances or (100 if args.small else 1000)
    return args


# --- the window process ------------------------------------------------------------


def _window_run(config: dict) -> dict:
    """One window, start to end; returns the measurements (runs in its own process)."""
    import asyncio

    import psutil
    import qasync
    from PySide6.QtCore import QElapsedTimer, QSettings, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from qrscope.core.dicom.records import QueryLevel
    from qrscope.core.profile_store import Profiles, ProfileStore
    from qrscope.core.profiles import LocalAE, RemoteNode
    from qrscope.ui.app import build_window

    started = psutil.Process().create_time()
    app = QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    work = Path(config["work"])
    store = ProfileStore(work / "profiles.json")
    node = RemoteNode(name="Orthanc", ae_title=orthanc.ORTHANC_AE_TITLE, host=HOST,
                      port=config["pacs_port"])
    local = LocalAE(ae_title=QRSCOPE_AE, listener_port=config["listen_port"],
                    bind_address=HOST, storage_folder=work / "received")
    store.save(Profiles(local=local, nodes=[node]))
    window = build_window(store, QSettings(str(work / "settings.ini"),
                                           QSettings.Format.IniFormat))
    window.resize(1400, 900)
    window.show()
    app.processEvents()
    result: dict = {"launch_s": time.time() - started}

    clock, latest = QElapsedTimer(), [0.0]
    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.setInterval(HEARTBEAT_MS)

    last_beat = [time.monotonic()]
    stalls: list[list] = []  # [wall time the late beat fired, ms late(, calls)]
    calls = _count_calls_from_qt() if config.get("calls") else None

    def beat() -> None:
        late = clock.restart() - HEARTBEAT_MS
        latest[0] = max(latest[0], late)
        last_beat[0] = time.monotonic()
        if late > 50:
            stalls.append([time.time(), late] + ([dict(calls)] if calls is not None else []))
        if calls is not None:
            calls.clear()

    heartbeat.timeout.connect(beat)
    if config.get("stacks"):
        _watch_stalls(last_beat, Path(config["stacks"]))

    def measure_from_now() -> None:
        latest[0] = 0.0
        clock.start()

    async def until(condition, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("the window did not get there in time")
            await asyncio.sleep(0.005)

    async def drive() -> None:
        heartbeat.start()
        window.editor.select_node("Orthanc")
        window.show_tab(1)  # the association log, where every message lands
        studies = window.search.models[QueryLevel.STUDY]
        spy = _spy(config)
        measure_from_now()
        stalls.clear()
        result["search_started"] = time.time()
        window.search.form.search.click()
        await until(lambda: studies.rowCount() >= config["studies"]
                    and window.search.form.search.isEnabled(), 600)
        shown = time.time()
        result["search_stall_ms"] = latest[0]
        result["search_stalls"] = list(stalls)
        if calls is not None:
            sys.setprofile(None)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)

        def finals() -> list[float]:
            return [e.time.timestamp() for e in window.log_panel.model.events
                    if e.detail.get("message") == "C-FIND-RSP" and e.detail.get("status") == 0]

        # The log panel adds its events on a timer: the rows can be shown first.
        await until(lambda: bool(finals()), 10)
        result["rows_after_last_response_s"] = shown - max(finals())
        result["rows"] = studies.rowCount()

        row = next(i for i, r in enumerate(studies.records)
                   if r.study_uid == config["study_uid"])
        window.search.views[QueryLevel.STUDY].selectRow(row)
        jobs = window.jobs.model.rows
        measure_from_now()
        window.search.retrieve_selection("move")
        # The outcome, not the state: the last progress event says "success"
        # a moment before the outcome reaches the row.
        await until(lambda: bool(jobs) and (jobs[-1].outcome is not None
                                            or bool(jobs[-1].not_started)), 600)
        result["retrieve_stall_ms"] = latest[0]
        result["retrieved"] = len(jobs[-1].outcome.stored) if jobs[-1].outcome else 0
        result["retrieve_state"] = jobs[-1].state.value
        heartbeat.stop()

    try:
        with loop:
            loop.run_until_complete(drive())
    finally:
        result["peak_rss_mb"] = high_water_kib(os.getpid()) / 1024
        window.close()
        window.deleteLater()
        app.processEvents()
    return result


def _count_calls_from_qt() -> collections.Counter:
    """From now on, count the Python functions Qt calls on this thread (``--calls``).

    Qt's event loop was entered from Python (qasync's ``run_forever``), so a
    call from Qt is a frame whose caller is that one, or none.
    """
    counts: collections.Counter = collections.Counter()
    loop_frames = ("run_forever", "run_until_complete")

    def profile(frame, event, _arg) -> None:
        if event == "call" and (frame.f_back is None
                                or frame.f_back.f_code.co_name in loop_frames):
            counts[frame.f_code.co_qualname] += 1

    sys.setprofile(profile)
    return counts


def _spy(config: dict) -> subprocess.Popen | None:
    """py-spy recording this process from now until it is sent SIGINT (``--spy``)."""
    if not config.get("spy"):
        return None
    tool = Path(sys.executable).with_name("py-spy")
    spy = subprocess.Popen([str(tool), "record", *config["spy_options"].split(), "-r", "200",
                            "-f", "chrometrace", "-o", config["spy"], "--pid", str(os.getpid())],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached before the search starts (not measured)
    return spy


def _watch_stalls(last_beat: list[float], path: Path) -> None:
    """Sample the GUI thread's stack from a daemon thread while a beat is late."""
    import threading
    import traceback

    gui = threading.get_ident()

    def watch() -> None:
        with path.open("a", encoding="utf-8") as out:
            seen = None
            while True:
                time.sleep(0.005)
                late = time.monotonic() - last_beat[0] - HEARTBEAT_MS / 1000
                frame = sys._current_frames().get(gui)
                if late < 0.03 or frame is None:
                    seen = None
                    continue
                stack = "".join(traceback.format_stack(frame))
                if stack != seen:
                    out.write(f"--- {late * 1000:.0f} ms late\n{stack}")
                    if late > 0.05:  # a thread that holds the interpreter lock shows here
                        names = {t.ident: t.name for t in threading.enumerate()}
                        for ident, other in sys._current_frames().items():
                            if ident not in (gui, threading.get_ident()):
                                where = traceback.format_stack(other)[-1].strip().splitlines()
                                out.write(f"  [{names.get(ident, ident)}] {where[0]}\n")
                    out.flush()
                    seen = stack

    threading.Thread(target=watch, daemon=True, name="stall-watch").start()


# --- the benchmark ------------------------------------------------------------------


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _one_window(config: dict, run: int) -> dict:
    folder = Path(config["base"]) / f"window-{run}"
    folder.mkdir(parents=True)
    config = dict(config, work=str(folder))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               XDG_CONFIG_HOME=str(folder / "xdg-config"),
               XDG_DATA_HOME=str(folder / "xdg-data"))
    spec = folder / "config.json"
    spec.write_text(json.dumps(config))
    profile = ["-m", "cProfile", "-o", config["profile"]] if config.get("profile") else []
    finished = subprocess.run([sys.executable, *profile, __file__, "--child", str(spec)], env=env,
                              capture_output=True, text=True, timeout=1800)
    if finished.returncode != 0:
        raise RuntimeError(f"the window run failed:\n{finished.stderr[-4000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def _summary(runs: list[dict]) -> list[tuple[str, str]]:
    def median(key: str, scale: float = 1.0, unit: str = "") -> str:
        values = [r[key] * scale for r in runs if r.get(key) is not None]
        if not values:
            return "-"
        return f"{statistics.median(values):.3g} {unit} (max {max(values):.3g})".strip()

    return [
        ("launch to window shown", median("launch_s", unit="s")),
        ("longest GUI stall, search of every study", median("search_stall_ms", unit="ms")),
        ("last C-FIND response to every row shown", median("rows_after_last_response_s",
                                                           unit="s")),
        ("longest GUI stall, C-MOVE with the log open", median("retrieve_stall_ms",
                                                               unit="ms")),
        ("peak resident memory", median("peak_rss_mb", unit="MB")),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.child is not None:
        print(json.dumps(_window_run(json.loads(args.child.read_text()))))
        return 0
    compile_qrscope()
    with tempfile.TemporaryDirectory(prefix="qrscope-window-bench-") as tmp:
        work = Path(tmp)
        _say(f"generating {args.instances} small instances and {args.studies} studies")
        study = data.image_study(work / "data" / "small", f"{args.instances} x 40 KB",
                                 args.instances, 140, 140, seed=1)
        data.many_studies(work / "data" / "find", args.studies)
        pacs_port, http_port, listen_port = free_ports(3)
        with orthanc.running(work, pacs_port, http_port, {QRSCOPE_AE: listen_port},
                             nodelay=True):
            _say("loading Orthanc")
            orthanc.load([study.folder, work / "data" / "find"], pacs_port,
                         work / "load.log")
            config = {"base": str(work), "pacs_port": pacs_port, "listen_port": listen_port,
                      "studies": args.studies + 1, "study_uid": study.study_uid,
                      "profile": str(args.profile.resolve()) if args.profile else "",
                      "stacks": str(args.stacks.resolve()) if args.stacks else "",
                      "spy": str(args.spy.resolve()) if args.spy else "",
                      "spy_options": args.spy_options, "calls": args.calls}
            runs = []
            for run in range(args.repeat):
                runs.append(_one_window(config, run))
                _say(f"window run {run + 1}: "
                     f"{ {k: v for k, v in runs[-1].items() if k != 'search_stalls'} }")
                if runs[-1]["retrieved"] != args.instances or runs[-1]["rows"] != \
                        args.studies + 1:
                    raise data.WrongResult(f"the window run was incomplete: {runs[-1]}")
    width = max(len(name) for name, _ in _summary(runs))
    for name, value in _summary(runs):
        print(f"{name:<{width}}  {value}")
    if args.json:
        args.json.write_text(json.dumps({"settings": {k: str(v) for k, v in vars(args).items()},
                                         "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
