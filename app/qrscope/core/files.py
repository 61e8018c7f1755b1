"""Writing files so that a crash, a full disk or a second writer loses nothing.

Both the profile store and the instance store write to a temporary file in
the destination folder and then move it into place with one atomic operation;
a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["StorageFlushError", "atomic_write", "create_exclusive", "place_exclusive"]

_CHUNK = 1 << 20  # copying a received file: 1 MiB at a time, never the whole file


def _temp_file(folder: Path, suffix: str, write: Callable[[BinaryIO], None]) -> Path:
    """A new temporary file in *folder* that *write* fills, flushed to disk."""
    fd, name = tempfile.mkstemp(dir=folder, prefix=".incoming-", suffix=suffix)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return tmp


def _write_temp(folder: Path, data: bytes | bytearray | memoryview, suffix: str) -> Path:
    """Write *data* to a new temporary file in *folder*, flushed to disk."""
    def write(fh: BinaryIO) -> None:
        fh.write(data)

    return _temp_file(folder, suffix, write)


def atomic_write(path: Path, data: bytes | str) -> None:
    """Replace *path* with *data* atomically (the old content or the new, never half)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(path.parent, payload, ".tmp")
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _copy_temp(folder: Path, source: Path, suffix: str) -> Path:
    """A flushed copy of *source* in *folder*, made a chunk at a time."""
    def copy(out: BinaryIO) -> None:
        with source.open("rb") as src:
            while chunk := src.read(_CHUNK):
                out.write(chunk)

    return _temp_file(folder, suffix, copy)


def place_exclusive(path: Path, source: Path) -> bool:
    """Give the complete file *source* the name *path* unless it exists; return whether it did.

    *source* stays where it is (its owner removes it). On the same
    filesystem this is a hard link after an fsync, so a large instance is
    neither copied nor held in memory; elsewhere it is copied a chunk at a
    time to a temporary file beside *path* first. As with
    :func:`create_exclusive`, an existing *path* is never replaced.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with source.open("rb") as fh:
            os.link(source, path)
            _flush_named(fh.fileno(), path)
        return True
    except FileExistsError:
        return False
    except StorageFlushError:
        raise
    except OSError:
        pass  # another filesystem, or no hard links: copy
    tmp = _copy_temp(path.parent, source, ".part")
    try:
        return _link_or_rename(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _link_or_rename(tmp: Path, path: Path) -> bool:
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError:
        # Filesystems without hard links (some network shares, FAT).
        if path.exists():
            return False
        os.replace(tmp, path)
    return True


def create_exclusive(path: Path, data: bytes | bytearray | memoryview) -> bool:
    """Create *path* with *data* unless it already exists; return whether it was created.

    ``os.link`` fails if the target exists, so two writers racing for the
    same name cannot overwrite each other (``os.replace`` would). Where hard
    links are not supported, falls back to an exclusive rename check.

    Called once per received instance, so it uses plain file descriptors
    and makes the folder only when the first write there finds it missing:
    a buffered file object, ``tempfile``'s name search and a ``mkdir`` per
    call were about 15 system calls an instance (a terminal check, seeks,
    stats, a random-source read) on top of the write, link and flush.
    """
    fd, tmp = _new_temp(path.parent)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        created = _link_or_rename(tmp, path)
        if created:
            _flush_named(fd, path)
        return created
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()


_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) \
    | getattr(os, "O_CLOEXEC", 0)
_TEMP_NAMES = itertools.count()
_TEMP_PREFIX = f".incoming-{secrets.token_hex(4)}-"
"""Random per process: two processes (or hosts, on a shared folder) never pick the same
names in turn; O_EXCL settles a collision anyway."""


def _new_temp(folder: Path) -> tuple[int, Path]:
    """A new, empty temporary file in *folder* (made if missing): its descriptor and name."""
    for _ in range(100):
        tmp = folder / f"{_TEMP_PREFIX}{os.getpid()}-{next(_TEMP_NAMES)}.part"
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o600), tmp
        except FileExistsError:
            continue
        except FileNotFoundError:
            folder.mkdir(parents=True, exist_ok=True)
    raise FileExistsError(errno.EEXIST, "no unused temporary name", str(folder))


class StorageFlushError(OSError):
    """The data could not be made durable; the name given to it was removed again."""


def _flush_named(fd: int, path: Path) -> None:
    """fsync a file that already has its final name *path*: its data and the name at once.

    The link comes first and the fsync after it, so one flush covers both:
    ext4 and XFS commit the directory entry with the inode's journal
    transaction, btrfs logs the new name with the inode. (An fsync before the
    link, as before, left the name to the next periodic commit, up to five
    seconds after the sender was told the instance was stored.) A file that
    cannot be flushed loses the name again, so nothing half-written is kept.
    """
    try:
        os.fsync(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink()
        raise StorageFlushError(exc.errno or 0, exc.strerror or str(exc)) from exc
