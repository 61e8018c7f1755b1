"""Real peers loaded with the batch studies, and what the batch tests count on them.

``qrscope batch`` is run as a user runs it, against Orthanc and dcmqrscp
loaded with :func:`tests.batch_studies.write_batch_studies` (studies of two
small CT instances, accession numbers ``ACC0001``..., two studies sharing
``ACCDUP``). What the tests prove is read from both ends:

* the PACS's own log: C-MOVE requests it received and sub-operations it sent
  (Orthanc ``--verbose``: "Move-SCU request received", "Sending resource ID";
  dcmqrscp ``--verbose``: "Move SCP Request Identifiers", "Store SCU RQ");
* our listener's ``-v`` log: one "instance UID stored" (or "duplicate") line
  per C-STORE the PACS sent us, which names the instance (dcmqrscp's log
  does not).

dcmqrscp forks a child per association and the children share its log file,
so their lines may run into each other: counts there are of a phrase anywhere
in the text, never of whole lines.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

from qrscope.core.profile_store import Profiles, ProfileStore
from qrscope.core.profiles import LocalAE
from tests.batch_studies import DUPLICATE, accession, write_batch_studies

from . import peers

FOUND = 47
"""Accession numbers of the list that name one study each."""
UNKNOWN = ("UNKNOWN01", "UNKNOWN02")
"""Accession numbers no study has."""

_MOVE_REQUEST = {"orthanc": "Move-SCU request received",
                 "dcmqrscp": "Move SCP Request Identifiers"}
_SUB_OPERATION = {"orthanc": "Sending resource ", "dcmqrscp": "Store SCU RQ:"}
_RECEIVED = re.compile(r"instance ([0-9.]+) (?:stored|duplicate|already there)")
_ORTHANC_SENT = re.compile(r"Sending resource ([0-9a-f-]{44}) to modality")


def fifty_rows() -> list[str]:
    """The list's accession numbers, one per row: :data:`FOUND` known ones, the
    :data:`UNKNOWN` ones and :data:`DUPLICATE` among them (rows 11, 26 and 41)."""
    rows = [accession(n) for n in range(1, FOUND + 1)]
    rows.insert(9, UNKNOWN[0])
    rows.insert(24, DUPLICATE)
    rows.insert(39, UNKNOWN[1])
    return rows


def write_csv(path: Path, rows: Sequence[str]) -> Path:
    """A spreadsheet export: a header the batch recognises, a note column beside it."""
    path.write_text("Accession Number,Note\n" + "".join(
        f"{value},row {number}\n" for number, value in enumerate(rows, start=2)),
        encoding="utf-8")
    return path


def write_profiles(folder: Path, listener_port: int) -> Path:
    """A profiles file: our AE title the peers know, listening where they send."""
    path = folder / "profiles.json"
    ProfileStore(path).save(Profiles(local=LocalAE(
        ae_title=peers.WORKSTATION_AE_TITLE, listener_port=listener_port,
        storage_folder=folder / "unused")))
    return path


def batch_args(server: peers.PeerServer, csv: Path, config: Path, out: Path,
               *extra: str) -> list[str]:
    """``qrscope batch CSV --host ... --json``: the node ad hoc, as the issue writes it."""
    return ["batch", str(csv), "--config", str(config), "--host", server.host,
            "--port", str(server.port), "--called-aet", server.ae_title, "--out", str(out),
            "--json", *extra]


@contextlib.contextmanager
def running_batch_peer(kind: str, folder: Path, listener_port: int,
                       studies: int = FOUND) -> Iterator[peers.PeerServer]:
    """Orthanc or dcmqrscp holding the batch studies (ACC0001..*studies*, ACCDUP twice,
    and the studies of one patient over five years)."""
    files = write_batch_studies(folder / "data", studies)
    destinations = (peers.MoveDestination(peers.WORKSTATION_AE_TITLE, peers.HOST,
                                          listener_port),)
    run = peers.running_orthanc if kind == "orthanc" else peers.running_dcmqrscp
    (folder / "server").mkdir()
    with run(folder / "server", files, destinations) as server:
        yield server


def log_mark(server: peers.PeerServer) -> int:
    """Where the server's log ends now: counts from here see only what follows."""
    return server.log_path.stat().st_size


def _log_since(server: peers.PeerServer, mark: int) -> str:
    with server.log_path.open("rb") as log:
        log.seek(mark)
        return log.read().decode(errors="replace")


def move_requests(server: peers.PeerServer, mark: int = 0) -> int:
    """C-MOVE requests the server received since *mark*, by its own log."""
    return _log_since(server, mark).count(_MOVE_REQUEST[server.kind])


def sub_operations(server: peers.PeerServer, mark: int = 0) -> int:
    """C-STORE sub-operations the server started since *mark*, by its own log."""
    return _log_since(server, mark).count(_SUB_OPERATION[server.kind])


def orthanc_sent(server: peers.PeerServer, mark: int = 0) -> Counter[str]:
    """SOP Instance UIDs Orthanc sent by C-MOVE since *mark*, each with how many times.

    Its log names each resource it sends by Orthanc's own identifier; its REST
    API turns that into the instances it stands for (one, or a series' or a
    study's)."""
    sent: Counter[str] = Counter()
    instances = {item["ID"]: [item["MainDicomTags"]["SOPInstanceUID"]]
                 for item in _orthanc_get(server, "/instances?expand")}
    for resource in _ORTHANC_SENT.findall(_log_since(server, mark)):
        for uid in instances.get(resource) or _orthanc_children(server, resource):
            sent[uid] += 1
    return sent


def _orthanc_get(server: peers.PeerServer, path: str) -> list[dict]:
    url = f"http://{peers.HOST}:{server.http_port}{path}"
    with urllib.request.urlopen(url, timeout=peers.NETWORK_TIMEOUT) as answer:
        return json.loads(answer.read())


def _orthanc_children(server: peers.PeerServer, resource: str) -> list[str]:
    """The instances of a series or a study Orthanc sent whole."""
    for level in ("series", "studies"):
        try:
            listed = _orthanc_get(server, f"/{level}/{resource}/instances")
        except urllib.error.HTTPError:
            continue
        return [item["MainDicomTags"]["SOPInstanceUID"] for item in listed]
    raise AssertionError(f"Orthanc knows no resource {resource}")


def received(log_text: str) -> Counter[str]:
    """SOP Instance UIDs our listener was sent (its ``-v`` lines), each with how many times."""
    return Counter(_RECEIVED.findall(log_text))


def items_with_status(jobs: Path, status: str) -> int:
    """Batch items in *status* in the jobs file, as another process wrote it (0 before
    the file or its table exists)."""
    if not jobs.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(jobs, timeout=1.0)) as db:
            return db.execute("SELECT count(*) FROM batch_items WHERE status=?",
                              (status,)).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
