"""Benchmark qrscope against DCMTK and pynetdicom's apps on loopback (issue 12).

Starts Orthanc itself, generates its data, runs every contender ``--repeat``
times alternately, checks every output, and prints medians and ratios::

    PYTHONPATH=$PWD/app python benchmarks/run.py --small           # under two minutes
    PYTHONPATH=$PWD/app python benchmarks/run.py --json out.json --markdown out.md

Scenarios (``--only``): ``stock`` (retrieve from Orthanc as Debian ships it,
Nagle on), ``nodelay`` (Orthanc with ``TCP_NODELAY=1``), ``ingest`` (storescu
to qrscope's listener and to storescp), ``find`` (study-level C-FIND of
every study), ``memory`` (one large multi-frame instance by C-MOVE and C-GET).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make the repository root importable (benchmarks, tests.interop).
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from tests.interop.peers import free_ports

from benchmarks import data, orthanc, processes, report, scenarios
from benchmarks.contenders import ENGINES, FIND, LISTEN, RETRIEVE, RETRIEVERS, with_engines

SCENARIOS = ("stock", "nodelay", "ingest", "find", "memory")
# Orthanc answers one C-ECHO and stops when another program bound its port first.
START_ATTEMPTS = 3


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true",
                        help="a quick run: 100 small, 20 large, 1000 studies, 30 MB")
    parser.add_argument("--small-count", type=int, help="small CT instances (default 1000)")
    parser.add_argument("--large-count", type=int, help="512x512 instances (default 200)")
    parser.add_argument("--find-studies", type=int, help="studies for C-FIND (default 10000)")
    parser.add_argument("--big-mb", type=int, help="size of the multi-frame instance (300)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender (default 3)")
    parser.add_argument("--repeat-stock", type=int,
                        help="runs per contender from stock Orthanc (default --repeat, "
                             "1 with --small): "
                             "each run there waits ~40 ms per instance")
    parser.add_argument("--only", action="append", choices=SCENARIOS,
                        help="run only this scenario (repeatable)")
    parser.add_argument("--engines", default="tuned,stock",
                        help="qrscope's engines to measure, comma-separated, of: "
                        f"{', '.join(ENGINES)}, or 'all' (default: tuned,stock)")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep every received file")
    parser.add_argument("--json", type=Path, help="write samples and summary as JSON")
    parser.add_argument("--markdown", type=Path, help="write the summary as a Markdown table")
    args = parser.parse_args(argv)
    small = args.small
    args.small_count = args.small_count or (100 if small else 1000)
    args.large_count = args.large_count or (20 if small else 200)
    args.find_studies = args.find_studies or (1000 if small else 10000)
    args.big_mb = args.big_mb or (30 if small else 300)
    # From stock Orthanc every small instance waits ~40 ms: once is enough for a quick run.
    args.repeat_stock = args.repeat_stock or (1 if small else args.repeat)
    args.only = args.only or list(SCENARIOS)
    args.engines = list(ENGINES) if args.engines == "all" else args.engines.split(",")
    unknown = set(args.engines) - set(ENGINES)
    if unknown or "tuned" not in args.engines:
        parser.error(f"--engines: 'tuned' and any of {', '.join(ENGINES)}; not {unknown}")
    return args


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _show(sample: scenarios.Sample) -> None:
    _say(f"{sample.scenario:8} {sample.data:16} {sample.contender:32} "
         f"{sample.seconds:8.2f} s  {sample.peak_rss_mb:7.1f} MB  ({sample.instances} ok)")


class Run:
    """One benchmark run: generated data, an Orthanc loaded once, the samples so far."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        self.samples: list[scenarios.Sample] = []
        ports = free_ports(2 + len(RETRIEVERS))
        self.pacs_port, self.http_port = ports[:2]
        self.listen_ports = dict(zip(RETRIEVERS, ports[2:], strict=True))

    def add(self, sample: scenarios.Sample) -> None:
        self.samples.append(sample)
        _show(sample)

    def bench(self, repeat: int | None = None) -> scenarios.Bench:
        return scenarios.Bench(self.work, self.pacs_port, self.listen_ports,
                               repeat or self.args.repeat, self.args.keep)

    def generate(self) -> None:
        a, root = self.args, self.work / "data"
        _say(f"generating {a.small_count} small and {a.large_count} large instances")
        self.small = data.image_study(root / "small", f"{a.small_count} x 40 KB",
                                      a.small_count, 140, 140, seed=1)
        self.large = data.image_study(root / "large", f"{a.large_count} x 0.5 MB",
                                      a.large_count, 512, 512, seed=2)
        self.big = self.find_uids = None
        if "memory" in a.only:
            _say(f"generating one {a.big_mb} MB multi-frame instance")
            self.big = data.multiframe_study(root / "big", a.big_mb)
        if "find" in a.only:
            _say(f"generating {a.find_studies} studies for C-FIND")
            self.find_uids = data.many_studies(root / "find", a.find_studies)

    @contextlib.contextmanager
    def orthanc(self, nodelay: bool):
        """Orthanc on the run's ports; on new ones when another program took one meanwhile."""
        for attempt in range(START_ATTEMPTS):
            with contextlib.ExitStack() as stack:
                try:
                    server = stack.enter_context(orthanc.running(
                        self.work, self.pacs_port, self.http_port, self.listen_ports, nodelay))
                except RuntimeError:
                    if attempt == START_ATTEMPTS - 1:
                        raise
                    _say("Orthanc did not start; trying other ports")
                    self.pacs_port, self.http_port = free_ports(2)
                    continue
                yield server
                return

    def load(self) -> None:
        folders = [self.small.folder, self.large.folder]
        folders += [s.folder for s in (self.big,) if s is not None]
        if self.find_uids is not None:
            folders.append(self.work / "data" / "find")
        _say("loading Orthanc (storescu, one association per folder)")
        with self.orthanc(nodelay=True):
            orthanc.load(folders, self.pacs_port, self.work / "load.log")

    def all_study_uids(self) -> set[str]:
        uids = {self.small.study_uid, self.large.study_uid, *(self.find_uids or [])}
        return uids | ({self.big.study_uid} if self.big else set())

    def scenarios(self) -> None:
        only = self.args.only
        studies = (self.small, self.large)
        engines = self.args.engines
        retrieve = with_engines(RETRIEVE, engines)
        if {"nodelay", "find", "memory"} & set(only):
            with self.orthanc(nodelay=True):
                bench = self.bench()  # after the start: the ports may have changed
                if "nodelay" in only:
                    scenarios.retrieve(bench, "nodelay", studies, retrieve, self.add)
                if "find" in only:
                    scenarios.find(bench, "find", self.all_study_uids(),
                                   with_engines(FIND, engines), self.add)
                if "memory" in only:
                    memory = [c for c in retrieve if c.tool != "pynetdicom"]
                    scenarios.retrieve(self.bench(1), "memory", (self.big,), memory, self.add)
        if "stock" in only:
            with self.orthanc(nodelay=False):
                scenarios.retrieve(self.bench(self.args.repeat_stock), "stock", studies,
                                   retrieve, self.add)
        if "ingest" in only:
            scenarios.ingest(self.bench(), studies, with_engines(LISTEN, engines), self.add)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(
            prefix="qrscope-bench-")))
        work.mkdir(parents=True, exist_ok=True)
        run = Run(args, work)
        processes.compile_qrscope()
        run.generate()
        run.load()
        try:
            run.scenarios()
        finally:
            rows = report.summarise(run.samples)
            print(report.text(rows))
            settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
            if args.json:
                report.write(args.json, settings, scenarios.versions(), run.samples, rows)
            if args.markdown:
                args.markdown.write_text(report.markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
