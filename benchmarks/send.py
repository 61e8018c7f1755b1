"""Sending on (issue 22): ``qrscope archive send`` against DCMTK ``storescu``, to Orthanc.

The same files, the same Orthanc, the same run: a study of small CT images
(default 1000 x 32 KB of pixels) and one of larger ones (200 x 0.5 MB) are
imported in place into a qrscope archive, then sent to an empty Orthanc by
each contender in turn, the order rotated every round (``--repeat``):

* ``qrscope archive send`` on one association (``--max-parallel 1``), on its
  tuned engine and on stock pynetdicom (and, with ``--engines
  tuned-without-send_lane``, the tuned engine less a piece);
* ``qrscope archive send`` on N associations at once (``--associations N``,
  default 2, the node's default budget; ``0`` leaves it out), tuned engine;
* DCMTK ``storescu`` over the same folder, with ``TCP_NODELAY=1`` (DCMTK
  leaves Nagle's algorithm on otherwise, which only slows it down).

A run's time is from just before the client process starts to its exit,
which comes after the peer's C-STORE response to the last instance, i.e.
after Orthanc stored it: the time to the last instance stored at the peer,
process start-up included. After each run every instance is read back from
Orthanc (``/instances/{id}/file``) and compared with what was sent
(:func:`benchmarks.data.fingerprint`); a contender that loses or alters one
fails the run. Orthanc is emptied between runs.

``--profile FILE`` sends the small study once more under cProfile, in the
benchmark's process, and writes the top of the profile to FILE.

    PYTHONPATH=app:. python -m benchmarks.send --repeat 3 --markdown send.md
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import pydicom
from tests.interop.peers import HOST, free_ports

from . import report
from .data import Study, WrongResult, fingerprint, image_study
from .orthanc import ORTHANC_AE_TITLE, running, storescu
from .processes import compile_qrscope, environment, run_timed
from .scenarios import Sample, versions

QRSCOPE_AE = "QRSCOPE"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.send", description=__doc__.split("\n")[0])
    parser.add_argument("--small-count", type=int, default=1000)
    parser.add_argument("--large-count", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engines", default="tuned,stock",
                        help="qrscope's engines to run, comma-separated (tuned, stock; "
                        "tuned-without-PIECE leaves that piece out, QRSCOPE_ENGINE_OFF)")
    parser.add_argument("--associations", type=int, default=2,
                        help="N of the contender on N associations at once (0: none)")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="write samples and summary here")
    parser.add_argument("--markdown", type=Path, help="write the summary table here")
    parser.add_argument("--profile", type=Path,
                        help="also profile one qrscope send of the small study (cProfile), "
                        "its top functions written to this file")
    return parser.parse_args(argv)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Orthanc:
    """The peer's REST API: empty it, and read back what it holds."""

    def __init__(self, http_port: int) -> None:
        self.base = f"http://{HOST}:{http_port}"

    def _get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.base + path, timeout=60) as answer:
            return answer.read()

    def empty(self) -> None:
        for study in json.loads(self._get("/studies")):
            request = urllib.request.Request(f"{self.base}/studies/{study}", method="DELETE")
            urllib.request.urlopen(request, timeout=60).close()

    def check(self, study: Study) -> int:
        """Raise :class:`WrongResult` unless Orthanc holds exactly *study*, unchanged."""
        ids = json.loads(self._get("/instances"))
        if len(ids) != study.count:
            raise WrongResult(f"Orthanc holds {len(ids)} instances, {study.count} were sent")
        for orthanc_id in ids:
            ds = pydicom.dcmread(io.BytesIO(self._get(f"/instances/{orthanc_id}/file")))
            expected = study.fingerprints.get(str(ds.SOPInstanceUID))
            if expected is None or fingerprint(ds) != expected:
                raise WrongResult(f"{ds.SOPInstanceUID} is not an instance sent, or altered")
        return len(ids)


def _qrscope(study: Study, archive: Path, port: int, associations: int) -> list[str]:
    return [sys.executable, "-m", "qrscope", "archive", "send", "--study", study.study_uid,
            "--host", HOST, "--port", str(port), "--called-aet", ORTHANC_AE_TITLE,
            "--aet", QRSCOPE_AE, "--storage", str(archive), "--json",
            "--max-parallel", str(associations)]


def _storescu(study: Study, port: int) -> list[str]:
    return [storescu(), "--aetitle", QRSCOPE_AE, "--call", ORTHANC_AE_TITLE,
            "--scan-directories", HOST, str(port), str(study.folder)]


def _contenders(engines: Sequence[str], associations: int) -> list[tuple[str, str, str, int]]:
    """(name, tool, engine, associations) of each contender."""
    several = ([(f"qrscope send, {associations} associations", "qrscope", "tuned",
                 associations)] if associations > 1 else [])
    return [*((f"qrscope send ({e})" if e != "tuned" else "qrscope send", "qrscope", e, 1)
              for e in engines), *several, ("storescu", "dcmtk", "", 1)]


def _env(work: Path, tool: str, engine: str) -> dict[str, str]:
    env = environment(nodelay=True)
    env["XDG_CONFIG_HOME"] = str(work / "xdg-config")
    env["XDG_DATA_HOME"] = str(work / "xdg-data")
    if tool == "qrscope":
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1] / "app")
        engine, _, off = (engine or "tuned").partition("-without-")
        env["QRSCOPE_ENGINE"] = engine
        if off:
            env["QRSCOPE_ENGINE_OFF"] = off
    return env


def _run_one(work: Path, study: Study, archive: Path, port: int, peer: Orthanc,
             contender: tuple[str, str, str, int], number: int) -> Sample:
    name, tool, engine, associations = contender
    command = (_qrscope(study, archive, port, associations) if tool == "qrscope"
               else _storescu(study, port))
    log = work / "logs" / f"{study.name}-{name}-{number}.log".replace(" ", "_")
    peer.empty()
    finished = run_timed(command, log, _env(work, tool, engine), work)
    if finished.returncode != 0:
        raise WrongResult(f"{name} exited with {finished.returncode}; see {log}")
    arrived = peer.check(study)
    megabytes = sum(p.stat().st_size for p in study.folder.iterdir()) / 1e6
    return Sample("send", study.name, name, tool, "store", number, finished.seconds,
                  finished.peak_rss_mb, arrived, round(megabytes, 1), engine)


def _profile(work: Path, study: Study, archive: Path, port: int, peer: Orthanc,
             out: Path) -> None:
    """One send of *study* under cProfile, in this process and on this thread (the
    job service runs a send on a thread of its own, which cProfile does not see):
    the job as ``qrscope archive send`` runs it, every instance's end recorded in a
    jobs file. Its top 40 functions by own and by cumulative time go to *out*."""
    import cProfile
    import pstats

    from qrscope.core.jobs import JobStore
    from qrscope.core.jobs.records import JobKind, JobRecord
    from qrscope.core.jobs.sending import prepare_send
    from qrscope.core.net.association_log import AssociationLog
    from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
    from qrscope.core.send import SendJob, SendSelection

    peer.empty()
    node = RemoteNode(name="orthanc", ae_title=ORTHANC_AE_TITLE, host=HOST,
                      port=port).validated()
    store = JobStore(work / "profile-jobs.sqlite3")
    (record,) = store.add([JobRecord(
        job_id="", node=node, scope=None, method=RetrieveMethod.MOVE, label="profile",
        storage_folder=str(archive), kind=JobKind.SEND,
        send=SendSelection(study_uids=(study.study_uid,)))])
    job = prepare_send(record, node, LocalAE(ae_title=QRSCOPE_AE), AssociationLog(), store,
                       on_progress=None, debug=False)
    assert isinstance(job, SendJob), job
    profiler = cProfile.Profile()
    started = time.perf_counter()
    outcome = profiler.runcall(job.run)
    seconds = time.perf_counter() - started
    store.close()
    if outcome.status != "success":
        raise WrongResult(f"the profiled send ended {outcome.status}")
    peer.check(study)
    text = io.StringIO()
    for order in ("tottime", "cumulative"):
        pstats.Stats(profiler, stream=text).sort_stats(order).print_stats(40)
    out.write_text(f"one send of {study.name}, {seconds:.2f} s under cProfile\n"
                   + text.getvalue())


def _archive(work: Path, studies: Sequence[Study]) -> Path:
    """The studies' files indexed in place: both contenders send the same files."""
    from qrscope.core.archive.importer import ImportMode, import_paths
    from qrscope.core.archive.index import close_index

    archive = work / "archive"
    results = import_paths([s.folder for s in studies], archive, ImportMode.IN_PLACE)
    if any(r.outcome == "failed" for r in results):
        raise WrongResult(f"the import failed: {[r for r in results if r.outcome == 'failed']}")
    close_index(archive)
    return archive


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="qrscope-send-bench-"))
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    compile_qrscope()
    engines = [e for e in args.engines.split(",") if e]
    studies = [image_study(work / "small", f"{args.small_count} x 32 KB", args.small_count,
                           128, 128, seed=22)]
    if args.large_count:
        studies.append(image_study(work / "large", f"{args.large_count} x 0.5 MB",
                                   args.large_count, 512, 512, seed=23))
    archive = _archive(work, studies)
    dicom_port, http_port = free_ports(2)
    samples: list[Sample] = []
    contenders = _contenders(engines, args.associations)
    started = time.monotonic()
    (work / "orthanc").mkdir()
    with running(work / "orthanc", dicom_port, http_port, {}, nodelay=True):
        peer = Orthanc(http_port)
        for study in studies:
            for number in range(args.repeat):
                shift = number % len(contenders)
                for contender in [*contenders[shift:], *contenders[:shift]]:
                    sample = _run_one(work, study, archive, dicom_port, peer, contender,
                                      number)
                    _say(f"{sample.data:>16}  {sample.contender:<22} round {number}: "
                         f"{sample.seconds:6.2f} s, {sample.instances} stored unchanged")
                    samples.append(sample)
        if args.profile:
            _profile(work, studies[0], archive, dicom_port, peer, args.profile)
    rows = report.summarise(samples)
    print(report.text(rows))
    _say(f"{len(samples)} runs in {time.monotonic() - started:.0f} s")
    if args.markdown:
        args.markdown.write_text(report.markdown(rows))
    if args.json:
        report.write(args.json, {k: str(v) for k, v in vars(args).items()}, versions(),
                     samples, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
