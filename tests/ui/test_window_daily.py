"""Daily use: studies already here, the received folder, date presets, the demo PACS, sequence."""

from __future__ import annotations

from datetime import date, timedelta

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QPushButton
from tests.window_site import close_window, make_window, search_studies

from qrscope.core.dicom.records import QueryLevel
from qrscope.core.profiles import RemoteNode
from qrscope.session import DEMO_NODE_NAME


def _retrieve_first(qtbot, window) -> None:
    window.search.views[QueryLevel.STUDY].selectRow(0)
    window.search.retrieve_selection("move")


def _wait_done(qtbot, window, count: int) -> None:
    rows = window.jobs.model.rows
    qtbot.waitUntil(lambda: len(rows) == count and all(r.state.is_final for r in rows),
                    timeout=30000)


def _first_study_local(qtbot, window) -> None:
    model = window.search.models[QueryLevel.STUDY]
    uid = model.records[0].study_uid
    qtbot.waitUntil(lambda: model.local_counts.get(uid, 0) > 0, timeout=5000)


def _answer(qtbot, window, text: str) -> None:
    qtbot.waitUntil(lambda: window.already_here is not None
                    and window.already_here.isVisible(), timeout=5000)
    button = next(b for b in window.already_here.buttons() if b.text() == text)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _retrieve_a_study_already_here(qtbot, window) -> None:
    """Retrieve the first study, then ask for it again (the question comes up)."""
    search_studies(qtbot, window)
    _retrieve_first(qtbot, window)
    _wait_done(qtbot, window, 1)
    _first_study_local(qtbot, window)
    _retrieve_first(qtbot, window)


def test_a_study_already_here_is_asked_about_and_can_be_skipped(qtbot, window):
    _retrieve_a_study_already_here(qtbot, window)
    assert len(window.jobs.model.rows) == 1  # nothing sent before the user answers
    assert "images here" in window.already_here.informativeText()
    _answer(qtbot, window, "Skip")
    assert len(window.jobs.model.rows) == 1


def test_fetch_only_what_is_missing_sends_nothing_for_a_complete_study(qtbot, window):
    _retrieve_a_study_already_here(qtbot, window)
    _answer(qtbot, window, "Fetch only what is missing")
    qtbot.waitUntil(lambda: "already here" in window.statusBar().currentMessage(),
                    timeout=15000)
    assert len(window.jobs.model.rows) == 1


def test_fetch_again_retrieves_the_whole_study(qtbot, window):
    _retrieve_a_study_already_here(qtbot, window)
    _answer(qtbot, window, "Fetch everything again")
    _wait_done(qtbot, window, 2)
    assert window.jobs.model.rows[-1].what.endswith("again")


def test_open_folder_without_a_file_manager_shows_the_path_to_copy(qtbot, window):
    search_studies(qtbot, window)
    _retrieve_first(qtbot, window)
    _wait_done(qtbot, window, 1)
    panel = window.jobs
    panel.open_url = lambda _url: False  # no file manager registered
    panel.view.selectRow(0)
    qtbot.mouseClick(panel.open, Qt.MouseButton.LeftButton)
    folder = window.jobs.model.rows[0].folder
    assert panel.folder.text() == folder and panel.folder.selectedText() == folder
    assert folder in window.statusBar().currentMessage()
    qtbot.mouseClick(panel.copy_folder, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == folder


def test_greyed_dates_follow_the_preset(qtbot, window):
    form = window.search.form
    today = date.today()
    for preset, first in (("Today", today), ("Last 30 days", today - timedelta(days=29)),
                          ("Yesterday", today - timedelta(days=1))):
        form.preset.setCurrentText(preset)
        assert form.date_from.date().toPython() == first, preset
        assert not form.date_from.isEnabled()


def test_the_demo_pacs_stays_one_click_away_with_nodes_of_ones_own(qtbot, qt_loop, tmp_path):
    node = RemoteNode(name="Hospital PACS", ae_title="HOSP", host="127.0.0.1", port=104)
    window = make_window(qtbot, tmp_path, nodes=[node])
    try:
        names = lambda: [window.editor.list.item(i).text()  # noqa: E731
                         for i in range(window.editor.list.count())]
        qtbot.waitUntil(lambda: DEMO_NODE_NAME in names(), timeout=10000)
        assert window.editor.current_node().name == "Hospital PACS"
        demo_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Demo")
        select = next(a for a in demo_menu.actions() if a.text() == "Select the demo PACS")
        select.trigger()
        assert window.editor.current_node().name == DEMO_NODE_NAME
        texts = [a.text() for a in demo_menu.actions() if a.isCheckable()]
        assert not any("-" in t.split()[0] for t in texts)  # words, not fault ids
        called = next(a for a in demo_menu.actions() if "called AE title" in a.text())
        assert "AE title" in called.text()
    finally:
        close_window(qtbot, window)


def test_the_sequence_names_the_pacs_and_keeps_its_note_inside(qtbot, window):
    window.editor.f_dest.widget.setText("ELSEWHERE")
    window.editor._node_edited()
    search_studies(qtbot, window)
    _retrieve_first(qtbot, window)
    _wait_done(qtbot, window, 1)
    row = window.jobs.model.rows[0]
    window.jobs.view.selectRow(0)
    button = next(b for b in window.jobs.findChildren(QPushButton) if b.text() == "Sequence…")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    dialog = window.findChild(type(window.show_sequence(row.job_id)))
    pacs = window.session.demo_pacs
    assert pacs.ae_title in dialog.svg and f"127.0.0.1:{pacs.port}" in dialog.svg
    note = next(line for line in dialog.svg.splitlines() if "reached us" in line)
    assert 'text-anchor="end"' in note
