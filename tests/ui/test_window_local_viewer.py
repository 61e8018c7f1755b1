"""The Local view's thumbnails and its viewer, on the clinical set (images, SR, PDF, ECG, RT)."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from qrscope.core.archive.importer import ImportMode, import_paths
from qrscope.core.archive.index import ArchiveFilter, ArchiveLevel, open_index
from qrscope.demo_pacs.clinical import build_clinical_studies


@pytest.fixture
def archive(window, tmp_path) -> tuple[Path, str]:
    """The clinical set in the window's archive, one CT series' pixel data cut short."""
    root = Path(window.session.local.storage_folder)
    results = import_paths(build_clinical_studies(tmp_path / "clinical"), root, ImportMode.COPY)
    assert all(r.outcome != "failed" for r in results)
    index = open_index(root)
    series = next(s for s in index.select(ArchiveLevel.SERIES) if s["modality"] == "CT")
    for row in index.select(ArchiveLevel.INSTANCE, ArchiveFilter(series_uid=series["series_uid"])):
        path = index.path_of(row["path"])
        ds = pydicom.dcmread(path)
        ds.PixelData = ds.PixelData[:16]
        ds.save_as(path)
    return root, series["series_uid"]


def _all_thumbnails(qtbot, window) -> dict:
    window.show_place(1)
    place = window.local
    model = place.view.models["series"]
    qtbot.waitUntil(lambda: model.rowCount() > 0, timeout=10000)
    uids = {r["series_uid"] for r in model.rows}
    qtbot.waitUntil(lambda: uids <= set(place.thumbnails.shown), timeout=60000)
    return {r["series_uid"]: r for r in model.rows}


def test_thumbnails_for_images_placeholders_for_objects_and_the_reason_of_a_failure(
        qtbot, window, archive):
    _root, broken = archive
    rows = _all_thumbnails(qtbot, window)
    place = window.local
    model = place.view.models["series"]
    shown = place.thumbnails.shown
    images = [uid for uid, r in rows.items() if r["modality"] in ("MR", "US")]
    assert images and all(shown[uid].state == "ok" for uid in images)
    assert all(not model.icons[uid].isNull() for uid in images)
    objects = [uid for uid, r in rows.items() if r["modality"] in ("SR", "DOC", "ECG", "RTPLAN")]
    assert objects and all(shown[uid].state == "no-pixels" for uid in objects)
    assert all(model.tips[uid].startswith("No image") for uid in objects)
    assert {shown[uid].kind for uid in objects} >= {"sr", "pdf", "rt-plan"}
    assert shown[broken].state == "failed" and shown[broken].reason
    tip = model.data(model.index(model.row_of(broken), 0), Qt.ItemDataRole.ToolTipRole)
    assert tip == f"No thumbnail: {shown[broken].reason}"


def _open(qtbot, window, series: dict):
    place = window.local
    before = len(place.viewers)
    place.open_viewer(series)
    qtbot.waitUntil(lambda: len(place.viewers) > before, timeout=10000)
    viewer = place.viewers[-1]
    qtbot.waitUntil(lambda: viewer.rendered is not None or viewer.text.isVisible()
                    or bool(viewer.canvas.text), timeout=20000)
    return viewer


def _settled(qtbot, viewer, check) -> None:
    qtbot.waitUntil(lambda: not viewer._busy and check(), timeout=20000)


def test_the_viewer_scrolls_frames_and_changes_window_and_level(qtbot, window, archive):
    window.show_place(1)
    model = window.local.view.models["series"]
    qtbot.waitUntil(lambda: model.rowCount() > 0, timeout=10000)
    cine = next(r for r in model.rows if r["series_uid"] != archive[1]
                and _frames(archive[0], r["series_uid"]) > 1)
    viewer = _open(qtbot, window, cine)
    assert viewer.rendered is not None and viewer.position == 0
    assert viewer.path.text().endswith(".dcm") and Path(viewer.path.text()).is_file()
    assert viewer.fields["Transfer syntax"].text()
    viewer.canvas.setFocus()
    qtbot.keyClick(viewer, Qt.Key.Key_Right)
    _settled(qtbot, viewer, lambda: viewer.rendered.frame == 1)
    assert "frame 2/" in viewer.where.text()
    wheel = QWheelEvent(QPointF(10, 10), QPointF(10, 10), QPoint(0, 0), QPoint(0, -120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewer.canvas, wheel)
    _settled(qtbot, viewer, lambda: viewer.rendered.frame == 2)
    viewer.slider.setValue(0)
    _settled(qtbot, viewer, lambda: viewer.rendered.frame == 0)
    qtbot.keyClick(viewer, Qt.Key.Key_End)
    _settled(qtbot, viewer, lambda: viewer.rendered.frame == len(viewer.positions) - 1)


def _frames(root: Path, series_uid: str) -> int:
    rows = open_index(root).select(ArchiveLevel.INSTANCE, ArchiveFilter(series_uid=series_uid))
    return max(int(r["frames"] or 1) for r in rows)


def test_window_and_level_by_fields_drag_and_reset(qtbot, window, archive):
    window.show_place(1)
    model = window.local.view.models["series"]
    qtbot.waitUntil(lambda: model.rowCount() > 0, timeout=10000)
    mr = next(r for r in model.rows if r["modality"] == "MR")
    viewer = _open(qtbot, window, mr)
    default = viewer.rendered.window
    assert default is not None and viewer.window_center.isEnabled()
    before = viewer.canvas.image.copy()
    viewer.window_width.setValue(max(2.0, default.width / 4))
    _settled(qtbot, viewer, lambda: viewer.rendered.window.width == max(2.0, default.width / 4))
    assert viewer.canvas.image != before
    viewer._drag_started()
    viewer._drag(40.0, 0.0)
    _settled(qtbot, viewer, lambda: viewer.rendered.window.width > default.width / 4)
    qtbot.mouseClick(viewer.reset, Qt.MouseButton.LeftButton)
    _settled(qtbot, viewer, lambda: viewer.rendered.window == viewer.rendered.default_window)
    assert viewer.window_center.value() == pytest.approx(round(default.center))


def test_an_object_without_pixels_shows_its_kind_and_text(qtbot, window, archive):
    window.show_place(1)
    model = window.local.view.models["series"]
    qtbot.waitUntil(lambda: model.rowCount() > 0, timeout=10000)
    report = next(r for r in model.rows if r["modality"] == "SR")
    viewer = _open(qtbot, window, report)
    qtbot.waitUntil(viewer.text.isVisible, timeout=10000)
    assert viewer.canvas.text.startswith("SR")
    assert viewer.text.toPlainText().strip()
    assert not viewer.window_center.isEnabled()


def test_a_frame_that_cannot_be_decoded_says_why(qtbot, window, archive):
    _root, broken = archive
    window.show_place(1)
    model = window.local.view.models["series"]
    qtbot.waitUntil(lambda: model.rowCount() > 0, timeout=10000)
    viewer = _open(qtbot, window, model.rows[model.row_of(broken)])
    assert viewer.rendered is None
    assert viewer.canvas.text.startswith("This frame cannot be shown:")
    assert len(viewer.canvas.text.splitlines()) > 1


def test_long_uids_leave_the_image_two_thirds_of_a_1024_pixel_viewer(qtbot, window, archive):
    """The attributes give way to the image: a UID is cut in its field, whole in its
    tooltip and in the field's text (selectable, copyable)."""
    window.show_place(1)
    model = window.local.view.models["series"]
    qtbot.waitUntil(lambda: model.rowCount() > 0, timeout=10000)
    mr = next(r for r in model.rows if r["modality"] == "MR")
    viewer = _open(qtbot, window, mr)
    row = viewer.instances[0]
    long_uid = "1.2.826.0.1.3680043.8.498." + "1234567890" * 5
    viewer.instances[0] = row | {"study_uid": long_uid, "sop_instance_uid": long_uid + ".7"}
    viewer.series = viewer.series | {"series_uid": long_uid + ".3"}
    viewer.resize(1000, 680)
    viewer.go(0)
    qtbot.waitUntil(lambda: viewer.canvas.width() >= viewer.width() * 0.6, timeout=5000)
    for name, value in (("Study UID", long_uid), ("Series UID", long_uid + ".3"),
                        ("SOP Instance UID", long_uid + ".7")):
        field = viewer.fields[name]
        assert field.text() == value and field.toolTip() == value
        assert field.isReadOnly()
