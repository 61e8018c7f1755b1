"""The jobs file: one SQLite database (standard-library ``sqlite3``, WAL mode).

Every state change of a job is written at once, so that whatever ends the
process (quit, crash, ``kill -9``, a power cut) the next start knows which
jobs were queued or running. WAL mode lets ``qrscope jobs`` read while the
window writes, and makes each commit one append to the log file.

A file SQLite cannot read is never fatal: it is set aside under a name with
the time, a new one is started, and :attr:`JobStore.warnings` says so.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import platformdirs

from qrscope.core.batch.items import (
    BatchItem,
    BatchSpec,
    FoundStudy,
    ItemProgress,
    ItemStatus,
)
from qrscope.core.dicom.records import QueryLevel
from qrscope.core.jobs.records import JobKind, JobPriority, JobRecord, JobState
from qrscope.core.profiles import RemoteNode, RetrieveMethod
from qrscope.core.retrieve.types import RetrieveScope
from qrscope.core.send.selection import SendSelection
from qrscope.core.validation import InvalidValue

__all__ = ["JOBS_FILE", "JobStore", "default_jobs_path", "jobs_path_beside"]

_LOGGER = logging.getLogger(__name__)
JOBS_FILE = "jobs.sqlite3"
_SCHEMA_VERSION = 5
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    started REAL,
    ended REAL,
    state TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    node_name TEXT NOT NULL,
    node TEXT NOT NULL,
    level TEXT NOT NULL,
    study_uid TEXT NOT NULL,
    series_uids TEXT NOT NULL,
    instance_uids TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    sop_classes TEXT NOT NULL,
    modalities TEXT NOT NULL,
    method TEXT NOT NULL,
    move_destination TEXT NOT NULL,
    storage_folder TEXT NOT NULL,
    label TEXT NOT NULL,
    interrupted INTEGER NOT NULL DEFAULT 0,
    received INTEGER NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    warning INTEGER NOT NULL DEFAULT 0,
    expected INTEGER,
    summary TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
CREATE TABLE IF NOT EXISTS send_results (
    number INTEGER NOT NULL,
    sop_instance_uid TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (number, sop_instance_uid)
);
CREATE TABLE IF NOT EXISTS batch_items (
    number INTEGER NOT NULL,
    item INTEGER NOT NULL,
    asked TEXT NOT NULL,
    status TEXT NOT NULL,
    studies TEXT NOT NULL DEFAULT '[]',
    expected INTEGER,
    received INTEGER NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT '',
    hint TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (number, item)
);
"""
# Version 5: the priority column (a queued job's lane, kept over a restart); in an
# older file a batch job gets the batch lane, the others the single one.
# Version 4: the batch_items table (batches), made by the script above in an
# older file, and the retry_of column (a retried send's link to the job it
# retries); a batch's own settings ride in the selection column.
# Version 2 (sends): the kind and selection columns. Columns added to an older
# file go at the end of the row.
_ADDED_COLUMNS = (("kind", "TEXT NOT NULL DEFAULT 'retrieve'"),
                  ("selection", "TEXT NOT NULL DEFAULT ''"),
                  ("retry_of", "TEXT NOT NULL DEFAULT ''"),
                  ("priority", "INTEGER NOT NULL DEFAULT 0"))
_UNFINISHED = (JobState.QUEUED.value, JobState.RUNNING.value)


def default_jobs_path() -> Path:
    return platformdirs.user_data_path("qrscope", appauthor=False) / JOBS_FILE


def jobs_path_beside(profiles_path: Path) -> Path:
    """The jobs file of a profiles file: beside it, so that a test's or a second
    user's profiles folder keeps its own jobs, and the window and the command
    line started on the same profiles share theirs."""
    return Path(profiles_path).parent / JOBS_FILE


def _job_id(number: int) -> str:
    return f"j{number}"


def _number(job_id: str) -> int:
    return int(job_id.removeprefix("j"))


def _owner() -> str:
    """This process, as written in the rows it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(owner: str) -> bool:
    """The process named by *owner* still runs (its jobs are not ours to resume).

    Another computer sharing the folder, or a platform where a process cannot
    be probed, counts as gone: resuming twice costs a duplicate at worst
    (the storage keeps one copy), never resuming loses the job.
    """
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobStore:
    """The records of every job, on disk. Thread-safe; one per process and file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.warnings: list[str] = []
        """What went wrong opening the file (set aside, unreadable rows), in words."""
        self._lock = threading.Lock()
        self._closed = False
        self._owner = _owner()
        self._db = self._open()

    # -- opening ---------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            aside = self._set_aside()
            text = (f"the jobs file {self.path} could not be read ({exc}); it was set aside "
                    f"as {aside.name} and a new one started")
            _LOGGER.warning("%s", text)
            self.warnings.append(text)
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0,
                             isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL: a commit survives the process (kill -9); only a power
            # cut may lose the last ones, never the file.
            db.execute("PRAGMA synchronous=NORMAL")
            check = db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check: {check[0] if check else '?'}")
            db.executescript(_SCHEMA)
            present = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
            for name, declaration in _ADDED_COLUMNS:
                if name not in present:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {declaration}")
            if "priority" not in present:
                db.execute("UPDATE jobs SET priority=? WHERE kind=?",
                           (JobPriority.BATCH.value, JobKind.BATCH.value))
            db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _set_aside(self) -> Path:
        """Rename the damaged file (and its WAL and shared-memory files) with the time."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        number = 1
        while True:
            suffix = stamp if number == 1 else f"{stamp}-{number}"
            target = self.path.with_name(f"{self.path.name}.damaged-{suffix}")
            if not target.exists():
                break
            number += 1
        self.path.rename(target)
        for extra in ("-wal", "-shm"):
            companion = self.path.with_name(self.path.name + extra)
            if companion.exists():
                companion.rename(target.with_name(target.name + extra))
        return target

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- writing ---------------------------------------------------------------------
    def add(self, records: Iterable[JobRecord]) -> list[JobRecord]:
        """Write new jobs in one transaction; each gets its id and creation time here."""
        added = list(records)
        now = time.time()
        with self._transaction() as db:
            for record in added:
                record.created = record.created or now
                cursor = db.execute(
                    "INSERT INTO jobs (created, state, owner, node_name, node, level, "
                    "study_uid, series_uids, instance_uids, patient_id, sop_classes, "
                    "modalities, method, move_destination, storage_folder, label, kind, "
                    "selection, retry_of, priority) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (record.created, record.state.value, self._owner, record.node_name,
                     json.dumps(record.node.to_dict()), *_scope_columns(record.scope),
                     record.method.value, record.move_destination, record.storage_folder,
                     record.label, record.kind.value, _selection(record),
                     record.retry_of, record.priority.value))
                assert cursor.lastrowid is not None
                record.job_id = _job_id(cursor.lastrowid)
        return added

    def update(self, record: JobRecord) -> None:
        """Write what changes over a job's life: state, times, counts, summary."""
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET state=?, started=?, ended=?, interrupted=?, received=?, "
                "completed=?, failed=?, warning=?, expected=?, summary=?, node_name=?, "
                "node=? WHERE number=?",
                (record.state.value, record.started, record.ended, record.interrupted,
                 record.received, record.completed, record.failed, record.warning,
                 record.expected, record.summary, record.node_name,
                 json.dumps(record.node.to_dict()), _number(record.job_id)))

    def claim_unfinished(self) -> list[JobRecord]:
        """The queued and running jobs no live process owns, now ours.

        A job found *running* was cut short (quit, crash, kill): it comes
        back queued, its ``interrupted`` count raised, so that its next run
        asks only for what is missing.
        """
        claimed: list[JobRecord] = []
        with self._transaction() as db:
            rows = db.execute(f"SELECT {_SELECTED} FROM jobs WHERE state IN (?, ?) "
                              "ORDER BY number", _UNFINISHED).fetchall()
            for row in rows:
                if _alive(row[_COLUMNS["owner"]]):
                    continue
                record = self._record(row)
                if record is None:
                    continue
                if record.state is JobState.RUNNING:
                    record.interrupted += 1
                    record.state = JobState.QUEUED
                db.execute("UPDATE jobs SET owner=?, state=?, interrupted=? WHERE number=?",
                           (self._owner, record.state.value, record.interrupted,
                            _number(record.job_id)))
                claimed.append(record)
        return claimed

    def record_sent(self, job_id: str, sop_instance_uid: str, state: str) -> None:
        """Write one instance's end in a send job (each commit survives ``kill -9``).

        One statement in autocommit, its own transaction: a third of the
        statements of ``BEGIN``, ``INSERT``, ``COMMIT``, once per instance sent.
        """
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO send_results (number, sop_instance_uid, "
                             "state) VALUES (?, ?, ?)", (_number(job_id), sop_instance_uid, state))

    def add_batch_items(self, job_id: str, items: Iterable[BatchItem | ItemProgress]) -> None:
        """Write a batch's items in one transaction: a :class:`BatchItem` pending, an
        :class:`ItemProgress` as it stands (resolved in a review, its studies kept, so
        that no run resolves it again); the *n*-th one is item *n*."""
        rows = []
        for index, value in enumerate(items):
            progress = (value.but(index=index) if isinstance(value, ItemProgress)
                        else ItemProgress(index=index, item=value))
            rows.append((_number(job_id), index, json.dumps(progress.item.to_dict()),
                         *_item_columns(progress)))
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO batch_items (number, item, asked, status, studies, expected, "
                "received, reason, hint, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def record_item(self, job_id: str, progress: ItemProgress) -> None:
        """Write where one batch item stands (each commit survives ``kill -9``).

        After :meth:`close` (the process is ending, its batch's item threads
        still stopping), the step is not written: the next run takes the item
        up from its last recorded step, as after a kill.
        """
        try:
            with self._transaction() as db:
                db.execute(
                    "UPDATE batch_items SET status=?, studies=?, expected=?, received=?, "
                    "reason=?, hint=?, attempts=? WHERE number=? AND item=?",
                    (*_item_columns(progress), _number(job_id), progress.index))
        except sqlite3.ProgrammingError:
            if not self._closed:
                raise
            _LOGGER.info("job %s item %s: the jobs file is closed; its last step stands",
                         job_id, progress.index)

    def batch_items(self, job_id: str) -> list[ItemProgress]:
        """A batch's items as last written, in input order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT item, asked, status, studies, expected, received, reason, hint, "
                "attempts FROM batch_items WHERE number=? ORDER BY item",
                (_number(job_id),)).fetchall()
        return [ItemProgress(
            index=index, item=BatchItem.from_dict(json.loads(asked)), status=ItemStatus(status),
            studies=tuple(FoundStudy.from_dict(s) for s in json.loads(studies)),
            expected=expected, received=received, reason=reason, hint=hint, attempts=attempts)
            for index, asked, status, studies, expected, received, reason, hint, attempts
            in rows]

    def find_batch(self, key: str, node_name: str) -> JobRecord | None:
        """The latest batch job of *key* against *node_name* (``None``: never run)."""
        found = [r for r in self.records() if r.kind is JobKind.BATCH and r.batch is not None
                 and r.batch.key == key and r.node_name == node_name]
        return found[-1] if found else None

    def claim(self, job_id: str) -> JobRecord | str:
        """Job *job_id*, now this process's (queued again, ``interrupted`` raised when it
        was left running), or why it cannot be: another live process runs it."""
        with self._transaction() as db:
            row = db.execute(f"SELECT {_SELECTED} FROM jobs WHERE number=?",
                             (_number(job_id),)).fetchone()
            if row is None:
                return f"no job {job_id}"
            owner = row[_COLUMNS["owner"]]
            if (row[_COLUMNS["state"]] in _UNFINISHED and owner and owner != self._owner
                    and _alive(owner)):
                return f"job {job_id} runs in another qrscope ({owner})"
            record = self._record(row)
            if record is None:
                return f"job {job_id} cannot be read"
            if record.state is JobState.RUNNING:
                record.interrupted += 1
            record.state = JobState.QUEUED
            db.execute("UPDATE jobs SET owner=?, state=?, interrupted=? WHERE number=?",
                       (self._owner, record.state.value, record.interrupted,
                        _number(job_id)))
        return record

    def send_results(self, job_id: str) -> dict[str, str]:
        """A send job's instances so far: SOP Instance UID -> stored, warning or failed."""
        with self._lock:
            rows = self._db.execute("SELECT sop_instance_uid, state FROM send_results "
                                    "WHERE number=?", (_number(job_id),)).fetchall()
        return dict(rows)

    def release(self) -> None:
        """This process ends: its unfinished jobs are left for the next one."""
        with self._transaction() as db:
            db.execute("UPDATE jobs SET owner='' WHERE owner=? AND state IN (?, ?)",
                       (self._owner, *_UNFINISHED))

    # -- reading ---------------------------------------------------------------------
    def records(self) -> list[JobRecord]:
        """Every job in the file, oldest first (rows that cannot be read are skipped)."""
        with self._lock:
            rows = self._db.execute(f"SELECT {_SELECTED} FROM jobs ORDER BY number").fetchall()
        return [r for r in map(self._record, rows) if r is not None]

    def _record(self, row: tuple[Any, ...]) -> JobRecord | None:
        value = dict(zip(_COLUMNS, row, strict=True))
        job_id = _job_id(value["number"])
        try:
            node = RemoteNode.from_dict(json.loads(value["node"]))
            kind = JobKind(value["kind"])
            send = (SendSelection.from_dict(json.loads(value["selection"])).validated()
                    if kind is JobKind.SEND else None)
            batch = (BatchSpec.from_dict(json.loads(value["selection"]))
                     if kind is JobKind.BATCH else None)
            scope = None if kind is not JobKind.RETRIEVE else RetrieveScope(
                QueryLevel(value["level"]), value["study_uid"],
                series_uids=tuple(json.loads(value["series_uids"])),
                instance_uids=tuple(json.loads(value["instance_uids"])),
                patient_id=value["patient_id"],
                sop_classes=tuple(json.loads(value["sop_classes"])),
                modalities=tuple(json.loads(value["modalities"]))).validated()
            return JobRecord(
                job_id=job_id, node=node, scope=scope,
                method=RetrieveMethod(value["method"]), label=value["label"],
                storage_folder=value["storage_folder"],
                move_destination=value["move_destination"], state=JobState(value["state"]),
                created=value["created"], started=value["started"], ended=value["ended"],
                interrupted=value["interrupted"], received=value["received"],
                completed=value["completed"], failed=value["failed"],
                warning=value["warning"], expected=value["expected"],
                summary=value["summary"], kind=kind, send=send, batch=batch,
                retry_of=value["retry_of"], priority=JobPriority(value["priority"]))
        except (ValueError, TypeError, KeyError, InvalidValue) as exc:
            text = f"job {job_id} in {self.path} cannot be read ({exc}); it is skipped"
            _LOGGER.warning("%s", text)
            self.warnings.append(text)
            return None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._db.close()


_COLUMNS = {name: number for number, name in enumerate((
    "number", "created", "started", "ended", "state", "owner", "node_name", "node", "level",
    "study_uid", "series_uids", "instance_uids", "patient_id", "sop_classes", "modalities",
    "method", "move_destination", "storage_folder", "label", "interrupted", "received",
    "completed", "failed", "warning", "expected", "summary", "kind", "selection",
    "retry_of", "priority"))}
# Named, not '*': a column added to an older file goes at the end of its row, in
# whatever order that file gained them.
_SELECTED = ", ".join(_COLUMNS)


def _item_columns(progress: ItemProgress) -> tuple[Any, ...]:
    """Where an item stands, as the batch_items columns from ``status`` to ``attempts``."""
    return (progress.status.value, json.dumps([s.to_dict() for s in progress.studies]),
            progress.expected, progress.received, progress.reason, progress.hint,
            progress.attempts)


def _selection(record: JobRecord) -> str:
    """The selection column: a send's selection or a batch's settings, as JSON."""
    if record.send is not None:
        return json.dumps(record.send.to_dict())
    if record.batch is not None:
        return json.dumps(record.batch.to_dict())
    return ""


def _scope_columns(scope: RetrieveScope | None) -> tuple[str, ...]:
    if scope is None:  # a send or a batch: the selection column says what it is
        return (QueryLevel.STUDY.value, "", "[]", "[]", "", "[]", "[]")
    return (scope.level.value, scope.study_uid, json.dumps(list(scope.series_uids)),
            json.dumps(list(scope.instance_uids)), scope.patient_id,
            json.dumps(list(scope.sop_classes)), json.dumps(list(scope.modalities)))
