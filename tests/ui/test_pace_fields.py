"""The node editor's batch fields: a valid window and limit are saved; a wrong window is
said at the field and never saved, the node keeping its last valid one."""

from __future__ import annotations

import json


def _saved_nodes(window) -> list[dict]:
    window.save_profiles()
    return json.loads(window.session.store.path.read_text())["nodes"]


def _node(qtbot, window, name: str):
    editor = window.editor
    editor.add_node()
    for field, text in ((editor.f_name, name), (editor.f_aet, "ARCHIVE"),
                        (editor.f_host, "archive.example.org")):
        field.widget.selectAll()
        qtbot.keyClicks(field.widget, text)
    return editor


def test_parallel_retrieves_and_window_are_saved(qtbot, window):
    editor = _node(qtbot, window, "Night")
    pace = editor.f_pace.widget
    pace.parallel.setValue(3)
    qtbot.keyClicks(pace.window, "Mon-Fri 20:00-07:00")
    saved = next(n for n in _saved_nodes(window) if n["name"] == "Night")
    assert saved["max_parallel_retrieves"] == 3
    assert saved["availability_window"] == "Mon-Fri 20:00-07:00"
    assert not editor.f_pace.message.isVisible()


def test_a_wrong_window_is_said_and_the_last_valid_one_kept(qtbot, window):
    editor = _node(qtbot, window, "Night")
    pace = editor.f_pace.widget
    qtbot.keyClicks(pace.window, "22:00-06:00")
    pace.window.editingFinished.emit()
    pace.window.selectAll()
    qtbot.keyClicks(pace.window, "Mon-Fri 25:00-07:00")
    assert editor.f_pace.message.isVisible()
    assert "availability window: '25:00' is not a time of day" in editor.f_pace.message.text()
    assert "availability window" in editor.not_saved.text()
    saved = next(n for n in _saved_nodes(window) if n["name"] == "Night")
    assert saved["availability_window"] == "22:00-06:00"
    assert pace.toolTip() and "Mon-Fri" in pace.window.toolTip()
