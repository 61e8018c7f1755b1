"""The window against the built-in demo PACS, driven as a user would."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from qrscope.core.dicom.records import QueryLevel
from qrscope.session import DEMO_NODE_NAME


def _search(qtbot, window, **fields) -> int:
    form = window.search.form
    for name, text in fields.items():
        getattr(form, name).setText(text)
    qtbot.mouseClick(form.search, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: form.search.isEnabled() and "stud" in window.search.count.text()
                    and "so far" not in window.search.count.text(), timeout=15000)
    return window.search.models[QueryLevel.STUDY].rowCount()


def test_first_start_preselects_the_demo_pacs_and_search_streams_results(qtbot, window):
    assert window.editor.current_node().name == DEMO_NODE_NAME
    assert "running" in window.jobs.listener_label.text()
    count = _search(qtbot, window)
    assert count == len({i.text("StudyInstanceUID") for i in window.session.demo_pacs.instances})
    assert f"{count} studies" in window.search.count.text()


def test_filters_narrow_the_results(qtbot, window):
    everything = _search(qtbot, window)
    mr = _search(qtbot, window, modalities="MR")
    assert 0 < mr < everything
    model = window.search.models[QueryLevel.STUDY]
    assert all("MR" in r.modalities for r in model.records)
    window.search.form.modalities.clear()
    assert _search(qtbot, window, patient_name="Mü*") == 2


def test_invalid_input_is_shown_under_the_form_not_sent(qtbot, window):
    window.search.form.modalities.setText("C T!")
    qtbot.mouseClick(window.search.form.search, Qt.MouseButton.LeftButton)
    assert "modality" in window.search.form.message.text()
    assert window.search.form.search.isEnabled()


def test_drill_down_from_study_to_series_to_instances(qtbot, window):
    _search(qtbot, window, modalities="CT")
    window.search.views[QueryLevel.STUDY].selectRow(0)
    series = window.search.models[QueryLevel.SERIES]
    qtbot.waitUntil(lambda: series.rowCount() > 0, timeout=10000)
    window.search.views[QueryLevel.SERIES].selectRow(0)
    images = window.search.models[QueryLevel.IMAGE]
    first_series = series.records[0]
    # Results stream in batches: wait for them all, not the first.
    qtbot.waitUntil(lambda: images.rowCount() == first_series.number_of_instances,
                    timeout=10000)


def _retrieve(qtbot, window, button_text: str):
    _search(qtbot, window)
    window.search.views[QueryLevel.STUDY].selectRow(0)
    button = next(b for b in window.search.findChildren(type(window.search.form.search))
                  if b.text() == button_text)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    rows = window.jobs.model.rows
    qtbot.waitUntil(lambda: rows and rows[-1].outcome is not None, timeout=30000)
    return rows[-1]


def test_retrieve_by_c_move_shows_both_associations(qtbot, window):
    row = _retrieve(qtbot, window, "Retrieve (C-MOVE)")
    assert row.state.value == "success", row.why
    assert row.outcome.stored and all(Path(f).exists() for f in row.outcome.files)
    assert "received" in row.why
    # The log's events come in batches: the incoming association's first
    # events may be shown before its stored instances.
    def kinds() -> set[tuple[str, str]]:
        return {(e.direction.value, e.kind) for e in window.log_panel.model.events}

    qtbot.waitUntil(lambda: {("outgoing", "dimse-sent"), ("incoming", "instance-stored")}
                    <= kinds(), timeout=5000)
    study = window.search.models[QueryLevel.STUDY]
    qtbot.waitUntil(lambda: any(study.local_counts.values()), timeout=5000)


def test_retrieve_by_c_get(qtbot, window):
    row = _retrieve(qtbot, window, "Retrieve (C-GET)")
    assert row.state.value == "success", row.why
    assert row.method == "C-GET" and row.outcome.incoming_associations == []


def test_log_filter_by_text_and_association(qtbot, window):
    _search(qtbot, window)
    log = window.log_panel
    # The log arrives in batches: wait for the request itself, not just any row.
    qtbot.waitUntil(lambda: any("C-FIND-RQ" in e.summary for e in log.model.events),
                    timeout=5000)
    log.filter.setText("C-FIND-RQ")
    assert log.model.rowCount() >= 1
    assert all("C-FIND-RQ" in e.summary for e in log.visible_events())
    log.filter.clear()
    first = log.model.events[0].association_id
    log.association.setText(first)
    assert {e.association_id for e in log.visible_events()} == {first}


def test_about_names_the_library_versions(window):
    from qrscope.core.engine import choice

    text = window.about_text()
    assert "pynetdicom" in text and "pydicom" in text and "Qt" in text
    # Which engine runs, as --version says it (tuned or stock pynetdicom, and why).
    assert f"engine: {choice.current().describe()}" in text


def test_debug_level_shows_pdus_of_both_directions(qtbot, window):
    log = window.log_panel
    log.debug.setChecked(True)
    _retrieve(qtbot, window, "Retrieve (C-MOVE)")
    qtbot.waitUntil(lambda: any(e.kind == "pdu-received" and e.direction.value == "incoming"
                                for e in log.model.events), timeout=5000)
    assert any(e.kind == "pdu-sent" and e.direction.value == "outgoing"
               for e in log.visible_events())
    log.debug.setChecked(False)
    assert not any(e.kind.startswith("pdu-") for e in log.visible_events())


def test_last_search_and_node_survive_a_restart(qtbot, qt_loop, tmp_path):
    from tests.window_site import close_window, make_window

    first = make_window(qtbot, tmp_path)
    first.search.form.patient_name.setText("Doe*")
    first.search.form.preset.setCurrentText("Last 30 days")
    close_window(qtbot, first)
    second = make_window(qtbot, tmp_path)
    try:
        assert second.search.form.patient_name.text() == "Doe*"
        assert second.search.form.preset.currentText() == "Last 30 days"
    finally:
        close_window(qtbot, second)


def test_a_move_nobody_receives_says_why_next_to_the_job(qtbot, window):
    editor = window.editor
    editor.f_dest.widget.setText("ELSEWHERE")
    editor._node_edited()
    row = _retrieve(qtbot, window, "Retrieve (C-MOVE)")
    assert row.state.value == "failed"
    assert "0xA801" in row.why and "never connected to our listener" in row.why
    window.jobs.view.selectRow(0)
    assert window.jobs.retry.isEnabled() and not window.jobs.cancel.isEnabled()
    assert window.hints.isVisible() and window.hints.hint.id == "move-destination-mismatch"
    assert window.hints.job_id == row.job_id


def test_sequence_of_a_move_shows_and_exports(qtbot, window, tmp_path):
    row = _retrieve(qtbot, window, "Retrieve (C-MOVE)")
    dialog = window.show_sequence(row.job_id)
    assert dialog.diagram.has_reverse_association
    dialog.export("svg", str(tmp_path / "s.svg"))
    dialog.export("png", str(tmp_path / "s.png"))
    assert (tmp_path / "s.svg").read_text().startswith("<svg")
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dialog.close()
