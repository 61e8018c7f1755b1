"""The jobs area's words and switches: counts that add up, cells that fit,
plurals, and the log left in view when the user is reading it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog
from tests.window_site import search_studies

from qrscope.core.dicom.records import QueryLevel
from qrscope.core.jobs import JobState
from qrscope.core.retrieve.types import RetrieveProgress, RetrieveState
from qrscope.ui.models.jobs_model import PROGRESS_COLUMN, JobRow


def _row(**changes) -> JobRow:
    return JobRow(job_id="J1", what="whole study", node="Demo", method="C-MOVE", **changes)


def _progress(received: int, completed: int, remaining: int) -> RetrieveProgress:
    return RetrieveProgress(job_id="J1", state=RetrieveState.RUNNING, remaining=remaining,
                            completed=completed, failed=0, warning=0, received=received,
                            elapsed=1.0)


def test_the_counts_of_a_running_job_add_up_to_its_total():
    # The PACS has counted 5 sent, 12 to go; 7 have already reached us.
    text = _row(job_state=JobState.RUNNING, progress=_progress(7, 5, 12)).progress_text()
    assert text == "7/17 received"


def test_progress_texts_fit_their_cell(qtbot, window):
    view = window.jobs.view
    width = view.columnWidth(PROGRESS_COLUMN)
    failing = RetrieveProgress(job_id="J1", state=RetrieveState.RUNNING, remaining=4000,
                               completed=1000, failed=120, warning=0, received=1000,
                               elapsed=1.0)
    for row in (_row(), _row(job_state=JobState.RUNNING, progress=_progress(123, 100, 877)),
                _row(job_state=JobState.RUNNING, progress=failing)):
        text = row.progress_text()
        # The bar's text has the style's margins either side.
        assert view.fontMetrics().horizontalAdvance(text) + 16 <= width, text


def test_a_retrieve_leaves_the_association_log_in_view(qtbot, window):
    search_studies(qtbot, window)
    window.show_tab(1)  # Ctrl+L: the user watches the log
    window.search.views[QueryLevel.STUDY].selectRow(0)
    window.search.retrieve_selection("get")
    rows = window.jobs.model.rows
    qtbot.waitUntil(lambda: rows and rows[-1].outcome is not None, timeout=30000)
    assert window.bottom.currentWidget() is window.log_panel


def test_a_retrieve_shows_the_jobs_when_the_log_is_not_in_view(qtbot, window):
    search_studies(qtbot, window)
    window.bottom_dock.hide()
    window.search.views[QueryLevel.STUDY].selectRow(0)
    window.search.retrieve_selection("get")
    assert window.bottom_dock.isVisible() and window.bottom.currentWidget() is window.jobs
    rows = window.jobs.model.rows
    qtbot.waitUntil(lambda: rows and rows[-1].outcome is not None, timeout=30000)


def test_the_support_bundle_is_offered_in_the_home_folder(qtbot, window, monkeypatch):
    asked = []

    def ask(_parent, _caption, where, _filter):
        asked.append(where)
        return "", ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(ask))
    window.save_support_bundle()
    assert Path(asked[0]).parent == Path.home()
    assert Path(asked[0]).name == "qrscope-support.zip"


def test_counts_are_in_the_singular_for_one_and_the_plural_otherwise():
    from qrscope.ui.job_words import images_here

    assert images_here("CT chest", 1, 1) == "CT chest: 1 of 1 image here"
    assert images_here("CT chest", 0, 2) == "CT chest: 0 of 2 images here"
    assert images_here("CT chest", 1, None).startswith("CT chest: 1 image here")
