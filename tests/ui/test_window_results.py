"""The study browser's results: what Retrieve will fetch, local counts, names, columns, keys."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QPushButton
from tests.window_site import search_studies

from qrscope.core.dicom.records import QueryLevel, StudyRecord


def _click_row(qtbot, view, row: int) -> None:
    rect = view.visualRect(view.model().index(row, 1))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def _multi_series_study_row(window) -> tuple[int, StudyRecord]:
    model = window.search.models[QueryLevel.STUDY]
    for row, record in enumerate(model.records):
        if (record.number_of_series or 0) > 1:
            return row, record
    raise AssertionError("no study with more than one series in the demo PACS")


def _open_first_series_of_a_multi_series_study(qtbot, window):
    """Search, click a study of several series, then its first series; (row, study)."""
    search_studies(qtbot, window)
    search = window.search
    row, study = _multi_series_study_row(window)
    _click_row(qtbot, search.views[QueryLevel.STUDY], row)
    series = search.models[QueryLevel.SERIES]
    qtbot.waitUntil(lambda: series.rowCount() == study.number_of_series, timeout=10000)
    _click_row(qtbot, search.views[QueryLevel.SERIES], 0)
    return row, study


def test_clicking_the_study_again_retrieves_the_whole_study_and_says_so(qtbot, window):
    search = window.search
    row, study = _open_first_series_of_a_multi_series_study(qtbot, window)
    assert "1 of" in search.target.text() and "series" in search.target.text()
    _click_row(qtbot, search.views[QueryLevel.STUDY], row)  # the study row again
    assert "whole study" in search.target.text()
    assert f"{study.number_of_instances} images" in search.target.text()
    move = next(b for b in search.findChildren(QPushButton) if b.text() == "Retrieve (C-MOVE)")
    qtbot.mouseClick(move, Qt.MouseButton.LeftButton)
    rows = window.jobs.model.rows
    qtbot.waitUntil(lambda: rows and rows[-1].outcome is not None, timeout=30000)
    assert "whole study" in rows[-1].what
    assert len(rows[-1].outcome.stored) == study.number_of_instances


def test_a_series_retrieve_is_named_with_counts_and_local_shows_the_total(qtbot, window):
    search = window.search
    row, study = _open_first_series_of_a_multi_series_study(qtbot, window)
    search.retrieve_selection("move")
    rows = window.jobs.model.rows
    qtbot.waitUntil(lambda: rows and rows[-1].outcome is not None, timeout=30000)
    assert f"1 of {study.number_of_series} series" in rows[-1].what
    got = len(rows[-1].outcome.stored)
    local = search.models[QueryLevel.STUDY]
    column = next(i for i, c in enumerate(search.models[QueryLevel.STUDY].columns)
                  if c.key == "local")
    qtbot.waitUntil(lambda: local.index(row, column).data() == f"{got}/"
                    f"{study.number_of_instances}", timeout=5000)


def test_person_names_read_as_people_write_them(qtbot, window):
    search_studies(qtbot, window)
    model = window.search.models[QueryLevel.STUDY]
    column = next(i for i, c in enumerate(window.search.models[QueryLevel.STUDY].columns)
                  if c.key == "patient_name")
    shown = [model.index(r, column).data() for r in range(model.rowCount())]
    assert shown and not any("^" in name for name in shown)
    assert any(", " in name for name in shown)


def test_tab_leaves_the_results_table_without_selecting_or_searching(qtbot, window):
    search_studies(qtbot, window)
    studies = window.search.views[QueryLevel.STUDY]
    studies.setFocus()
    studies.clearSelection()
    searches = []
    window.bridge.records_arrived.connect(lambda *a: searches.append(a))
    qtbot.keyClick(studies, Qt.Key.Key_Tab)
    assert not studies.hasFocus()
    assert not studies.selectionModel().selectedRows()
    assert not searches


def test_columns_fit_their_contents_and_the_header_stays_in_the_window(qtbot, window):
    search_studies(qtbot, window)
    view = window.search.views[QueryLevel.STUDY]
    columns = window.search.models[QueryLevel.STUDY].columns
    widths = {c.key: view.columnWidth(i) for i, c in enumerate(columns)}
    assert len(set(widths.values())) > 3  # not all the same
    assert widths["local"] < widths["description"]
    description = next(i for i, c in enumerate(columns) if c.key == "description")
    assert widths["description"] >= min(view.sizeHintForColumn(description), 320)
    series, images = (window.search.headings[lv] for lv in (QueryLevel.SERIES, QueryLevel.IMAGE))
    assert series.text() and images.text()


def test_study_under_the_pointer_does_not_move_when_a_hint_appears(qtbot, window):
    from qrscope.diagnosis.hints import Hint

    search_studies(qtbot, window)
    view = window.search.views[QueryLevel.STUDY]
    before = view.mapTo(window, QPoint(0, 0))
    window.hints.show_hint(Hint(id="connection-refused", title="Something to say",
                                summary="Why it is so", causes=["one cause"]))
    qtbot.waitUntil(window.hints.isVisible, timeout=2000)
    window.layout().activate()
    assert view.mapTo(window, QPoint(0, 0)) == before


def _rows_per_turn(qtbot, model, deliver, total: int) -> list[int]:
    """The rows *model* gained in each turn of the event loop while *deliver()*'s
    records, *total* rows in all, were added."""
    added: list[int] = []
    model.rowsInserted.connect(lambda _parent, first, last: added.append(last - first + 1))
    rows_per_turn: list[int] = []
    turns = QTimer()
    turns.setInterval(0)
    turns.timeout.connect(lambda: (rows_per_turn.append(sum(added)), added.clear()))
    turns.start()
    deliver()
    qtbot.waitUntil(lambda: model.rowCount() == total, timeout=10000)
    turns.stop()
    rows_per_turn.append(sum(added))
    return rows_per_turn


def test_a_large_batch_is_shown_a_bounded_number_of_rows_per_turn(qtbot, window):
    """Each turn of the event loop adds at most ROWS_PER_TURN rows, so that the
    window paints and answers between them while a large search arrives."""
    from qrscope.ui.widgets import search_panel

    search_studies(qtbot, window)
    search = window.search
    model = search.models[QueryLevel.STUDY]
    level_id = search._search_ids[QueryLevel.STUDY]
    model.clear()
    batch = [StudyRecord(study_uid=f"1.2.826.0.1.{n}", patient_name=f"Doe^{n}",
                         study_date=f"2024{n % 12 + 1:02}01") for n in range(1000)]
    rows_per_turn = _rows_per_turn(qtbot, model, lambda: (
        search.bridge.records_arrived.emit(level_id, batch[:250]),
        search.bridge.records_arrived.emit(level_id, batch[250:])), 1000)
    assert 0 < max(rows_per_turn) <= search_panel.ROWS_PER_TURN
    assert sorted(r.study_uid for r in model.records) == sorted(r.study_uid for r in batch)


def test_rows_are_added_for_a_time_budget_per_turn(qtbot, window, monkeypatch):
    """While rows are slow to add (the search's threads holding the interpreter
    lock), fewer are added per turn; the clock here is a counter, not time."""
    from types import SimpleNamespace

    from qrscope.ui.widgets import search_panel

    clock = SimpleNamespace(now=0.0)

    def perf_counter() -> float:
        clock.now += search_panel.TURN_BUDGET_S / 2 + 1e-6  # each step takes over half
        return clock.now

    search_studies(qtbot, window)
    search = window.search
    model = search.models[QueryLevel.STUDY]
    level_id = search._search_ids[QueryLevel.STUDY]
    model.clear()
    monkeypatch.setattr(search_panel, "time", SimpleNamespace(perf_counter=perf_counter))
    batch = [StudyRecord(study_uid=f"1.2.826.0.2.{n}", patient_name=f"Roe^{n}")
             for n in range(300)]
    rows_per_turn = _rows_per_turn(
        qtbot, model, lambda: search.bridge.records_arrived.emit(level_id, batch), 300)
    # The first step starts the clock, the second passes the budget: two steps a turn.
    assert max(rows_per_turn) == 2 * search_panel.ROWS_PER_STEP
    assert sorted(r.study_uid for r in model.records) == sorted(r.study_uid for r in batch)
