"""Series thumbnails for the Local view, made in the bridge's thumbnail pool.

The core makes and caches each thumbnail (:func:`make_thumbnail`: a PNG in
the storage folder, failures recorded with their reason), in a worker
process (:func:`make_thumbnail_apart`: decoding in a thread held the
window's interpreter and stalled it); the pool's thread waits for it, then
reads the PNG into a :class:`QImage` at the size shown (safe off the GUI
thread), so the GUI thread only turns small images into pixmaps. Those that
arrive together are shown together (:data:`SHOW_MS`): one change of the
table, one repaint, not one per thumbnail. An object without pixels gets a
placeholder naming its kind (SR, PDF, RT plan, ECG...); a failure a warning
placeholder whose tooltip says why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QRect, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPixmap

from qrscope.core.archive.index import open_index
from qrscope.core.imaging import CannotDecode, UnknownSeries, describe_object
from qrscope.core.imaging.apart import make_thumbnail_apart
from qrscope.ui.bridge import CoreBridge
from qrscope.ui.local.models import ArchiveTableModel

__all__ = ["SHOW_MS", "THUMBNAIL_PIXELS", "Thumbnail", "ThumbnailLoader", "load_thumbnail",
           "placeholder"]

THUMBNAIL_PIXELS = 128
"""The size the core makes (shown at half: sharp on a HiDPI screen)."""
SHOW_MS = 30
"""Thumbnails made within this time of each other are shown by one repaint."""

_KIND_WORDS = {"sr": "SR", "kos": "KO", "pdf": "PDF", "rt-plan": "RTPLAN",
               "rt-struct": "RTSTRUCT", "waveform": "WAVE", "presentation-state": "PR",
               "document": "DOC", "other": "OBJ"}


@dataclass(frozen=True)
class Thumbnail:
    """What a worker found for one series."""

    series_uid: str
    state: str
    reason: str = ""
    image: QImage | None = None
    kind: str = ""
    """For "no-pixels": the object's kind (:class:`ObjectSummary`), e.g. "sr"."""


def load_thumbnail(root: Path, series_uid: str, shown: int = THUMBNAIL_PIXELS) -> Thumbnail:
    """The thumbnail of one series (made if need be) as an image of *shown* pixels at most;
    runs in a worker thread, never raises."""
    try:
        result = make_thumbnail_apart(root, series_uid, THUMBNAIL_PIXELS)
    except UnknownSeries as exc:
        return Thumbnail(series_uid, "failed", str(exc))
    except Exception as exc:  # the database, the disk: shown as the reason
        return Thumbnail(series_uid, "failed", f"could not make the thumbnail: {exc}")
    if result.state == "ok" and result.path is not None:
        image = QImage(str(result.path))
        if image.isNull():
            return Thumbnail(series_uid, "failed", f"cannot read {result.path}")
        if max(image.width(), image.height()) > shown:  # scaled here, not on the GUI thread
            image = image.scaled(shown, shown, Qt.AspectRatioMode.KeepAspectRatio,
                                 Qt.TransformationMode.SmoothTransformation)
        return Thumbnail(series_uid, "ok", image=image)
    if result.state == "no-pixels":
        return Thumbnail(series_uid, "no-pixels", result.reason, kind=_kind_of(root, series_uid))
    return Thumbnail(series_uid, result.state, result.reason)


def _kind_of(root: Path, series_uid: str) -> str:
    index = open_index(root)
    files = index.series_files(series_uid)
    if not files:
        return ""
    try:
        return describe_object(index.path_of(files[0][0])).kind
    except CannotDecode:
        return ""


def placeholder(label: str, size: int, color: str = "#546e7a") -> QPixmap:
    """A square naming what is there instead of an image ("SR", "PDF", "!")."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(color))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawRoundedRect(QRect(2, 2, size - 4, size - 4), 6, 6)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(9, size // (3 if len(label) <= 3 else 5)))
    painter.setFont(font)
    painter.setPen(QColor("white"))
    painter.drawText(QRect(0, 0, size, size), Qt.AlignmentFlag.AlignCenter, label)
    painter.end()
    return pixmap


class ThumbnailLoader(QObject):
    """Asks the pool for the thumbnails of the series a model shows, once each.

    Series that left the table before their turn are not made (their
    queued requests are cancelled); made ones stay in the model's icons.
    Arrivals wait up to :data:`SHOW_MS` for others and are shown together.
    """

    def __init__(self, bridge: CoreBridge, model: ArchiveTableModel, root: Callable[[], Path],
                 size: int) -> None:
        super().__init__(model)
        self.bridge = bridge
        self.model = model
        self.root = root
        self.size = size
        self.pending: dict[str, asyncio.Future[Thumbnail]] = {}
        self.shown: dict[str, Thumbnail] = {}
        """What each series' cell shows (by Series Instance UID)."""
        self._made_for: dict[str, int] = {}
        """How many instances each series had when its thumbnail was asked for: one
        that gained instances since is asked again (the core made it anew)."""
        self._arrived: dict[str, Thumbnail] = {}
        """Made, not yet shown: shown by :meth:`show_arrived`."""
        self._placeholders: dict[tuple[str, str], QPixmap] = {}
        # In the next turn of the event loop, not inside the reset: the listing
        # that fills the tables already holds the GUI thread, and handing 200
        # series to the pool takes another 15 ms (benchmarks/thumbnails.py).
        self._soon = QTimer(self, singleShot=True, interval=0)
        self._soon.timeout.connect(self.request_shown)
        model.modelReset.connect(self._soon.start)
        self._show_timer = QTimer(self, singleShot=True, interval=SHOW_MS)
        self._show_timer.timeout.connect(self.show_arrived)

    def request_shown(self) -> None:
        """Thumbnails for the rows the model holds now; queued ones for others are dropped."""
        wanted = {str(row["series_uid"]): int(row["instances"] or 0) for row in self.model.rows}
        for uid in set(self.pending) - set(wanted):
            self.pending.pop(uid).cancel()
        loop = asyncio.get_event_loop()
        root, size = self.root(), self.size
        for uid, instances in wanted.items():
            if uid in self.pending or (uid in self.shown and self._made_for[uid] == instances):
                continue
            try:
                future = loop.run_in_executor(self.bridge.thumbnail_executor,
                                              lambda u=uid: load_thumbnail(root, u, size))
            except RuntimeError:  # the window is closing: its thumbnail workers are stopped
                return
            self._made_for[uid] = instances
            self.pending[uid] = future
            future.add_done_callback(lambda f, u=uid: self._done(u, f))

    def forget(self) -> None:
        """The archive changed under the thumbnails (a delete): make them again when shown."""
        self.shown.clear()
        self._made_for.clear()
        self._arrived.clear()
        self.model.icons.clear()
        self.model.tips.clear()

    def _done(self, uid: str, future: asyncio.Future[Thumbnail]) -> None:
        if self.pending.get(uid) is future:
            del self.pending[uid]
        if future.cancelled() or future.exception() is not None:
            return
        self._arrived[uid] = future.result()
        if not self._show_timer.isActive():
            self._show_timer.start()

    def show_arrived(self) -> None:
        """Show the thumbnails made since the last time, in one change of the table."""
        arrived, self._arrived = self._arrived, {}
        icons: dict[str, tuple[QPixmap, str]] = {}
        for uid, thumb in arrived.items():
            self.shown[uid] = thumb
            icons[uid] = self._icon(thumb)
        self.model.set_icons(icons)

    def _icon(self, thumb: Thumbnail) -> tuple[QPixmap, str]:
        if thumb.state == "ok" and thumb.image is not None:
            return QPixmap.fromImage(thumb.image), ""
        if thumb.state == "no-pixels":
            label = _KIND_WORDS.get(thumb.kind, thumb.kind.upper()[:6] or "NO IMG")
            return self._placeholder(label, "#546e7a"), f"No image: {thumb.reason}"
        return self._placeholder("!", "#c62828"), f"No thumbnail: {thumb.reason}"

    def _placeholder(self, label: str, color: str) -> QPixmap:
        """One pixmap per label, shared by every cell that shows it."""
        key = (label, color)
        if key not in self._placeholders:
            self._placeholders[key] = placeholder(label, self.size, color)
        return self._placeholders[key]
