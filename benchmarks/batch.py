"""Batch retrieval (issue 23): ``qrscope batch`` against a loop of single retrieves.

The same studies (default 200, of 3 small CT images each), the same Orthanc,
the same run, every contender a new process as a user's script would start it,
the order rotated every round (``--repeat``):

* ``qrscope batch LIST.csv`` (a column of Study Instance UIDs), one process for
  every study, ``--max-parallel`` retrieves at once (default 1, so that its time
  compares with the serial loops below);
* a loop of ``qrscope retrieve --study UID``, one process per study;
* a shell loop of DCMTK ``movescu`` (``bash`` running ``for uid in ...``), one
  process per study;
* one ``movescu`` process that asks for every study in turn on one
  association (a query file per study): one process start, one
  association, DCMTK's own speed.

Orthanc rather than dcmqrscp: dcmqrscp forks a child per association, so its
own time per C-MOVE includes a process start that no client can avoid, and
Orthanc is the PACS every other benchmark here measures.

The PACS's own time of every run is read off the wire (:mod:`benchmarks.wire`:
``tcpdump`` on loopback, so the script runs as root): for each C-MOVE, from
its request complete at Orthanc's port to Orthanc's final response, summed
over the run's C-MOVEs (one per study, each checked to have succeeded).
Orthanc 1.10's log cannot give it: it notes a C-MOVE's arrival but not its
final response. Each contender's files are checked after the run (every
instance, once, unchanged: :func:`benchmarks.data.check_arrived`).
Reported per contender: its time per study, the PACS's own time in its runs,
its overhead per study over that ((wall time - the PACS's own) / studies)
and its ratio to it (the issue's goal for the batch: at most 1.05). The
PACS's own time includes the destination's side of the sub-operations, so
a C-MOVE to ``movescu`` takes Orthanc far longer than one to qrscope.
(Earlier versions took movescu's wall time, less its start, as the PACS's
time; most of that time was movescu's storage side.)

    sudo PYTHONPATH=app:. python -m benchmarks.batch --repeat 2 --markdown batch.md
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pydicom import Dataset
from tests.interop.peers import HOST, free_ports

from . import report, wire
from .contenders import dcmtk
from .data import Study, WrongResult, check_arrived, image_study
from .orthanc import ORTHANC_AE_TITLE, load, running
from .processes import compile_qrscope, environment, run_timed
from .scenarios import Sample, versions

QRSCOPE_AE = "QRSCOPE"
MOVESCU_AE = "MOVESCU"
ONE_ASSOCIATION = "movescu, one association"
BASELINE = "qrscope batch (baseline)"
CONTENDERS = ("qrscope batch", "qrscope retrieve loop", "movescu loop", ONE_ASSOCIATION)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.batch",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--instances", type=int, default=3, help="instances per study")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-parallel", type=int, default=1)
    parser.add_argument("--only", help="comma-separated contenders to run (default: all), "
                        f"of: {', '.join(CONTENDERS)}")
    parser.add_argument("--baseline", type=Path,
                        help="also run 'qrscope batch' from this other app folder (another "
                        "checkout's app/), as the contender '" + BASELINE + "': a change "
                        "measured against the code before it, in the same run")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="write samples and summary here")
    parser.add_argument("--markdown", type=Path, help="write the summary table here")
    return parser.parse_args(argv)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _studies(folder: Path, count: int, instances: int) -> list[Study]:
    return [image_study(folder / f"{n:04d}", f"study {n}", instances, 64, 64, seed=n)
            for n in range(count)]


def _env(work: Path, app: Path | None = None) -> dict[str, str]:
    env = environment(nodelay=True)
    env["XDG_CONFIG_HOME"] = str(work / "xdg-config")
    env["XDG_DATA_HOME"] = str(work / "xdg-data")
    env["PYTHONPATH"] = str(app or Path(__file__).resolve().parents[1] / "app")
    return env


def contenders(args: argparse.Namespace) -> tuple[str, ...]:
    """The contenders of this run: ``--only``'s (all by default), and the baseline's."""
    chosen = tuple(c for c in CONTENDERS
                   if not args.only or c in {n.strip() for n in args.only.split(",")})
    return (*chosen, BASELINE) if args.baseline else chosen


def _profiles(folder: Path, listener_port: int) -> Path:
    from qrscope.core.profile_store import Profiles, ProfileStore
    from qrscope.core.profiles import LocalAE

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "profiles.json"
    ProfileStore(path).save(Profiles(local=LocalAE(
        ae_title=QRSCOPE_AE, listener_port=listener_port, storage_folder=folder / "unused")))
    return path


def _batch_script(work: Path, studies: list[Study], out: Path, port: int, listen: int,
                  parallel: int, number: int | str) -> list[str]:
    """*number* names the run's list, settings and report (a batch is identified by its
    list and node: another contender's run of the same list would resume it)."""
    listing = work / f"list-{number}.csv"
    listing.write_text("StudyInstanceUID\n" + "".join(f"{s.study_uid}\n" for s in studies))
    config = _profiles(work / f"batch-config-{number}", listen)
    return [sys.executable, "-m", "qrscope", "batch", str(listing), "--config", str(config),
            "--host", HOST, "--port", str(port), "--called-aet", ORTHANC_AE_TITLE,
            "--out", str(out), "--report", str(work / f"batch-report-{number}.csv"),
            "--max-parallel", str(parallel), "--json"]


def _loop(work: Path, name: str, lines: list[str]) -> list[str]:
    script = work / f"{name}.sh"
    script.write_text("set -e\n" + "".join(f"{line}\n" for line in lines))
    return ["bash", str(script)]


def _retrieve_loop(work: Path, studies: list[Study], out: Path, port: int, listen: int,
                   number: int) -> list[str]:
    command = (f"{sys.executable} -m qrscope retrieve --host {HOST} --port {port} "
               f"--called-aet {ORTHANC_AE_TITLE} --aet {QRSCOPE_AE} --listen-port {listen} "
               f"--out {out} --json --study")
    return _loop(work, f"retrieve-{number}", [f"{command} {s.study_uid} > /dev/null"
                                               for s in studies])


def _movescu_loop(work: Path, studies: list[Study], out: Path, port: int, listen: int,
                  number: int) -> list[str]:
    out.mkdir(parents=True)
    command = (f"{dcmtk('movescu')} -S -aet {MOVESCU_AE} -aec {ORTHANC_AE_TITLE} "
               f"-aem {MOVESCU_AE} --port {listen} -od {out} "
               f"-k QueryRetrieveLevel=STUDY {HOST} {port} -k StudyInstanceUID=")
    return _loop(work, f"movescu-{number}", [f"{command}{s.study_uid}" for s in studies])


def _movescu_one(work: Path, studies: list[Study], out: Path, port: int, listen: int,
                 number: int) -> list[str]:
    """One movescu, every study asked for in turn on one association (a query file each)."""
    out.mkdir(parents=True)
    queries = work / f"queries-{number}"
    queries.mkdir()
    files = []
    for index, study in enumerate(studies):
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = study.study_uid
        path = queries / f"q{index:05d}.dcm"
        query.save_as(path, implicit_vr=False, little_endian=True)
        files.append(str(path))
    return [dcmtk("movescu"), "-S", "-aet", MOVESCU_AE, "-aec", ORTHANC_AE_TITLE,
            "-aem", MOVESCU_AE, "--port", str(listen), "-od", str(out), HOST, str(port),
            *files]


def _check(studies: list[Study], out: Path) -> int:
    """Every instance of every study in *out*, once and unchanged."""
    everything = Study("all", "", out, {k: v for s in studies for k, v in s.fingerprints.items()})
    return check_arrived(everything, out)


def _round(work: Path, studies: list[Study], ports: dict[str, int], args: argparse.Namespace,
           number: int, pacs: dict[tuple[str, int], float]) -> list[Sample]:
    """One run of every contender; the PACS's own time of each run into *pacs*."""
    samples = []
    names = contenders(args)
    shift = number % len(names)
    for name in [*names[shift:], *names[:shift]]:
        out = work / "out" / f"{name.replace(' ', '-').strip('()')}-{number}"
        app = args.baseline if name == BASELINE else None
        if name in ("qrscope batch", BASELINE):
            command = _batch_script(work, studies, out, ports["pacs"], ports[QRSCOPE_AE],
                                    args.max_parallel,
                                    f"baseline-{number}" if app else number)
        elif name == "qrscope retrieve loop":
            command = _retrieve_loop(work, studies, out, ports["pacs"], ports[QRSCOPE_AE],
                                     number)
        elif name == "movescu loop":
            command = _movescu_loop(work, studies, out, ports["pacs"], ports[MOVESCU_AE],
                                    number)
        else:
            command = _movescu_one(work, studies, out, ports["pacs"], ports[MOVESCU_AE],
                                   number)
        log = out.parent.parent / "logs" / f"{out.name}.log"
        capture = log.with_suffix(".pcap")
        with wire.capture(ports["pacs"], capture):
            began = time.time()
            finished = run_timed(command, log, _env(work, app), work)
            ended = time.time()
        moves = wire.moves(capture, ports["pacs"])
        if len(moves) != len(studies) or any(m.status != 0 for m in moves):
            raise WrongResult(f"{name}: {len(moves)} C-MOVEs, not one per study "
                              f"succeeding; see {capture}")
        pacs[(name, number)] = sum(m.seconds for m in moves)
        capture.unlink()
        if finished.returncode != 0:
            raise WrongResult(f"{name} exited with {finished.returncode}; see {log}")
        arrived = _check(studies, out)
        megabytes = sum(p.stat().st_size for s in studies for p in s.folder.iterdir()) / 1e6
        tool = "dcmtk" if name.startswith("movescu") else "qrscope"
        sample = Sample("batch", f"{len(studies)} studies x {args.instances}", name, tool,
                        "move", number, finished.seconds, finished.peak_rss_mb, arrived,
                        round(megabytes, 1))
        _say(f"{name:<22} round {number}: {sample.seconds:7.2f} s, {arrived} instances, "
             f"the PACS's own {pacs[(name, number)]:6.2f} s; {between(moves, began, ended)}")
        samples.append(sample)
        shutil.rmtree(out)
    return samples


def between(moves: list[wire.Move], began: float, ended: float) -> str:
    """Where the client's time outside the C-MOVEs went: before the first (process
    start, listener, resolving), between one's final response and the next request
    (median), after the last (the end of the run)."""
    gaps = [b.requested - a.answered for a, b in itertools.pairwise(moves)]
    median = 1000 * statistics.median(gaps) if gaps else 0.0
    return (f"before the first C-MOVE {moves[0].requested - began:.2f} s, between two "
            f"{median:.1f} ms (median), after the last {ended - moves[-1].answered:.2f} s")


def overheads(samples: list[Sample], pacs: dict[tuple[str, int], float],
              studies: int, names: tuple[str, ...] = CONTENDERS) -> list[dict[str, object]]:
    """Per contender: median seconds, per study, the PACS's own time in its runs (the sum
    of its C-MOVEs, off the wire), its overhead per study over that and its ratio to it.
    Medians are of the runs' values (the overhead is the median run's, not a
    difference of medians)."""
    rows = []
    for name in names:
        runs = [(s.seconds, pacs[(name, s.round)]) for s in samples if s.contender == name]
        seconds = statistics.median(wall for wall, _ in runs)
        own = statistics.median(p for _, p in runs)
        overhead = statistics.median((wall - p) / studies for wall, p in runs)
        ratio = statistics.median(wall / max(p, 1e-9) for wall, p in runs)
        rows.append({"contender": name, "seconds": round(seconds, 2),
                     "per_study_ms": round(1000 * seconds / studies, 1),
                     "pacs_own_s": round(own, 2),
                     "pacs_own_per_study_ms": round(1000 * own / studies, 1),
                     "overhead_per_study_ms": round(1000 * overhead, 1),
                     "ratio_to_pacs_own": round(ratio, 2)})
    return rows


def markdown(rows: list[dict[str, object]]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="qrscope-batch-bench-"))
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    compile_qrscope()
    studies = _studies(work / "data", args.studies, args.instances)
    dicom_port, http_port, ours, theirs = free_ports(4)
    ports = {"pacs": dicom_port, QRSCOPE_AE: ours, MOVESCU_AE: theirs}
    samples: list[Sample] = []
    pacs: dict[tuple[str, int], float] = {}
    started = time.monotonic()
    (work / "orthanc").mkdir()
    with running(work / "orthanc", dicom_port, http_port,
                 {QRSCOPE_AE: ours, MOVESCU_AE: theirs}, nodelay=True):
        load([work / "data"], dicom_port, work / "logs" / "load.log")
        for number in range(args.repeat):
            samples += _round(work, studies, ports, args, number, pacs)
    rows = overheads(samples, pacs, args.studies, contenders(args))
    load_average = Path("/proc/loadavg").read_text().split()[:3]
    print(markdown(rows))
    _say(f"load average {' '.join(load_average)}; "
         f"{len(samples)} runs in {time.monotonic() - started:.0f} s")
    if args.markdown:
        args.markdown.write_text(markdown(rows))
    if args.json:
        settings = {**{k: str(v) for k, v in vars(args).items()},
                    "load_average": " ".join(load_average)}
        report.write(args.json, settings, versions(), samples, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
