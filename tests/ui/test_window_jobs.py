"""Retrieve jobs in the window: queues per node, retries with the node as it is now, labels."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from tests.demo_site import free_port
from tests.window_site import retrieve_first_study, search_studies, use_fault

from qrscope.core.records import QueryLevel


def _button(parent, text: str) -> QPushButton:
    return next(b for b in parent.findChildren(QPushButton) if b.text().startswith(text))


def _select_studies(window, count: int) -> None:
    from PySide6.QtCore import QItemSelectionModel

    view = window.search.views[QueryLevel.STUDY]
    view.clearSelection()
    flags = (QItemSelectionModel.SelectionFlag.Select
             | QItemSelectionModel.SelectionFlag.Rows)
    for row in range(count):
        view.selectionModel().select(view.model().index(row, 0), flags)


def _move_first(qtbot, window) -> list:
    """Retrieve the first study by C-MOVE with the button; the jobs' rows."""
    window.search.views[QueryLevel.STUDY].selectRow(0)
    qtbot.mouseClick(_button(window.search, "Retrieve (C-MOVE)"), Qt.MouseButton.LeftButton)
    return window.jobs.model.rows


def test_retry_after_fixing_the_port_goes_to_the_new_port(qtbot, window):
    search_studies(qtbot, window)
    editor = window.editor
    good_port = editor.f_port.widget.value()
    editor.f_port.widget.setValue(free_port())  # a typo: nothing listens there
    rows = _move_first(qtbot, window)
    qtbot.waitUntil(lambda: rows and rows[-1].outcome is not None, timeout=30000)
    assert rows[-1].state.value == "failed"
    editor.f_port.widget.setValue(good_port)  # fixed; Verify agrees
    qtbot.mouseClick(_button(editor, "Verify"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "OK" in editor.verify_result.text(), timeout=10000)
    window.jobs.view.selectRow(0)
    qtbot.mouseClick(window.jobs.retry, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(rows) == 2 and rows[-1].outcome is not None, timeout=30000)
    assert rows[-1].state.value == "success", rows[-1].why


def test_retrieves_queue_per_node_and_searches_do_not_wait_for_them(qtbot, window):
    from qrscope.ui.controllers.jobs import RETRIEVES_PER_NODE

    use_fault(qtbot, window, "slow-responses")
    search_studies(qtbot, window)
    studies = min(4, window.search.models[QueryLevel.STUDY].rowCount())
    assert studies > RETRIEVES_PER_NODE
    _select_studies(window, studies)
    qtbot.mouseClick(_button(window.search, "Retrieve (C-MOVE)"), Qt.MouseButton.LeftButton)
    rows = window.jobs.model.rows
    assert len(rows) == studies
    running = [r for r in rows if not r.queued]
    assert len(running) == RETRIEVES_PER_NODE
    assert all(r.state_text == "queued" for r in rows if r.queued)
    # A search while the retrieves run is answered; it does not wait for them.
    search_studies(qtbot, window)
    assert any(not r.state.is_final for r in running)
    # Cancelling a queued job takes it out of the queue; it never starts.
    queued = next(r for r in rows if r.queued)
    window.jobs.view.selectRow(rows.index(queued))
    qtbot.mouseClick(window.jobs.cancel, Qt.MouseButton.LeftButton)
    assert queued.state.value == "cancelled" and not queued.job_id
    for row in running:
        window.retrieves.cancel(row.job_id)
    qtbot.waitUntil(lambda: all(r.state.is_final for r in rows), timeout=60000)


def test_a_new_job_is_selected_in_view_and_can_be_cancelled(qtbot, window):
    use_fault(qtbot, window, "slow-responses")
    search_studies(qtbot, window)
    rows = _move_first(qtbot, window)
    assert window.jobs.selected() is rows[-1]
    assert window.jobs.cancel.isEnabled()
    qtbot.mouseClick(window.jobs.cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: rows[-1].outcome is not None, timeout=30000)
    assert rows[-1].state.value == "cancelled"


def test_jobs_from_a_hint_name_the_patient_and_study(qtbot, window):
    use_fault(qtbot, window, "unknown-destination")
    search_studies(qtbot, window)
    rows = _move_first(qtbot, window)
    qtbot.waitUntil(lambda: rows and rows[-1].outcome is not None, timeout=30000)
    qtbot.waitUntil(window.hints.isVisible, timeout=5000)
    first = rows[0].what
    qtbot.mouseClick(_button(window.hints, "Retrieve with C-GET instead"),
                     Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(rows) == 2 and rows[-1].outcome is not None, timeout=30000)
    assert rows[-1].what.startswith(first) and rows[-1].what.endswith("by C-GET")
    assert "…" not in rows[-1].what


def test_a_stopped_listener_stays_stopped_and_the_move_says_why(qtbot, window):
    search_studies(qtbot, window)
    qtbot.mouseClick(window.jobs.listener_button, Qt.MouseButton.LeftButton)
    assert "stopped" in window.jobs.listener_label.text()
    rows = _move_first(qtbot, window)
    qtbot.waitUntil(lambda: rows and rows[-1].state.is_final, timeout=10000)
    assert not window.session.listener.is_running
    assert "stopped" in window.jobs.listener_label.text()
    assert "Start listener" in rows[-1].why
    qtbot.mouseClick(window.jobs.listener_button, Qt.MouseButton.LeftButton)
    window.jobs.view.selectRow(0)
    qtbot.mouseClick(window.jobs.retry, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(rows) == 2 and rows[-1].outcome is not None, timeout=30000)
    assert rows[-1].state.value == "success", rows[-1].why


def _bar(window, row_number: int) -> float | None:
    from qrscope.ui.models.jobs_model import PROGRESS_COLUMN

    model = window.jobs.view.model()
    return model.index(row_number, PROGRESS_COLUMN).data(Qt.ItemDataRole.UserRole)


def test_a_failed_job_that_brought_nothing_has_an_empty_bar(qtbot, window):
    use_fault(qtbot, window, "unknown-destination")
    search_studies(qtbot, window)
    retrieve_first_study(qtbot, window, "move")
    rows = window.jobs.model.rows
    assert rows[-1].state.value == "failed" and not rows[-1].outcome.stored
    assert _bar(window, 0) == 0.0


def test_an_aborted_job_says_the_pacs_aborted(qtbot, window):
    use_fault(qtbot, window, "abort-mid-transfer")
    search_studies(qtbot, window)
    retrieve_first_study(qtbot, window, "get")
    rows = window.jobs.model.rows
    assert "aborted" in rows[-1].why
    got = len(rows[-1].outcome.stored)
    assert _bar(window, 0) < 1.0 or got == rows[-1].outcome.expected
