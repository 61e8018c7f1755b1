"""The index of the storage folder: one SQLite file that says what the archive holds.

:func:`open_index` is the way in: one :class:`ArchiveIndex` per storage
folder and process, healed on opening when it was new, damaged (set aside
and rebuilt) or left behind by a process that died while filing.
:func:`record_filed` is what filing an instance calls once the file is
durable; it never fails the filing (the file is the truth, and the next
start heals an index that missed it).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from pathlib import Path

from qrscope.core.archive.index.describe import INDEX_TAGS, InstanceRow, NotDicom, describe
from qrscope.core.archive.index.marks import WriterMark, stale_marks
from qrscope.core.archive.index.query import ArchiveFilter, ArchiveLevel, list_archive
from qrscope.core.archive.index.reconcile import CheckReport, reconcile
from qrscope.core.archive.index.scanned import row_from_scan
from qrscope.core.archive.index.schema import INDEX_NAME
from qrscope.core.archive.index.store import ArchiveIndex
from qrscope.core.dicom.encoding import ScannedInstance

__all__ = [
    "INDEX_NAME",
    "INDEX_TAGS",
    "ArchiveFilter",
    "ArchiveIndex",
    "ArchiveLevel",
    "CheckReport",
    "InstanceRow",
    "NotDicom",
    "close_index",
    "describe",
    "list_archive",
    "open_in_background",
    "open_index",
    "reconcile",
    "record_filed",
    "will_file",
    "writing",
]

_LOGGER = logging.getLogger(__name__)
_LOCK = threading.Lock()
_OPEN: dict[Path, ArchiveIndex] = {}  # most recently opened last
_KEEP_OPEN = 8  # folders whose index stays open; older ones are closed (their files too)
_MARKS: dict[Path, WriterMark] = {}
_DIRTY: set[Path] = set()
# For measurement only (benchmarks/archive.py): QRSCOPE_ARCHIVE_INDEX=off files received
# instances without index rows, so a run can compare ingest with and without the index.
# The next start without it heals the index from the files.
_FILING_INDEXED = os.environ.get("QRSCOPE_ARCHIVE_INDEX", "").lower() != "off"


def open_index(root: Path) -> ArchiveIndex:
    """This process's index of the storage folder *root*, healed if it needed it."""
    key = Path(root).absolute()
    with _LOCK:
        index = _OPEN.get(key)
        if index is None:
            new = not (key / INDEX_NAME).exists()
            index = ArchiveIndex(key)
            stale = stale_marks(key)
            if new or index.rebuilt or stale:
                report = reconcile(index, repair=True)
                if stale or index.rebuilt or report.files:
                    _LOGGER.info("archive index of %s healed from the files: %d added, "
                                 "%d changed, %d removed", key, len(report.added),
                                 len(report.changed), len(report.removed))
                for mark in stale:
                    mark.unlink(missing_ok=True)
            _OPEN[key] = index
            for old in list(_OPEN)[:-_KEEP_OPEN]:
                _close(old)
    return index


def open_in_background(root: Path) -> threading.Thread | None:
    """Open (and heal, where it needs it) the index of *root* in a thread of its own.

    The listener calls this as it starts: a new, damaged or stale index is
    healed by walking the folder, which would otherwise fall on the first
    instance filed (0.1-0.2 s for a small folder, minutes for a large one)
    and delay its C-STORE response. Binding the port does not wait for it;
    an instance filed meanwhile waits for the same lock in :func:`open_index`.
    Never raises: a failure is logged and the first filing tries again.
    """
    if not _FILING_INDEXED:
        return None

    def run() -> None:
        try:
            open_index(root)
        except Exception as exc:  # the files are the truth; filing opens it again
            _LOGGER.warning("cannot open the archive index of %s yet (%s)", root, exc)

    thread = threading.Thread(target=run, name="archive-index-open", daemon=True)
    thread.start()
    return thread


def close_index(root: Path) -> None:
    """Close this process's index of *root* (the next :func:`open_index` opens it anew)."""
    with _LOCK:
        _close(Path(root).absolute())


def _close(key: Path) -> None:
    index = _OPEN.pop(key, None)
    lost = False
    if index is not None:
        index.close()  # commits the queued rows: only then is the mark clean
        lost = index.lost_rows
    mark = _MARKS.pop(key, None)
    if mark is not None:
        mark.release(clean=key not in _DIRTY and not lost)
    _DIRTY.discard(key)


def writing(root: Path) -> None:
    """Hold this process's writer mark in *root* from its first write to its clean end.

    Call before writing a row for a file that is already in place: a kill
    then leaves the mark, and the next start heals the index from the files.
    """
    key = Path(root).absolute()
    if key not in _MARKS:
        with _LOCK:
            if key not in _MARKS:
                _MARKS[key] = WriterMark(key)


def will_file(root: Path) -> None:
    """Hold this process's writer mark before a file is placed in *root*; never raises.

    A file is visible from its creation, before it is durable and long
    before its row: a kill anywhere in between must find the mark there.
    Failing to take it is logged; :func:`record_filed` tries again.
    """
    if not _FILING_INDEXED:
        return
    try:
        writing(root)
    except OSError as exc:
        _LOGGER.warning("cannot mark %s as being written (%s)", root, exc)


def record_filed(root: Path, path: Path, scanned: ScannedInstance | None = None) -> \
        InstanceRow | None:
    """Add the instance just filed at *path* to the index of *root*; never raises.

    Called after the file is durable. *scanned* is the scan of the bytes
    now at *path* (:func:`qrscope.core.dicom.encoding.scan_instance` with
    :data:`INDEX_TAGS`): the row is made from it without reading the file
    (:mod:`.scanned`), and committed with the next batch (:mod:`.batch`).
    Without it, or where it cannot settle a value, pydicom reads the file
    (:func:`describe`). A failure is logged and leaves this process's mark
    behind, so that the next start heals the index.
    """
    if not _FILING_INDEXED:
        return None
    key = Path(root).absolute()
    try:
        writing(key)  # first: a kill from here on leaves a mark to heal from
        index = open_index(key)
        row = None
        if scanned is not None:
            stat = os.stat(path)
            row = row_from_scan(scanned, index.name_for(path), stat.st_size,
                                stat.st_mtime_ns)
        if row is None:
            row = describe(path, index.name_for(path))
        index.queue(row)
        return row
    except Exception as exc:  # the filing succeeded; the index can wait
        _DIRTY.add(key)
        _LOGGER.warning("%s is stored but not yet in the archive index (%s); the next start "
                        "adds it", path, exc)
        return None


@atexit.register
def _close_all() -> None:
    for key in list(_OPEN):
        close_index(key)
