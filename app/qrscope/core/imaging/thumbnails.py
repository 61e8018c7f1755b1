"""Series thumbnails for the Local view: made once, cached in the storage folder.

:func:`make_thumbnail` renders a representative instance of the series (the
middle one by Instance Number, its middle frame) into a PNG in
``<storage>/.qrscope-thumbnails/`` (a hidden folder: the archive's check
and import leave it out), written atomically, and records the outcome in
the series row of the index: "ok", "failed" with the reason (a file that
cannot be decoded is not tried again at every start), or "no-pixels" (an
SR, a PDF: the view shows a typed placeholder, :func:`describe_object`).
A recorded outcome is returned without decoding anything. A series that
gains or changes an instance loses its record and is made again.

Thread-safe: the window calls it from worker threads; one series is made by
one thread at a time, other series in parallel.
"""

from __future__ import annotations

import io
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from qrscope.core.archive.index import open_index
from qrscope.core.files import atomic_write
from qrscope.core.imaging.decoders import CannotDecode
from qrscope.core.imaging.frames import NoPixels, read_header, render_frame

__all__ = ["THUMBNAIL_FOLDER", "ThumbnailResult", "UnknownSeries", "known_thumbnail",
           "make_thumbnail", "thumbnail_file"]

THUMBNAIL_FOLDER = ".qrscope-thumbnails"
ThumbnailState = Literal["ok", "failed", "no-pixels"]

_LOCKS_LOCK = threading.Lock()
_LOCKS: dict[tuple[Path, str], threading.Lock] = {}
_UNSAFE = re.compile(r"[^0-9A-Za-z.]")


class UnknownSeries(LookupError):
    """The archive holds no series with this UID."""


@dataclass(frozen=True)
class ThumbnailResult:
    """The thumbnail of a series: its PNG (when "ok"), its state, and why not."""

    path: Path | None
    state: ThumbnailState
    reason: str = ""

    def to_dict(self) -> dict[str, str | None]:
        return {"path": str(self.path) if self.path else None, "state": self.state,
                "reason": self.reason}


def thumbnail_file(root: Path, series_uid: str, size: int = 128) -> Path:
    """Where the thumbnail of *series_uid* at *size* pixels is cached."""
    return Path(root) / THUMBNAIL_FOLDER / f"{_UNSAFE.sub('_', series_uid)}-{size}.png"


def make_thumbnail(root: Path, series_uid: str, size: int = 128) -> ThumbnailResult:
    """The thumbnail of *series_uid* in the archive of *root*, made if not yet known.

    Raises :class:`UnknownSeries` when the archive has no such series.
    """
    root = Path(root)
    index = open_index(root)
    with _lock_for(root, series_uid):
        files, known = _recorded(root, series_uid, size)
        if known is not None:
            return known
        target = thumbnail_file(root, series_uid, size)
        result = _make(index.path_of(_representative(files)), target, size)
        index.set_thumbnail_state(series_uid, result.state, result.reason)
        return result


def known_thumbnail(root: Path, series_uid: str, size: int = 128) -> ThumbnailResult | None:
    """The recorded thumbnail of *series_uid*, or None when it is still to be made.

    Decodes nothing: a caller that makes thumbnails elsewhere (another process,
    :mod:`qrscope.core.imaging.apart`) answers the known ones without sending them
    there. Raises :class:`UnknownSeries` as :func:`make_thumbnail` does.
    """
    return _recorded(Path(root), series_uid, size)[1]


def _recorded(root: Path, series_uid: str, size: int
              ) -> tuple[list[tuple[str, str]], ThumbnailResult | None]:
    """The series' files, and its recorded outcome if still valid (an "ok" whose PNG
    was removed is not)."""
    index = open_index(root)
    files = index.series_files(series_uid)
    if not files:
        raise UnknownSeries(f"the archive in {root} holds no series {series_uid}")
    target = thumbnail_file(root, series_uid, size)
    known = index.thumbnail_state(series_uid)
    if known is None or (known[0] == "ok" and not target.exists()):
        return files, None
    state, reason = known
    return files, ThumbnailResult(target if state == "ok" else None, state, reason)  # type: ignore[arg-type]


def _lock_for(root: Path, series_uid: str) -> threading.Lock:
    key = (root.absolute(), series_uid)
    with _LOCKS_LOCK:
        return _LOCKS.setdefault(key, threading.Lock())


def _number(value: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("inf")  # no Instance Number: after the numbered ones


def _representative(files: list[tuple[str, str]]) -> str:
    """The middle file of the series in Instance Number order (then by name)."""
    ordered = sorted(files, key=lambda f: (_number(f[1]), f[0]))
    return ordered[(len(ordered) - 1) // 2][0]


def _make(path: Path, target: Path, size: int) -> ThumbnailResult:
    try:
        frames = _frame_count(path)
        rendered = render_frame(path, frame=frames // 2)
    except NoPixels as exc:
        return ThumbnailResult(None, "no-pixels", str(exc))
    except CannotDecode as exc:
        return ThumbnailResult(None, "failed", str(exc))
    except (OSError, IndexError, ValueError, MemoryError) as exc:
        return ThumbnailResult(None, "failed", f"{path.name}: {exc}")
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, png_bytes(rendered.pixels, size))
    return ThumbnailResult(target, "ok")


def _frame_count(path: Path) -> int:
    header = read_header(path)
    try:
        return max(1, int(header.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


def png_bytes(pixels: np.ndarray, size: int) -> bytes:
    """*pixels* (8-bit gray or RGB) as a PNG that fits in *size* x *size*, aspect kept."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(pixels))
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
