"""The window at 1024x768 and beyond: nothing covered, clipped or squeezed."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QPoint, QRect, Qt
from PySide6.QtWidgets import QPushButton, QWidget

from qrscope.core.dicom.records import QueryLevel


def _rect_in_window(window, widget: QWidget) -> QRect:
    return QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())


def _settle(qtbot, window, width: int, height: int) -> None:
    window.resize(width, height)
    qtbot.waitUntil(lambda: window.size().width() == width, timeout=2000)
    window.layout().activate()


def _show_refusal_hint(qtbot, window) -> None:
    window.editor.f_port.widget.setValue(1)
    window.editor.request_verify()
    qtbot.waitUntil(window.hints.isVisible, timeout=15000)
    window.layout().activate()


def test_the_window_fits_1024x768(qtbot, window):
    _settle(qtbot, window, 1024, 768)
    assert window.width() == 1024 and window.height() == 768


def test_the_jobs_never_cover_this_workstation_or_its_apply_button(qtbot, window):
    for width, height in ((1024, 768), (1200, 850)):
        _settle(qtbot, window, width, height)
        apply = next(b for b in window.editor.findChildren(QPushButton) if b.text() == "Apply")
        scroller = window.nodes_dock.widget()
        scroller.ensureWidgetVisible(apply)
        qtbot.waitUntil(lambda a=apply, s=scroller: s.viewport().rect().contains(
            QRect(a.mapTo(s.viewport(), QPoint(0, 0)), a.size())), timeout=2000)
        jobs = _rect_in_window(window, window.bottom_dock)
        assert not jobs.intersects(_rect_in_window(window, apply))
        assert not jobs.intersects(_rect_in_window(window, window.nodes_dock))
        # The nodes panel has the whole height, beside the jobs, not above them.
        nodes = window.nodes_dock.geometry()
        assert nodes.bottom() >= window.bottom_dock.geometry().center().y()


def test_search_fields_keep_their_placeholders_and_buttons_their_words(qtbot, window):
    _settle(qtbot, window, 1024, 768)
    form = window.search.form
    for edit in (form.patient_name, form.patient_id, form.accession, form.modalities,
                 form.description):
        assert edit.width() > edit.fontMetrics().horizontalAdvance(edit.placeholderText())
    for button in (form.search, form.cancel):
        assert button.width() >= button.sizeHint().width()
        assert form.rect().contains(QRect(button.mapTo(form, QPoint(0, 0)), button.size()))


def test_the_hint_at_1024_has_whole_buttons_and_lines_that_do_not_overlap(qtbot, window):
    _settle(qtbot, window, 1024, 768)
    _show_refusal_hint(qtbot, window)
    hints = window.hints
    for button in hints.findChildren(QPushButton):
        assert button.width() >= button.sizeHint().width(), button.text()
        assert hints.rect().contains(QRect(button.mapTo(hints, QPoint(0, 0)), button.size()))
    summary, causes = hints.summary, hints.causes
    assert summary.geometry().bottom() < causes.geometry().top()
    assert summary.height() >= summary.heightForWidth(summary.width())
    studies = window.search.views[QueryLevel.STUDY]
    assert studies.viewport().height() >= 3 * studies.verticalHeader().defaultSectionSize()


def test_the_jobs_show_five_rows_and_their_dock_can_grow(qtbot, window):
    _settle(qtbot, window, 1024, 768)
    view = window.jobs.view
    assert view.viewport().height() >= 5 * view.verticalHeader().defaultSectionSize()
    # Dragged up to half the screen; and with a hint showing, still taller.
    window.resizeDocks([window.bottom_dock], [384], Qt.Orientation.Vertical)
    window.layout().activate()
    assert window.bottom_dock.height() >= 380
    window.resizeDocks([window.bottom_dock], [250], Qt.Orientation.Vertical)
    _show_refusal_hint(qtbot, window)
    window.resizeDocks([window.bottom_dock], [330], Qt.Orientation.Vertical)
    window.layout().activate()
    assert window.bottom_dock.height() >= 320


def test_a_new_job_is_scrolled_into_view(qtbot, window):
    _settle(qtbot, window, 1024, 768)
    form = window.search.form
    qtbot.mouseClick(form.search, Qt.MouseButton.LeftButton)
    studies = window.search.views[QueryLevel.STUDY]
    qtbot.waitUntil(lambda: form.search.isEnabled() and studies.model().rowCount() > 5,
                    timeout=15000)
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for row in range(studies.model().rowCount()):
        studies.selectionModel().select(studies.model().index(row, 0), flags)
    window.search.retrieve_selection("get")
    view, rows = window.jobs.view, window.jobs.model.rows
    last = view.visualRect(view.model().index(len(rows) - 1, 0))
    assert view.viewport().rect().contains(last.center())
    assert window.jobs.selected() is rows[-1]
    qtbot.waitUntil(lambda: all(r.state.is_final for r in rows), timeout=60000)
