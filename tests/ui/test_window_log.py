"""The association log: honest about refused connections, following, filtering, details."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from tests.demo_site import free_port
from tests.window_site import retrieve_first_study, search_studies

from qrscope.core.dicom.records import QueryLevel


def _retrieve(qtbot, window) -> None:
    window.search.views[QueryLevel.STUDY].selectRow(0)
    window.search.retrieve_selection("move")
    rows = window.jobs.model.rows
    qtbot.waitUntil(lambda: rows and rows[-1].outcome is not None, timeout=30000)


def test_a_refused_connection_is_not_logged_as_an_abort(qtbot, window):
    editor = window.editor
    editor.f_port.widget.setValue(free_port())
    verify = next(b for b in editor.findChildren(QPushButton) if b.text() == "Verify (C-ECHO)")
    qtbot.mouseClick(verify, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.hints.isVisible(), timeout=15000)
    log = window.log_panel
    qtbot.waitUntil(lambda: any(e.kind == "connection-failed" for e in log.model.events),
                    timeout=5000)
    assert not any("A-ABORT" in e.summary for e in log.visible_events())


def test_follow_shows_the_newest_event_after_filtering_and_switching_tabs(qtbot, window):
    window.resize(1024, 768)
    search_studies(qtbot, window)
    _retrieve(qtbot, window)
    window.show_tab(1)
    log = window.log_panel
    qtbot.waitUntil(lambda: log.model.rowCount() > 30, timeout=5000)
    scroll = log.view.verticalScrollBar()
    qtbot.waitUntil(lambda: scroll.maximum() > 0, timeout=2000)
    scroll.setValue(0)  # looking at older events, Follow still on
    log.filter.setText("DEMOPACS")
    qtbot.waitUntil(lambda: scroll.maximum() > 0 and scroll.value() == scroll.maximum(),
                    timeout=2000)
    log.filter.clear()
    scroll.setValue(0)
    window.show_tab(0)
    search_studies(qtbot, window)  # more events while the log is hidden
    window.show_tab(1)
    qtbot.waitUntil(lambda: scroll.maximum() > 0 and scroll.value() == scroll.maximum(),
                    timeout=2000)


def test_association_filter_takes_a_prefix(qtbot, window):
    search_studies(qtbot, window)
    _retrieve(qtbot, window)
    log = window.log_panel
    qtbot.waitUntil(lambda: any(e.association_id.startswith("in-")
                                for e in log.model.events), timeout=5000)
    log.association.setText("in-")
    shown = {e.association_id for e in log.visible_events()}
    assert shown and all(i.startswith("in-") for i in shown)


def test_event_details_read_as_labelled_lines(qtbot, window):
    search_studies(qtbot, window)
    log = window.log_panel
    window.show_tab(1)
    qtbot.waitUntil(lambda: log.model.rowCount() > 0, timeout=5000)
    row = next(r for r in range(log.model.rowCount())
               if log.visible_events()[r].kind == "requested")
    log.view.selectRow(row)
    text = log.detail.toPlainText()
    assert "Association:" in text and "What happened:" in text
    assert "{" not in text and '"' not in text
    assert log.detail.width() > 200


def _click_event(qtbot, log, association_id: str, kind: str) -> str:
    """Click the log row of that event, as a user does; the detail pane's text."""
    row = next(r for r, e in enumerate(log.visible_events())
               if e.association_id == association_id and e.kind == kind)
    index = log.model.index(row, 4)
    log.view.scrollTo(index)
    qtbot.mouseClick(log.view.viewport(), Qt.MouseButton.LeftButton,
                     pos=log.view.visualRect(index).center())
    return log.detail.toPlainText()


def _context_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"^ +\[ *\d+\] ", line)]


def test_the_detail_pane_shows_a_c_get_negotiation_context_by_context(qtbot, window):
    search_studies(qtbot, window)
    retrieve_first_study(qtbot, window, "get")
    window.show_tab(1)
    log = window.log_panel
    requested = [e for e in log.model.events if e.kind == "requested" and
                 any(cx.get("role") == "SCP" for cx in e.detail.get("contexts", ()))]
    assert requested, "no C-GET association with storage roles in the log"
    get = requested[0]
    qtbot.waitUntil(lambda: any(e.association_id == get.association_id and e.kind == "accepted"
                                for e in log.visible_events()), timeout=5000)
    proposal = _click_event(qtbot, log, get.association_id, "requested")
    count = len(get.detail["contexts"])
    assert f"{count} presentation context(s) proposed:" in proposal
    lines = _context_lines(proposal)
    assert len(lines) == count  # one line per context, every one of them
    assert any(line.endswith("; role SCP") for line in lines)
    assert "requestor (us): maximum PDU length" in proposal
    assert "'transfer syntaxes'" not in proposal and "transfer syntaxes:" not in proposal

    answer = _click_event(qtbot, log, get.association_id, "accepted")
    assert len(_context_lines(answer)) == count
    assert any(line.endswith("; roles granted SCP") for line in _context_lines(answer))
    assert re.search(r"maximum PDU length: requestor \(us\) receives \d+ bytes, "
                     r"acceptor \(\w+\) receives \d+ bytes", answer)
    assert "Association:" in answer and "What happened: A-ASSOCIATE-AC received" in answer


def test_the_detail_pane_shows_the_negotiation_of_an_incoming_association(qtbot, window):
    search_studies(qtbot, window)
    _retrieve(qtbot, window)  # C-MOVE: the PACS associates with our listener
    window.show_tab(1)
    log = window.log_panel
    qtbot.waitUntil(lambda: any(e.association_id.startswith("in-") and e.kind == "accepted"
                                for e in log.visible_events()), timeout=5000)
    incoming = next(e for e in log.visible_events()
                    if e.association_id.startswith("in-") and e.kind == "accepted")
    proposal = _click_event(qtbot, log, incoming.association_id, "requested")
    assert re.search(r"requestor \(\w+\): maximum PDU length \d+ bytes", proposal)
    assert _context_lines(proposal)
    answer = _click_event(qtbot, log, incoming.association_id, "accepted")
    assert re.search(r"requestor \(\w+\) receives \d+ bytes, acceptor \(us\) receives "
                     r"\d+ bytes", answer)
    assert any(" accepted, " in line for line in _context_lines(answer))
