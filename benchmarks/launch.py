"""Launch as the user sees it (issue 21): from exec to the window drawn with its node list.

Each run spawns ``python -m qrscope`` the way a shell would (a new process, no
arguments: the window) and takes the monotonic clock just before the spawn.
The window, told by ``QRSCOPE_REPORT_FIRST_PAINT`` (``qrscope.ui.first_paint``),
writes the monotonic clock at its first paint and at the first paint of its
node list with a node in it (usable: pick a node, search), then closes as the
user's close does. ``CLOCK_MONOTONIC`` is one clock for every process on
Linux, so the difference is the launch the user waits through.

``first start`` is a fresh home (new ``HOME`` and XDG folders: no settings
yet, the demo PACS started and selected); ``second start`` is the next launch
with that same home. In the same rounds, two floors::

    Qt floor       a trivial PySide6 window with a one-item list, same clocks
    import floor   python -c "import pydicom, pynetdicom", exec to exit

The window runs under Xvfb at 1024x768 without a window manager when
``Xvfb`` is installed (``--offscreen``: Qt's offscreen platform instead).
``--app LABEL=DIR`` (repeatable) measures the qrscope package under DIR,
e.g. another checkout's ``app`` folder, alternating with the others in each
round. Nothing asserts a time; it prints medians and ranges::

    PYTHONPATH=$PWD/app python benchmarks/launch.py --repeat 5
    python benchmarks/launch.py --app main=/tmp/launch-base/app --app this=$PWD/app
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120.0
SCREEN = "1024x768x24"

_QT_FLOOR = """
import json, sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QListWidget, QMainWindow
app = QApplication(sys.argv)
window = QMainWindow()
nodes = QListWidget()
nodes.addItem("Demo PACS")
window.setCentralWidget(nodes)
class Report(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint and watched is nodes.viewport():
            now = time.clock_gettime(time.CLOCK_MONOTONIC)
            with open(sys.argv[1], "w") as out:
                json.dump({"first_paint": now, "usable": now}, out)
            app.removeEventFilter(self)
            QTimer.singleShot(0, app.quit)
        return False
report = Report()
app.installEventFilter(report)
window.show()
app.exec()
"""


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--app", action="append", metavar="LABEL=DIR",
                        help="a qrscope package to measure: its folder on PYTHONPATH "
                        "(repeatable; default: this checkout's app)")
    parser.add_argument("--offscreen", action="store_true",
                        help="Qt's offscreen platform even when Xvfb is installed")
    parser.add_argument("--json", type=Path, help="write every run as JSON")
    args = parser.parse_args(argv)
    apps = args.app or [f"this={ROOT / 'app'}"]
    args.apps = dict(item.split("=", 1) for item in apps)
    return args


def _clock() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


@contextlib.contextmanager
def display(offscreen: bool) -> Iterator[dict[str, str]]:
    """Environment for a window: a private Xvfb screen (no window manager), or offscreen."""
    xvfb = shutil.which("Xvfb")
    if offscreen or xvfb is None:
        yield {"QT_QPA_PLATFORM": "offscreen", "_display": "offscreen"}
        return
    read, write = os.pipe()
    # -displayfd: Xvfb picks a free display and writes its number when ready.
    server = subprocess.Popen([xvfb, "-displayfd", str(write), "-screen", "0", SCREEN,
                               "-nolisten", "tcp"], pass_fds=(write,),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as ready:
        number = ready.readline().strip()
    try:
        yield {"DISPLAY": f":{number}", "QT_QPA_PLATFORM": "xcb",
               "_display": f"Xvfb {SCREEN} without a window manager"}
    finally:
        server.terminate()
        server.wait(10)


def _base_env(screen: dict[str, str], home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XDG_", "QT_", "PYTHON")) and k not in ("DISPLAY", "HOME")}
    env.update({k: v for k, v in screen.items() if not k.startswith("_")})
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local" / "share"),
               XDG_STATE_HOME=str(home / ".local" / "state"),
               XDG_CACHE_HOME=str(home / ".cache"),
               XDG_RUNTIME_DIR=str(home / "run"))
    (home / "run").mkdir(parents=True, exist_ok=True, mode=0o700)
    return env


def _painted(command: list[str], env: dict[str, str], report: Path) -> dict[str, float]:
    """Spawn *command*; seconds from the spawn to each time it reported, and to its exit."""
    report.unlink(missing_ok=True)
    started = _clock()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        _out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        _out, err = process.communicate()
    ended = _clock()
    if not report.exists():
        raise RuntimeError(f"{command} reported no paint (exit {process.returncode}):\n"
                           f"{err[-3000:]}")
    times = json.loads(report.read_text())
    return {**{k: v - started for k, v in times.items()}, "exit": ended - started}


def qrscope_start(app: Path, screen: dict[str, str], home: Path) -> dict[str, float]:
    env = _base_env(screen, home)
    report = home / "first-paint.json"
    env.update(PYTHONPATH=str(app), QRSCOPE_REPORT_FIRST_PAINT=str(report))
    return _painted([sys.executable, "-m", "qrscope"], env, report)


def qt_floor(screen: dict[str, str], home: Path) -> dict[str, float]:
    report = home / "qt-floor.json"
    return _painted([sys.executable, "-c", _QT_FLOOR, str(report)],
                    _base_env(screen, home), report)


def import_floor(screen: dict[str, str], home: Path) -> dict[str, float]:
    started = _clock()
    subprocess.run([sys.executable, "-c", "import pydicom, pynetdicom"],
                   env=_base_env(screen, home), check=True)
    return {"exit": _clock() - started}


def one_round(apps: dict[str, str], screen: dict[str, str], base: Path,
              number: int) -> dict[str, dict]:
    runs: dict[str, dict] = {}
    for label, app in apps.items():
        home = base / f"{label}-{number}"
        runs[f"{label}: first start"] = qrscope_start(Path(app), screen, home)
        runs[f"{label}: second start"] = qrscope_start(Path(app), screen, home)
    runs["Qt floor"] = qt_floor(screen, base / f"qt-{number}")
    runs["import floor"] = import_floor(screen, base / f"import-{number}")
    return runs


def _figure(values: list[float]) -> str:
    return (f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"
            if values else "-")


def summary(rounds: list[dict[str, dict]]) -> list[tuple[str, str, str]]:
    """Per contender: median (range) to the first paint, and to the usable window."""
    rows = []
    for name in rounds[0]:
        runs = [r[name] for r in rounds]
        if "usable" in runs[0]:
            rows.append((name, _figure([r["first_paint"] for r in runs]),
                         _figure([r["usable"] for r in runs])))
        else:
            rows.append((name, "-", _figure([r["exit"] for r in runs]) + " (exit)"))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    for app in args.apps.values():  # as installing the wheel does (benchmarks/processes.py)
        compileall.compile_dir(Path(app) / "qrscope", quiet=1)
    rounds = []
    with tempfile.TemporaryDirectory(prefix="qrscope-launch-bench-") as tmp, \
            display(args.offscreen) as screen:
        print(f"display: {screen['_display']}", file=sys.stderr)
        for number in range(args.repeat):
            # Every contender once per round, in a rotated order.
            order = list(args.apps.items())
            order = order[number % len(order):] + order[:number % len(order)]
            rounds.append(one_round(dict(order), screen, Path(tmp), number))
            print(f"round {number + 1}: " + ", ".join(
                f"{k} {v.get('usable', v['exit']):.2f}" for k, v in rounds[-1].items()),
                file=sys.stderr, flush=True)
    rows = summary(rounds)
    width = max(len(name) for name, _, _ in rows)
    print(f"{'':<{width}}  {'first paint':<22}  usable window (node list drawn)")
    for name, first, usable in rows:
        print(f"{name:<{width}}  {first:<22}  {usable}")
    if args.json:
        args.json.write_text(json.dumps({"display": screen["_display"], "apps": args.apps,
                                         "rounds": rounds}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
