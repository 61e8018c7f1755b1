"""The hint bar: only actions that do something, in words a user understands."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QPushButton
from tests.window_site import retrieve_first_study, use_fault

from qrscope.core.dicom.records import QueryLevel
from qrscope.core.profiles import RetrieveMethod


def _search_and_retrieve(qtbot, window, method: str) -> None:
    form = window.search.form
    qtbot.mouseClick(form.search, Qt.MouseButton.LeftButton)
    studies = window.search.models[QueryLevel.STUDY]
    qtbot.waitUntil(lambda: studies.rowCount() > 0 and form.search.isEnabled(), timeout=15000)
    retrieve_first_study(qtbot, window, method)
    qtbot.waitUntil(window.hints.isVisible, timeout=5000)


def _labels(window) -> list[str]:
    return [a.label for a in window.hints.hint.actions]


def test_no_cget_hint_speaks_of_the_service_and_offers_only_what_changes_something(
        qtbot, window):
    use_fault(qtbot, window, "no-cget")
    assert window.editor.current_node().retrieve_method is RetrieveMethod.MOVE
    _search_and_retrieve(qtbot, window, "get")
    summary = window.hints.summary.text()
    assert "Storage" not in summary and "refused C-GET" in summary
    assert "Make C-MOVE the node's method" not in _labels(window)


def test_make_c_move_the_method_changes_the_node(qtbot, window):
    use_fault(qtbot, window, "no-cget")
    window.editor.set_retrieve_method(RetrieveMethod.GET)
    assert window.editor.current_node().retrieve_method is RetrieveMethod.GET
    _search_and_retrieve(qtbot, window, "")
    button = next(b for b in window.hints.findChildren(QPushButton)
                  if b.text() == "Make C-MOVE the node's method")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert window.editor.current_node().retrieve_method is RetrieveMethod.MOVE
    assert window.editor.f_method.widget.currentText() == "C-MOVE"


def test_copying_the_request_is_confirmed_and_buttons_show_their_whole_text(qtbot, window):
    use_fault(qtbot, window, "unknown-destination")
    _search_and_retrieve(qtbot, window, "move")
    buttons = [b for b in window.hints.findChildren(QPushButton) if b.isVisible()]
    assert buttons
    for button in buttons:
        assert button.width() >= button.sizeHint().width()
    copy = next(b for b in buttons if b.text().startswith("Copy the request"))
    qtbot.mouseClick(copy, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text()
    assert "Copied" in window.hints.confirmation.text()
    assert window.hints.confirmation.isVisible()
