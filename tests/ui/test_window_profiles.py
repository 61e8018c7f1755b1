"""The profile editor: what is saved, what is said, and what stays where it is."""

from __future__ import annotations

import json

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QPushButton
from tests.demo_site import free_port


def _type(qtbot, field, text: str) -> None:
    field.widget.selectAll()
    qtbot.keyClicks(field.widget, text)


def _paste(qtbot, field, text: str) -> None:
    QGuiApplication.clipboard().setText(text)
    field.widget.selectAll()
    qtbot.keyClick(field.widget, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)


def _saved_nodes(window) -> list[dict]:
    window.save_profiles()
    return json.loads(window.session.store.path.read_text())["nodes"]


def _verify(qtbot, editor) -> None:
    button = next(b for b in editor.findChildren(QPushButton) if b.text() == "Verify (C-ECHO)")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_values_shown_as_errors_are_never_saved(qtbot, window):
    editor = window.editor
    editor.add_node()
    _type(qtbot, editor.f_name, "Archive")
    _type(qtbot, editor.f_aet, "ARCHIVE")
    _type(qtbot, editor.f_host, "archive.example.org")
    editor.f_port.widget.setValue(4242)
    assert any(n["ae_title"] == "ARCHIVE" for n in _saved_nodes(window))
    _paste(qtbot, editor.f_aet, "SEVENTEEN_CHARS_X")
    editor.f_host.widget.selectAll()
    qtbot.keyClick(editor.f_host.widget, Qt.Key.Key_Delete)
    assert editor.f_aet.message.isVisible() and editor.f_host.message.isVisible()
    saved = next(n for n in _saved_nodes(window) if n["name"] == "Archive")
    assert saved["ae_title"] == "ARCHIVE" and saved["host"] == "archive.example.org"


def test_port_0_is_an_error_not_silently_104(qtbot, window):
    editor = window.editor
    editor.add_node()
    _type(qtbot, editor.f_name, "Zero")
    spin = editor.f_port.widget
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, "0")
    editor.f_name.widget.setFocus()  # leave the field
    assert spin.value() == 0
    assert "port" in editor.f_port.message.text() and editor.f_port.message.isVisible()
    assert next(n for n in _saved_nodes(window) if n["name"] == "Zero")["port"] == 104


def test_fields_stay_put_while_messages_come_and_go(qtbot, window):
    editor = window.editor
    editor.add_node()
    positions = lambda: [f.widget.mapTo(editor, QPoint(0, 0))  # noqa: E731
                         for f in (editor.f_host, editor.f_port, editor.f_method)]
    before = positions()
    _type(qtbot, editor.f_aet, "WAY_TOO_LONG_AE_TITLE")
    assert editor.f_aet.message.isVisible()
    assert positions() == before


def test_verify_names_the_field_in_words_and_forgets_it_once_fixed(qtbot, window):
    editor = window.editor
    _type(qtbot, editor.f_aet, "WAY_TOO_LONG_AE_TITLE")
    _verify(qtbot, editor)
    text = editor.verify_result.text()
    assert "AE title" in text and "ae_title" not in text
    _type(qtbot, editor.f_aet, "DEMOPACS")
    assert "Fix" not in editor.verify_result.text()


def test_a_refusal_is_forgotten_when_the_port_changes(qtbot, window):
    editor = window.editor
    good = editor.f_port.widget.value()
    editor.f_port.widget.setValue(free_port())
    _verify(qtbot, editor)
    qtbot.waitUntil(lambda: "refused" in editor.verify_result.text().lower()
                    or "no answer" in editor.verify_result.text().lower(), timeout=15000)
    editor.f_port.widget.setValue(good)
    assert editor.verify_result.text() == ""


def test_the_association_timeout_verify_waits_for_is_shown(qtbot, window):
    editor = window.editor
    spins = editor.f_timeouts.widget.spins
    node = window.editor.current_node()
    assert spins["association"].value() == node.timeouts.association
    spins["association"].setValue(12)
    assert window.editor.current_node().timeouts.association == 12
