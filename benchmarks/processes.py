"""Running the contenders and servers: timing, peak memory, and clean stops.

A contender is timed from just before its process starts to its exit or to the
last file it wrote, whichever is later. Peak memory is the kernel's high-water
mark of the process's resident set (``VmHWM`` in ``/proc/PID/status``), read
every few milliseconds until it exits. (``ru_maxrss`` from ``wait4`` would be
simpler but is useless here: Linux carries the forking parent's peak across
``exec``, so every child reported this script's own 64 MB.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.interop.peers import echo_status

STOP_TIMEOUT = 10.0
START_TIMEOUT = 30.0


def compile_qrscope() -> None:
    """Byte-compile the qrscope package being measured, as installing its wheel does.

    pynetdicom's apps and pydicom run from their compiled files in
    site-packages; qrscope runs from its source tree, where
    ``PYTHONDONTWRITEBYTECODE`` (set on some machines) would have every run
    compile every module again, about 50 ms of each run's start.
    """
    import compileall

    import qrscope

    compileall.compile_dir(Path(qrscope.__file__).parent, quiet=1)


def environment(nodelay: bool) -> dict[str, str]:
    """The caller's environment with DCMTK's ``TCP_NODELAY`` switch set or removed.

    DCMTK (and Orthanc, which links DCMTK's dcmnet) leaves Nagle's algorithm on
    unless ``TCP_NODELAY=1`` is in the environment (dcmnet/libsrc/dulfsm.cc).
    """
    env = {k: v for k, v in os.environ.items() if k != "TCP_NODELAY"}
    if nodelay:
        env["TCP_NODELAY"] = "1"
    return env


@dataclass(frozen=True)
class Finished:
    seconds: float
    peak_rss_mb: float
    returncode: int


def high_water_kib(pid: int) -> int:
    """The process's resident high-water mark (VmHWM), in KiB; 0 when unknown."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _wait(process: subprocess.Popen[bytes], timeout: float) -> tuple[int, float]:
    """Exit code, and the process's peak resident memory in MB."""
    deadline = time.monotonic() + timeout
    peak = 0
    while True:
        peak = max(peak, high_water_kib(process.pid))
        pid, status = os.waitpid(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, peak / 1024
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"{process.args[0]} ran over {timeout:.0f} s")
        time.sleep(0.003)


def newest_mtime(folder: Path) -> float:
    times = [p.stat().st_mtime for p in folder.rglob("*") if p.is_file()]
    return max(times, default=0.0)


def run_timed(command: Sequence[str], log: Path, env: Mapping[str, str], cwd: Path,
              out: Path | None = None, timeout: float = 1800) -> Finished:
    """Run ``command`` to its end (stdout to ``log``, stderr beside it as ``.err``);
    time to its exit or to the newest file in ``out``, whichever is later."""
    with log.open("wb") as sink, log.with_suffix(".err").open("wb") as errors:
        wall_start, start = time.time(), time.perf_counter()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=sink,
                                   stderr=errors, env=dict(env), cwd=cwd)
        code, peak = _wait(process, timeout)
        seconds = time.perf_counter() - start
    if out is not None and out.exists():
        seconds = max(seconds, newest_mtime(out) - wall_start)
    return Finished(seconds, peak, code)


@dataclass
class Server:
    """A background process (Orthanc, a listener) and, once it ends, its peak memory."""

    process: subprocess.Popen[bytes]
    peak_rss_mb: float = 0.0

    def stop(self) -> None:
        # The high-water mark before the signal: shutting down is not the workload.
        peak = high_water_kib(self.process.pid) / 1024
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            _wait(self.process, STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            _wait(self.process, STOP_TIMEOUT)
        self.peak_rss_mb = peak


@contextlib.contextmanager
def background(command: Sequence[str], log: Path, env: Mapping[str, str], cwd: Path,
               ae_title: str, port: int) -> Iterator[Server]:
    """Start a server in its own process group; yield once it answers C-ECHO."""
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=sink,
                                   stderr=subprocess.STDOUT, env=dict(env), cwd=cwd,
                                   start_new_session=True)
    server = Server(process)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while echo_status(ae_title, port) != 0x0000:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not start; see {log}")
            time.sleep(0.05)
        yield server
    finally:
        if server.process.returncode is None:
            server.stop()
