"""The profile editor: what is saved, what is said, and what stays where it is."""

from __future__ import annotations

import json

from PySide6.QtCore import QPoint, QRect, Qt
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
    button = next(b for b in editor.window().findChildren(QPushButton)
                  if b.text() == "Verify (C-ECHO)")
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


def _archive(qtbot, editor) -> None:
    editor.add_node()
    _type(qtbot, editor.f_name, "Archive")
    _type(qtbot, editor.f_aet, "ARCHIVE")
    _type(qtbot, editor.f_host, "archive.example.org")


def test_a_17_character_ae_title_typed_is_refused_not_saved_as_its_prefix(qtbot, window):
    editor = window.editor
    _archive(qtbot, editor)
    assert next(n for n in _saved_nodes(window) if n["name"] == "Archive")["ae_title"] == \
        "ARCHIVE"
    # As a user types it: the first 16 characters are a valid AE title on the way.
    _type(qtbot, editor.f_aet, "ABCDEFGHIJKLMNOPQ")
    saved = next(n for n in _saved_nodes(window) if n["name"] == "Archive")
    assert saved["ae_title"] == "ARCHIVE"
    assert editor.current_node().ae_title == "ARCHIVE"
    assert editor.f_aet.message.text() == ("AE title: 'ABCDEFGHIJKLMNOPQ' has 17 characters; "
                                           "DICOM allows at most 16")
    assert editor.not_saved.isVisible() and "Not saved" in editor.not_saved.text()
    # Fixed: saved, and the note goes.
    qtbot.keyClick(editor.f_aet.widget, Qt.Key.Key_Backspace)
    assert next(n for n in _saved_nodes(window)
                if n["name"] == "Archive")["ae_title"] == "ABCDEFGHIJKLMNOP"
    assert not editor.not_saved.isVisible()


def test_a_port_typed_into_an_error_keeps_the_port_it_had(qtbot, window):
    editor = window.editor
    _archive(qtbot, editor)
    spin = editor.f_port.widget
    spin.selectAll()
    qtbot.keyClicks(spin, "4242")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    spin.selectAll()
    qtbot.keyClicks(spin, "0")
    assert editor.f_port.message.isVisible()
    assert next(n for n in _saved_nodes(window) if n["name"] == "Archive")["port"] == 4242


def test_messages_wrap_whole_and_apart_at_1024_by_768(qtbot, window):
    window.resize(1024, 768)
    editor = window.editor
    _archive(qtbot, editor)
    _type(qtbot, editor.f_aet, "ABCDEFGHIJKLMNOPQ")
    editor.f_host.widget.selectAll()
    qtbot.keyClick(editor.f_host.widget, Qt.Key.Key_Delete)
    labels = [editor.f_aet.message, editor.f_host.message, editor.not_saved]
    assert all(label.isVisible() for label in labels)

    def shown_whole() -> bool:
        return all(label.height() >= label.heightForWidth(label.width()) for label in labels)

    qtbot.waitUntil(shown_whole, timeout=3000)
    right = editor.width()
    boxes = [QRect(label.mapTo(editor, QPoint(0, 0)), label.size()) for label in labels]
    for box in boxes:
        assert box.right() < right
    for i, box in enumerate(boxes):
        assert not any(box.intersects(other) for other in boxes[i + 1:])
    assert "(a host name or IP address)" in editor.f_host.message.text()
