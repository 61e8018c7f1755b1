"""Which processes write to the index, and which of them died before their rows were in.

A process that files into the archive holds a locked mark file in
``<root>/.qrscope-index.writers/`` while it runs and removes it when it
ends cleanly with every row written. The lock dies with the process: a mark
that can be locked by someone else belongs to a process that was killed (or
that failed to write a row), and the next process to open the index heals
it from the files. Locks are ``flock`` on POSIX and ``msvcrt.locking`` on
Windows, both released by the operating system when the holder dies.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from pathlib import Path
from typing import IO

__all__ = ["MARKS_FOLDER", "WriterMark", "stale_marks"]

MARKS_FOLDER = ".qrscope-index.writers"

if sys.platform == "win32":
    import msvcrt

    def _try_lock(fh: IO[bytes]) -> bool:
        try:
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
else:
    import fcntl

    def _try_lock(fh: IO[bytes]) -> bool:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True


class WriterMark:
    """This process's locked mark in *root*; :meth:`release` removes it if all went well."""

    def __init__(self, root: Path) -> None:
        folder = Path(root) / MARKS_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{os.getpid()}-{secrets.token_hex(4)}"
        self._fh: IO[bytes] | None = self.path.open("w+b")
        self._fh.write(b"\0")
        self._fh.flush()
        _try_lock(self._fh)

    def release(self, *, clean: bool) -> None:
        """Let the mark go: removed when *clean*, left for the next start to heal otherwise."""
        if self._fh is None:
            return
        self._fh.close()  # closing releases the lock
        self._fh = None
        if clean:
            with contextlib.suppress(OSError):
                self.path.unlink()


def stale_marks(root: Path) -> list[Path]:
    """Marks whose writer is gone without saying all its rows were written."""
    stale = []
    with contextlib.suppress(OSError):
        for path in (Path(root) / MARKS_FOLDER).iterdir():
            try:
                with path.open("r+b") as fh:
                    if _try_lock(fh):
                        stale.append(path)
            except OSError:
                continue
    return stale
