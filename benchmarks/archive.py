"""What the archive index costs (issue 22): listener ingest with and without it, import, list.

Listener ingest is DCMTK storescu sending a study to ``qrscope listen``,
with the index (as shipped) and without it (``QRSCOPE_ARCHIVE_INDEX=off``,
a switch for this measurement only), alternately in the same run; then
``qrscope archive import`` of the small study's folder into an empty
archive, and ``qrscope archive list`` (studies, and one study's instances)
of an archive whose index holds ``--list-instances`` rows, written directly
(no files: the list reads only the index)::

    PYTHONPATH=$PWD/app python benchmarks/archive.py --small-count 10000 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from tests.interop.peers import free_ports

from benchmarks import data, processes, report, scenarios
from benchmarks.contenders import PYTHON, RETRIEVERS, Contender

INDEXED = Contender("qrscope listen (archive index)", "qrscope", "store", False, "tuned")
UNINDEXED = Contender("qrscope listen (no index)", "qrscope", "store", False, "tuned",
                      (("QRSCOPE_ARCHIVE_INDEX", "off"),))


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small-count", type=int, default=10000)
    parser.add_argument("--large-count", type=int, default=200)
    parser.add_argument("--list-instances", type=int, default=100000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path)
    return parser.parse_args(argv)


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _timed(command: list[str], work: Path, name: str) -> float:
    log = work / f"{name}.log"
    finished = processes.run_timed(command, log, processes.environment(False), cwd=work)
    if finished.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {finished.returncode}; see {log}")
    return finished.seconds


def _fill_index(storage: Path, count: int) -> None:
    """*count* instance rows (100 per series, 10 series per study), written in batches."""
    from qrscope.core.archive.index import InstanceRow, close_index, open_index

    index = open_index(storage)
    batch = []
    for n in range(count):
        study, series = n // 1000, n // 100
        batch.append(InstanceRow(
            path=f"P{study % 97}/1.2.9.{study}/1.2.9.{study}.{series}/1.2.9.{n}.dcm",
            size=40000, mtime_ns=0, sop_instance_uid=f"1.2.9.{study}.{series}.{n}",
            sop_class_uid=data.CT_IMAGE, series_uid=f"1.2.9.{study}.{series}",
            study_uid=f"1.2.9.{study}", patient_id=f"P{study % 97}",
            patient_name=f"Patient^{study % 97}", study_date="20240101", modality="CT",
            instance_number=str(n % 100 + 1)))
        if len(batch) == 5000:
            index.add(batch)
            batch = []
    index.add(batch)
    close_index(storage)


def archive_commands(args: argparse.Namespace, work: Path, small: data.Study) -> list[dict]:
    rows = []
    imports = []
    for number in range(args.repeat):
        storage = work / f"import-{number}"
        imports.append(_timed([PYTHON, "-m", "qrscope", "archive", "import", str(small.folder),
                               "--storage", str(storage)], work, f"import-{number}"))
        _say(f"archive import of {small.count} files: {imports[-1]:.2f} s")
    rows.append({"what": f"archive import, {small.count} files", "runs": imports})
    listed = work / "list"
    _fill_index(listed, args.list_instances)
    for level, extra in (("study", []), ("instance", ["--study", "1.2.9.0"])):
        times = []
        for number in range(args.repeat):
            times.append(_timed([PYTHON, "-m", "qrscope", "archive", "list", "--level", level,
                                 *extra, "--storage", str(listed), "--json"], work,
                                f"list-{level}-{number}"))
            _say(f"archive list --level {level}: {times[-1]:.2f} s")
        rows.append({"what": f"archive list --level {level} of {args.list_instances} "
                     f"instances{' (one study)' if extra else ''}", "runs": times})
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="qrscope-archive-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    processes.compile_qrscope()
    _say(f"generating {args.small_count} small and {args.large_count} large instances")
    small = data.image_study(work / "data" / "small", f"{args.small_count} x 40 KB",
                             args.small_count, 140, 140, seed=1)
    large = data.image_study(work / "data" / "large", f"{args.large_count} x 0.5 MB",
                             args.large_count, 512, 512, seed=2)
    ports = free_ports(1 + len(RETRIEVERS))
    bench = scenarios.Bench(work, ports[0], dict(zip(RETRIEVERS, ports[1:], strict=True)),
                            args.repeat)
    samples: list[scenarios.Sample] = []

    def add(sample: scenarios.Sample) -> None:
        samples.append(sample)
        _say(f"{sample.data:16} {sample.contender:32} {sample.seconds:8.2f} s "
             f"({sample.instances} ok)")

    scenarios.ingest(bench, (small, large), (INDEXED, UNINDEXED), add)
    print(report.text(report.summarise(samples)))
    for data_name in (small.name, large.name):
        on = statistics.median(s.seconds for s in samples
                               if s.data == data_name and s.contender == INDEXED.name)
        off = statistics.median(s.seconds for s in samples
                                if s.data == data_name and s.contender == UNINDEXED.name)
        print(f"ingest {data_name}: index {on:.2f} s, none {off:.2f} s, "
              f"ratio {on / off:.3f}")
    for row in archive_commands(args, work, small):
        print(f"{row['what']}: median {statistics.median(row['runs']):.2f} s "
              f"(runs {', '.join(f'{t:.2f}' for t in row['runs'])})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
