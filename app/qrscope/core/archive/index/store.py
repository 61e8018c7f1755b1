"""The one owner of the index database: :class:`ArchiveIndex`.

Thread-safe: the listener files from several association threads while the
window reads. They share one connection behind a lock: a connection per
thread would be one more open database per association the listener ever
served, and opening one per write costs ten times the write (closing the
last connection checkpoints the WAL). Filed instances are queued and
committed in batches (:mod:`.batch`: a transaction each cost about 0.2 ms,
WAL, no fsync per commit, see :mod:`.schema`); readers of this process
commit the queue first, so they see every instance filed before. Other
processes (a second qrscope, ``qrscope archive``) go through SQLite's own
locking.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from qrscope.core.archive.index.batch import RowWriter
from qrscope.core.archive.index.describe import InstanceRow
from qrscope.core.archive.index.query import ArchiveFilter, ArchiveLevel, list_archive
from qrscope.core.archive.index.schema import INDEX_NAME, DamagedIndex, connect, set_aside

__all__ = ["ArchiveIndex"]

_LOGGER = logging.getLogger(__name__)

_UPSERT_PATIENT = """INSERT INTO patients(patient_id, patient_name, birth_date, sex)
    VALUES (?, ?, ?, ?) ON CONFLICT(patient_id) DO UPDATE SET
    patient_name = excluded.patient_name, birth_date = excluded.birth_date, sex = excluded.sex"""
_UPSERT_STUDY = """INSERT INTO studies(study_uid, patient_id, study_date, study_time,
    accession_number, description, referring_physician) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT(study_uid) DO UPDATE SET patient_id = excluded.patient_id,
    study_date = excluded.study_date, study_time = excluded.study_time,
    accession_number = excluded.accession_number, description = excluded.description,
    referring_physician = excluded.referring_physician"""
# A series that gains or changes an instance has its thumbnail made again.
_UPSERT_SERIES = """INSERT INTO series(series_uid, study_uid, modality, series_number,
    description) VALUES (?, ?, ?, ?, ?) ON CONFLICT(series_uid) DO UPDATE SET
    study_uid = excluded.study_uid, modality = excluded.modality,
    series_number = excluded.series_number, description = excluded.description,
    thumbnail_state = NULL, thumbnail_reason = NULL"""
_UPSERT_INSTANCE = """INSERT OR REPLACE INTO instances(path, sop_instance_uid, sop_class_uid,
    series_uid, instance_number, transfer_syntax, frames, size, mtime_ns)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"""
# What no instance holds any more goes with its last instance.
_PRUNE = (
    "DELETE FROM series WHERE NOT EXISTS (SELECT 1 FROM instances i "
    "WHERE i.series_uid = series.series_uid)",
    "DELETE FROM studies WHERE NOT EXISTS (SELECT 1 FROM series s "
    "WHERE s.study_uid = studies.study_uid)",
    "DELETE FROM patients WHERE NOT EXISTS (SELECT 1 FROM studies t "
    "WHERE t.patient_id = patients.patient_id)",
)


def _params(row: InstanceRow) -> tuple[tuple, tuple, tuple, tuple]:
    return ((row.patient_id, row.patient_name, row.birth_date, row.sex),
            (row.study_uid, row.patient_id, row.study_date, row.study_time,
             row.accession_number, row.study_description, row.referring_physician),
            (row.series_uid, row.study_uid, row.modality, row.series_number,
             row.series_description),
            (row.path, row.sop_instance_uid, row.sop_class_uid, row.series_uid,
             row.instance_number, row.transfer_syntax, row.frames, row.size, row.mtime_ns))


class ArchiveIndex:
    """The index of the storage folder *root*, in ``<root>/.qrscope-index.sqlite``.

    Opening it sets a damaged database aside; :attr:`rebuilt` then says the
    caller must fill it from the files again (see :func:`.open_index`).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / INDEX_NAME
        self._lock = threading.RLock()
        self.rebuilt = False
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = connect(self.path)
        except DamagedIndex as exc:
            set_aside(self.path, str(exc))
            self._conn = connect(self.path)
            self.rebuilt = True
        self._writer = RowWriter(lambda rows: self.add(rows), str(self.root))

    @property
    def lost_rows(self) -> bool:
        """A queued batch could not be written: the index needs healing from the files."""
        return self._writer.lost

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, for queries, while no other thread of ours uses it.

        Rows still queued are committed first: what this process filed is listed.
        """
        self._writer.flush()
        with self._lock:
            yield self._conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, serialised with this process's other users."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        """Commit the queued rows and close the database."""
        self._writer.close()
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._conn.close()

    # -- names ---------------------------------------------------------------------

    def name_for(self, path: Path) -> str:
        """How the index names *path*: relative to the root (POSIX), or absolute outside it."""
        path = Path(path).absolute()
        try:
            return path.relative_to(self.root.absolute()).as_posix()
        except ValueError:
            return str(path)

    def path_of(self, name: str) -> Path:
        """The file an index name stands for."""
        path = Path(name)
        return path if path.is_absolute() else self.root / path

    # -- writing -------------------------------------------------------------------

    def add(self, rows: Iterable[InstanceRow]) -> int:
        """Insert or update *rows* in one transaction; returns how many.

        A patient, study or series is written once per call, with the values
        of its last row (what writing them row by row would have left).
        """
        patients: dict[str, tuple] = {}
        studies: dict[str, tuple] = {}
        series: dict[str, tuple] = {}
        instances = []
        for row in rows:
            patient, study, one_series, instance = _params(row)
            patients[row.patient_id] = patient
            studies[row.study_uid] = study
            series[row.series_uid] = one_series
            instances.append(instance)
        with self.transaction() as conn:
            conn.executemany(_UPSERT_PATIENT, patients.values())
            conn.executemany(_UPSERT_STUDY, studies.values())
            conn.executemany(_UPSERT_SERIES, series.values())
            conn.executemany(_UPSERT_INSTANCE, instances)
        return len(instances)

    def queue(self, row: InstanceRow) -> None:
        """Add *row* with the next batch (:mod:`.batch`); for files just filed."""
        self._writer.put(row)

    def remove(self, names: Iterable[str]) -> int:
        """Remove the rows of the files named *names* (and what they alone held)."""
        names = list(names)
        self._writer.flush()  # a row still queued must not come back after its removal
        with self.transaction() as conn:
            removed = 0
            for start in range(0, len(names), 500):
                part = names[start:start + 500]
                marks = ",".join("?" * len(part))
                removed += conn.execute(f"DELETE FROM instances WHERE path IN ({marks})",
                                        part).rowcount
            for statement in _PRUNE:
                conn.execute(statement)
        return removed

    # -- reading -------------------------------------------------------------------

    def files(self) -> dict[str, tuple[int, int]]:
        """Every indexed file: name -> (size, mtime_ns) as last seen."""
        with self.reading() as conn:
            rows = conn.execute("SELECT path, size, mtime_ns FROM instances").fetchall()
        return {name: (size, mtime) for name, size, mtime in rows}

    def instance_uids(self, study_uid: str) -> set[str]:
        """SOP Instance UIDs of *study_uid* the archive holds."""
        with self.reading() as conn:
            rows = conn.execute(
                "SELECT DISTINCT i.sop_instance_uid FROM instances i JOIN series s "
                "ON s.series_uid = i.series_uid WHERE s.study_uid = ?", (study_uid,)).fetchall()
        return {uid for (uid,) in rows}

    def names_of(self, sop_instance_uid: str) -> list[str]:
        """Where the archive holds *sop_instance_uid* (index names; several for kept conflicts)."""
        with self.reading() as conn:
            rows = conn.execute("SELECT path FROM instances WHERE sop_instance_uid = ? "
                                "ORDER BY path", (sop_instance_uid,)).fetchall()
        return [name for (name,) in rows]

    def count_instances(self, study_uids: Iterable[str]) -> dict[str, int]:
        """How many distinct instances of each study the archive holds (0 when none)."""
        wanted = list(dict.fromkeys(study_uids))
        found: dict[str, int] = {}
        with self.reading() as conn:
            for start in range(0, len(wanted), 500):
                part = wanted[start:start + 500]
                marks = ",".join("?" * len(part))
                found.update(conn.execute(
                    "SELECT s.study_uid, count(DISTINCT i.sop_instance_uid) FROM instances i "
                    f"JOIN series s ON s.series_uid = i.series_uid "
                    f"WHERE s.study_uid IN ({marks}) GROUP BY s.study_uid", part).fetchall())
        return {uid: found.get(uid, 0) for uid in wanted}

    # -- thumbnails ----------------------------------------------------------------

    def series_files(self, series_uid: str) -> list[tuple[str, str]] | None:
        """(index name, Instance Number) of each file of *series_uid*; None if unknown."""
        with self.reading() as conn:
            if conn.execute("SELECT 1 FROM series WHERE series_uid = ?",
                            (series_uid,)).fetchone() is None:
                return None
            return conn.execute("SELECT path, instance_number FROM instances "
                                "WHERE series_uid = ? ORDER BY path", (series_uid,)).fetchall()

    def thumbnail_state(self, series_uid: str) -> tuple[str, str] | None:
        """The series' thumbnail (state, reason) as last recorded; None if never made."""
        with self.reading() as conn:
            row = conn.execute("SELECT thumbnail_state, thumbnail_reason FROM series "
                               "WHERE series_uid = ?", (series_uid,)).fetchone()
        return None if row is None or row[0] is None else (row[0], row[1] or "")

    def set_thumbnail_state(self, series_uid: str, state: str | None, reason: str = "") -> None:
        """Record the series' thumbnail state ("ok", "failed", "no-pixels"; None forgets it)."""
        with self.transaction() as conn:
            conn.execute("UPDATE series SET thumbnail_state = ?, thumbnail_reason = ? "
                         "WHERE series_uid = ?", (state, reason if state else None, series_uid))

    def select(self, level: ArchiveLevel, query: ArchiveFilter | None = None) -> \
            list[dict[str, Any]]:
        """Patients, studies, series or instances matching *query* (see :func:`list_archive`)."""
        with self.reading() as conn:
            return list_archive(conn, level, query)
