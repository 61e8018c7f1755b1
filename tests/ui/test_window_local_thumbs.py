"""The Local view's thumbnails reach the table without holding the GUI thread (issue 22).

Thumbnails made together are shown by one change of the series table (one
repaint, not one per thumbnail), arrive scaled to the size shown, and a
placeholder is painted once for all the cells that show it.
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace

import pydicom
from pydicom.data import get_testdata_file
from PySide6.QtGui import QImage

from qrscope.core.archive.importer import ImportMode, import_paths
from qrscope.core.archive.index import close_index
from qrscope.core.imaging import apart
from qrscope.ui.local.models import SERIES_COLUMNS, ArchiveTableModel
from qrscope.ui.local.thumbs import Thumbnail, ThumbnailLoader, load_thumbnail

UIDS = ("1.2.3.1", "1.2.3.2", "1.2.3.3", "1.2.3.4")


def _loader(qtbot) -> tuple[ThumbnailLoader, ArchiveTableModel, list[tuple[int, int]]]:
    model = ArchiveTableModel(SERIES_COLUMNS, "series_uid")
    model.rows = [{"series_uid": uid, "instances": 1} for uid in UIDS]
    loader = ThumbnailLoader(SimpleNamespace(), model, Path, 64)
    changes: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda first, last, *_: changes.append((first.row(), last.row())))
    return loader, model, changes


def _made(loader: ThumbnailLoader, thumb: Thumbnail) -> None:
    """As the pool reports a thumbnail made."""
    future: Future[Thumbnail] = Future()
    future.set_result(thumb)
    loader._done(thumb.series_uid, future)  # type: ignore[arg-type]


def test_thumbnails_made_together_are_shown_by_one_change(qtbot):
    loader, model, changes = _loader(qtbot)
    image = QImage(64, 64, QImage.Format.Format_Grayscale8)
    image.fill(128)
    _made(loader, Thumbnail(UIDS[0], "ok", image=image))
    _made(loader, Thumbnail(UIDS[2], "no-pixels", "an SR", kind="sr"))
    _made(loader, Thumbnail(UIDS[1], "failed", "cut short"))
    assert loader.shown == {} and changes == []  # not yet: others may follow
    qtbot.waitUntil(lambda: len(loader.shown) == 3)
    assert changes == [(0, 2)]
    assert {uid: model.tips[uid] for uid in UIDS[:3]} == {
        UIDS[0]: "", UIDS[1]: "No thumbnail: cut short", UIDS[2]: "No image: an SR"}
    assert not model.icons[UIDS[0]].isNull()


def test_a_placeholder_is_painted_once_for_every_cell_showing_it(qtbot):
    loader, model, _changes = _loader(qtbot)
    for uid in UIDS[1:]:
        _made(loader, Thumbnail(uid, "failed", "unreadable"))
    qtbot.waitUntil(lambda: len(loader.shown) == 3)
    assert len({model.icons[uid].cacheKey() for uid in UIDS[1:]}) == 1


def test_the_image_arrives_at_the_size_shown(tmp_path: Path):
    root = tmp_path / "storage"
    root.mkdir()
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.save_as(root / "ct.dcm", enforce_file_format=True)
    import_paths([root / "ct.dcm"], root, ImportMode.IN_PLACE)
    try:
        thumb = load_thumbnail(root, str(ds.SeriesInstanceUID), 64)
    finally:
        apart.shut_down()
        close_index(root)
    assert thumb.state == "ok" and thumb.image is not None
    assert max(thumb.image.width(), thumb.image.height()) == 64


def test_closing_the_window_ends_the_thumbnail_processes(qtbot, qt_loop, tmp_path):
    """The worker processes that made thumbnails end when the window closes, not at
    the interpreter's exit: left to it, a quit said "leaked semaphore objects" on the
    terminal, and a process ended by ``os._exit`` left their semaphores behind."""
    from tests.window_site import close_window, make_window

    window = make_window(qtbot, tmp_path)
    root = tmp_path / "thumbs"
    root.mkdir()
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.save_as(root / "ct.dcm", enforce_file_format=True)
    import_paths([root / "ct.dcm"], root, ImportMode.IN_PLACE)
    try:
        assert apart.processes_available()
        assert apart.make_thumbnail_apart(root, ds.SeriesInstanceUID, 64).state == "ok"
        assert apart.workers_running()
        close_window(qtbot, window)
        assert not apart.workers_running()
    finally:
        apart.shut_down()
        close_index(root)
