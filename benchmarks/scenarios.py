"""The scenarios of issue 12: retrieve, listener ingest, C-FIND and memory.

Each runs its contenders ``repeat`` times, alternating them within every round
(the order rotates from round to round, so no contender always runs first on a
cold cache), checks every output, and returns one :class:`Sample` per run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pydicom
from tests.interop.peers import HOST

from .contenders import QRSCOPE_AE, Contender, Target
from .data import Study, WrongResult, check_arrived
from .orthanc import LOADER_AE_TITLE, storescu
from .processes import Finished, background, environment, run_timed


@dataclass(frozen=True)
class Sample:
    scenario: str
    data: str
    contender: str
    tool: str
    method: str
    round: int
    seconds: float
    peak_rss_mb: float
    instances: int
    megabytes: float
    engine: str = ""
    """qrscope's engine variant (contenders.ENGINES); empty for the other tools."""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Bench:
    """Where a scenario runs: the work folder, the PACS, and the listener ports."""

    work: Path
    pacs_port: int
    listen_ports: dict[str, int]
    repeat: int
    keep: bool = False

    def env(self, contender: Contender) -> dict[str, str]:
        env = environment(contender.nodelay)
        # qrscope's profiles and data folders: empty ones of the benchmark's own.
        env["XDG_CONFIG_HOME"] = str(self.work / "xdg-config")
        env["XDG_DATA_HOME"] = str(self.work / "xdg-data")
        env.update(contender.engine_environment())
        env.update(contender.environment)
        return env

    def folder(self, *parts: str) -> Path:
        path = self.work.joinpath(*(re.sub(r"[^\w.-]+", "-", p) for p in parts))
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def discard(self, folder: Path) -> None:
        if not self.keep:
            shutil.rmtree(folder, ignore_errors=True)


def rounds(contenders: Sequence[Contender], repeat: int):
    for number in range(repeat):
        shift = number % len(contenders)
        yield number, [*contenders[shift:], *contenders[:shift]]


def _ok(finished: Finished, contender: Contender, log: Path) -> Finished:
    if finished.returncode != 0:
        raise WrongResult(f"{contender.name} exited with {finished.returncode}; see {log}")
    return finished


def retrieve(bench: Bench, scenario: str, studies: Sequence[Study],
             contenders: Sequence[Contender], report: Callable[[Sample], None]) -> None:
    """Each contender retrieves each study from the PACS into an empty folder."""
    for number, order in rounds(contenders, bench.repeat):
        for study in studies:
            for contender in order:
                out = bench.folder(scenario, study.name, contender.name, str(number))
                target = Target(bench.pacs_port, bench.listen_ports, out, study.study_uid)
                log = out.parent / f"{out.name}.log"
                finished = _ok(run_timed(contender.command(target), log, bench.env(contender),
                                         cwd=out, out=out), contender, log)
                count = check_arrived(study, out)
                report(Sample(scenario, study.name, contender.name, contender.tool,
                              contender.method, number, finished.seconds,
                              finished.peak_rss_mb, count, study.bytes / 1e6, contender.engine))
                bench.discard(out)


def _send(bench: Bench, study: Study, log: Path) -> list[str]:
    return [storescu(), "--aetitle", LOADER_AE_TITLE, "--call", QRSCOPE_AE, "-R", "+sd", "+r",
            HOST, str(bench.listen_ports[QRSCOPE_AE]), str(study.folder)]


def ingest(bench: Bench, studies: Sequence[Study], contenders: Sequence[Contender],
           report: Callable[[Sample], None]) -> None:
    """DCMTK storescu (``TCP_NODELAY=1``) sends each study to each listener, freshly started.

    The time is storescu's, start to exit: its last C-STORE-RSP comes after
    the listener has the last file safely on disk. The memory is the listener's.
    """
    sender_env = environment(nodelay=True)
    for number, order in rounds(contenders, bench.repeat):
        for study in studies:
            for contender in order:
                out = bench.folder("ingest", study.name, contender.name, str(number))
                target = Target(0, bench.listen_ports, out)
                log = out.parent / f"{out.name}.log"
                with background(contender.command(target), out.parent / f"{out.name}.scp.log",
                                bench.env(contender), out.parent, QRSCOPE_AE,
                                bench.listen_ports[QRSCOPE_AE]) as listener:
                    finished = _ok(run_timed(_send(bench, study, log), log, sender_env,
                                             cwd=out.parent), contender, log)
                    listener.stop()
                count = check_arrived(study, out)
                report(Sample("ingest", study.name, contender.name, contender.tool,
                              contender.method, number, finished.seconds,
                              listener.peak_rss_mb, count, study.bytes / 1e6, contender.engine))
                bench.discard(out)


# --- C-FIND ----------------------------------------------------------------


def _found_by_qrscope(out: Path, log: Path) -> list[str]:
    answer = json.loads(log.read_text())
    if answer["status"] != "success" or answer["truncated"]:
        raise WrongResult(f"qrscope find: {answer['status']}, truncated={answer['truncated']}")
    return [r["attributes"].get("StudyInstanceUID", "") for r in answer["results"]]


_XML_STUDY_UID = re.compile(r'<element tag="0020,000d"[^>]*>([^<]*)</element>')


def _found_by_findscu(out: Path, log: Path) -> list[str]:
    return _XML_STUDY_UID.findall((out / "responses.xml").read_text())


def _found_by_pynetdicom(out: Path, log: Path) -> list[str]:
    return [str(pydicom.dcmread(p, specific_tags=["StudyInstanceUID"]).StudyInstanceUID)
            for p in sorted(out.glob("rsp*.dcm"))]


_FOUND = {"qrscope": _found_by_qrscope, "dcmtk": _found_by_findscu,
          "pynetdicom": _found_by_pynetdicom}


def check_found(contender: Contender, out: Path, log: Path, expected: set[str]) -> int:
    found = _FOUND[contender.tool](out, log)
    if len(found) != len(set(found)) or set(found) != expected:
        raise WrongResult(f"{contender.name}: {len(found)} results "
                          f"({len(set(found))} distinct), {len(set(found) & expected)} of "
                          f"the {len(expected)} studies")
    return len(found)


def find(bench: Bench, scenario: str, expected: set[str], contenders: Sequence[Contender],
         report: Callable[[Sample], None]) -> None:
    """Each contender lists every study the PACS holds with one study-level C-FIND."""
    for number, order in rounds(contenders, bench.repeat):
        for contender in order:
            out = bench.folder(scenario, contender.name, str(number))
            log = out.parent / f"{out.name}.log"
            finished = _ok(run_timed(contender.command(Target(bench.pacs_port, {}, out)), log,
                                     bench.env(contender), cwd=out, out=out), contender, log)
            count = check_found(contender, out, log, expected)
            report(Sample(scenario, f"{len(expected)} studies", contender.name, contender.tool,
                          contender.method, number, finished.seconds, finished.peak_rss_mb,
                          count, 0.0, contender.engine))
            bench.discard(out)


def versions() -> dict[str, str]:
    """The versions of everything measured, for the report."""
    import platform

    import pydicom as pd
    import pynetdicom

    def first_line(command: list[str]) -> str:
        try:
            out = subprocess.run(command, capture_output=True, text=True, timeout=10).stdout
        except OSError:
            return "not installed"
        return next((line for line in out.splitlines() if line.strip()), "")

    return {
        "python": platform.python_version(),
        "pydicom": pd.__version__,
        "pynetdicom": pynetdicom.__version__,
        "dcmtk": first_line([storescu(), "--version"]),
        "orthanc": first_line(["/usr/sbin/Orthanc", "--version"]),
        "kernel": platform.release(),
        "cpu": _cpu(),
    }


def _cpu() -> str:
    import os

    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return f"{os.cpu_count()} CPUs"
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                  if line.startswith("model name")), "?")
    return f"{os.cpu_count()} x {model}"
