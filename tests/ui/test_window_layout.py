"""The window at 1024x768 and beyond: nothing covered, clipped or squeezed.

The tests' screen is 1024x768 (tests/ui/conftest.py): the window is the size
it chose itself for that screen, as a user's first start shows it.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QPushButton, QWidget

from qrscope.core.dicom.records import QueryLevel
from qrscope.ui.screen_fit import fitted_geometry


def _rect_in_window(window, widget: QWidget) -> QRect:
    return QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())


def _on_screen(widget: QWidget) -> QRect:
    return QRect(widget.mapToGlobal(QPoint(0, 0)), widget.size())


def _settle(qtbot, window) -> None:
    qtbot.waitExposed(window)
    window.layout().activate()


def test_the_first_window_fits_the_screen_with_every_button_in_view(qtbot, window):
    _settle(qtbot, window)
    screen = window.screen().availableGeometry()
    assert screen.size() == QSize(1024, 768)  # the tests' screen, not a resized window
    assert screen.contains(window.frameGeometry())
    search = window.search
    buttons = search.form.findChildren(QPushButton) + [
        b for b in search.findChildren(QPushButton) if b.text().startswith("Retrieve")]
    assert len([b for b in buttons if b.text().startswith("Retrieve")]) == 2
    for button in buttons:
        if button.isVisible():
            assert screen.contains(_on_screen(button)), button.text()
    assert window.bottom_dock.isVisible() and screen.contains(_on_screen(window.bottom_dock))
    assert window.jobs.view.viewport().height() > 0
    # Verify and the C-MOVE doctor are in view in the connections panel.
    panel = window.nodes_dock.widget()
    for text in ("Verify (C-ECHO)", "C-MOVE doctor…"):
        # One of each: the editor no longer has its own further down.
        assert [b.text() for b in window.findChildren(QPushButton)].count(text) == 1, text
        button = next(b for b in panel.findChildren(QPushButton) if b.text() == text
                      and b.isVisibleTo(panel) and not window.nodes_scroller.isAncestorOf(b))
        assert panel.rect().contains(_rect_in_window(panel, button)), text
        assert screen.contains(_on_screen(button)), text


def test_the_first_window_takes_the_screen_it_opens_on_up_to_its_natural_size():
    natural = QSize(1400, 900)
    for screen, expected in ((QRect(0, 0, 1024, 768), QRect(0, 0, 1024, 768)),
                             (QRect(0, 0, 1280, 800), QRect(0, 0, 1280, 800)),
                             (QRect(1920, 0, 1920, 1080), QRect(2180, 90, 1400, 900)),
                             (QRect(0, 30, 1366, 738), QRect(0, 30, 1366, 738))):
        assert fitted_geometry(natural, screen) == expected


def _show_refusal_hint(qtbot, window) -> None:
    window.editor.f_port.widget.setValue(1)
    window.editor.request_verify()
    qtbot.waitUntil(window.hints.isVisible, timeout=15000)
    window.layout().activate()


def test_the_jobs_never_cover_this_workstation_or_its_apply_button(qtbot, window):
    _settle(qtbot, window)
    apply = next(b for b in window.editor.findChildren(QPushButton) if b.text() == "Apply")
    scroller = window.nodes_scroller
    scroller.ensureWidgetVisible(apply)
    qtbot.waitUntil(lambda: scroller.viewport().rect().contains(
        QRect(apply.mapTo(scroller.viewport(), QPoint(0, 0)), apply.size())), timeout=2000)
    jobs = _rect_in_window(window, window.bottom_dock)
    assert not jobs.intersects(_rect_in_window(window, apply))
    assert not jobs.intersects(_rect_in_window(window, window.nodes_dock))
    # The nodes panel has the whole height, beside the jobs, not above them.
    nodes = window.nodes_dock.geometry()
    assert nodes.bottom() >= window.bottom_dock.geometry().center().y()


def test_search_fields_keep_their_placeholders_and_buttons_their_words(qtbot, window):
    _settle(qtbot, window)
    form = window.search.form
    for edit in (form.patient_name, form.patient_id, form.accession, form.modalities,
                 form.description):
        assert edit.width() > edit.fontMetrics().horizontalAdvance(edit.placeholderText())
    for button in (form.search, form.cancel):
        assert button.width() >= button.sizeHint().width()
        assert form.rect().contains(QRect(button.mapTo(form, QPoint(0, 0)), button.size()))


def test_the_hint_at_1024_has_whole_buttons_and_lines_that_do_not_overlap(qtbot, window):
    _settle(qtbot, window)
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
    _settle(qtbot, window)
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
    _settle(qtbot, window)
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


def test_verify_under_the_connections_panel_checks_the_selected_node(qtbot, window):
    verify, _doctor = window.node_checks
    qtbot.mouseClick(verify, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "OK: answered" in window.editor.verify_result.text(), timeout=15000)
    assert "OK: answered" in window.statusBar().currentMessage()


def test_a_saved_window_larger_than_the_screen_is_not_restored(qtbot, qt_loop, tmp_path):
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMainWindow
    from tests.window_site import make_window

    big = QMainWindow()
    big.setGeometry(0, 0, 1600, 1000)  # saved on a larger screen
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("window/geometry", big.saveGeometry())
    settings.setValue("window/frame", big.frameGeometry())
    settings.sync()
    window = make_window(qtbot, tmp_path)
    _settle(qtbot, window)
    assert window.screen().availableGeometry().contains(window.frameGeometry())
    assert window.size() == QSize(1024, 768)


def test_a_saved_window_that_fits_the_screen_opens_where_it_was(qtbot, qt_loop, tmp_path):
    from PySide6.QtCore import QSettings
    from tests.window_site import close_window, make_window

    first = make_window(qtbot, tmp_path)
    first.setGeometry(20, 30, 1000, 700)
    close_window(qtbot, first)  # saves its place
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    assert settings.value("window/frame") == QRect(20, 30, 1000, 700)
    window = make_window(qtbot, tmp_path)
    _settle(qtbot, window)
    assert window.geometry() == QRect(20, 30, 1000, 700)
