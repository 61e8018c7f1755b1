"""The index database: its file, its schema and what happens when it is damaged.

The index is a cache of the files in the storage folder: it can always be
rebuilt from them. A database that is not SQLite, is corrupt, or has a
schema this version does not know is therefore never repaired in place: it
is set aside (renamed with a timestamp, said in the log) and a new one is
built. WAL lets the window read while the listener files (one writer, many
readers, across processes); ``synchronous=NORMAL`` in WAL mode keeps each
commit atomic without an fsync per instance (a power cut may lose the last
commits, never corrupt the file, and the next start heals what is missing).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from pathlib import Path

__all__ = ["INDEX_NAME", "SCHEMA_VERSION", "DamagedIndex", "connect", "set_aside"]

INDEX_NAME = ".qrscope-index.sqlite"
SCHEMA_VERSION = 1
_LOGGER = logging.getLogger(__name__)

# One row per patient, study, series and file. Counts and sizes are not
# stored: they are sums over the instances, so no write can leave them wrong.
# A series keeps room for its thumbnail's state (made later, in background
# jobs; a failure is kept with its reason so that it is not tried at every start).
_DDL = """
CREATE TABLE IF NOT EXISTS patients (
    patient_id TEXT PRIMARY KEY,
    patient_name TEXT NOT NULL DEFAULT '',
    birth_date TEXT NOT NULL DEFAULT '',
    sex TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS studies (
    study_uid TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL,
    study_date TEXT NOT NULL DEFAULT '',
    study_time TEXT NOT NULL DEFAULT '',
    accession_number TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    referring_physician TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS studies_patient ON studies(patient_id);
CREATE INDEX IF NOT EXISTS studies_date ON studies(study_date);
CREATE TABLE IF NOT EXISTS series (
    series_uid TEXT PRIMARY KEY,
    study_uid TEXT NOT NULL,
    modality TEXT NOT NULL DEFAULT '',
    series_number TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    thumbnail_state TEXT,
    thumbnail_reason TEXT
);
CREATE INDEX IF NOT EXISTS series_study ON series(study_uid);
CREATE TABLE IF NOT EXISTS instances (
    path TEXT PRIMARY KEY,
    sop_instance_uid TEXT NOT NULL,
    sop_class_uid TEXT NOT NULL DEFAULT '',
    series_uid TEXT NOT NULL,
    instance_number TEXT NOT NULL DEFAULT '',
    transfer_syntax TEXT NOT NULL DEFAULT '',
    frames INTEGER NOT NULL DEFAULT 1,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_series ON instances(series_uid);
CREATE INDEX IF NOT EXISTS instances_sop ON instances(sop_instance_uid);
"""


class DamagedIndex(Exception):
    """The database cannot serve as this version's index (not SQLite, corrupt, other schema)."""


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the index at *path*, created with the schema if new.

    Raises :class:`DamagedIndex` for anything that is not this schema.
    """
    try:
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.Error as exc:
        raise DamagedIndex(f"cannot open {path}: {exc}") from exc
    try:
        _configure(conn)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            _create(conn)
        elif version != SCHEMA_VERSION:
            raise DamagedIndex(f"{path} has schema version {version}, not {SCHEMA_VERSION}")
        conn.execute("SELECT count(*) FROM instances WHERE rowid = 1").fetchone()
    except sqlite3.Error as exc:
        conn.close()
        raise DamagedIndex(f"{path} is not a usable index: {exc}") from exc
    except DamagedIndex:
        conn.close()
        raise
    return conn


def _create(conn: sqlite3.Connection) -> None:
    """Create the schema in one transaction; idempotent, so two processes may race to it."""
    conn.executescript(f"BEGIN IMMEDIATE;{_DDL}PRAGMA user_version={SCHEMA_VERSION};COMMIT;")


def set_aside(path: Path, reason: str) -> Path:
    """Rename the damaged database (and its WAL files) out of the way; return the new name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").replace(f"{target}{suffix}")
    _LOGGER.warning("the archive index %s was set aside as %s (%s); rebuilding it from the "
                    "files", path, target.name, reason)
    return target
