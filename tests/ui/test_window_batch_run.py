"""The batch view's run page: pause and resume, and the pace backing off from a busy PACS."""

from __future__ import annotations

from PySide6.QtCore import Qt
from tests.ui.test_window_batch import KNOWN, UNKNOWN, paste_and_review

from qrscope.core.batch.progress import BatchPhase
from qrscope.ui.bridge import spawn
from qrscope.ui.models.jobs_model import PROGRESS_COLUMN


def test_pause_stops_new_retrieves_and_resume_goes_on(qtbot, window):
    paste_and_review(qtbot, window, KNOWN)
    place = window.batches
    row = place.submit()
    place.pause(True)
    service = window.retrieves.service
    run = place.view.run
    qtbot.waitUntil(lambda: (p := service.batch_progress(row.job_id)) is not None
                    and p.phase is BatchPhase.PAUSED_BY_USER, timeout=20000)
    progress = service.batch_progress(row.job_id)
    assert (progress.running, progress.instances_received) == (0, 0)
    assert progress.counts["found"] == len(KNOWN), "resolved, none fetched while paused"
    qtbot.waitUntil(lambda: "paused by you" in run.pace.text(), timeout=5000)
    assert run.resume.isVisibleTo(run) and not run.pause.isVisibleTo(run)
    job = window.retrieves.model.find(row.job_id)
    assert job.state_text == "running" and "paused by the user" in job.why, job

    qtbot.mouseClick(run.resume, Qt.MouseButton.LeftButton)
    assert "paused" not in run.pace.text(), "what stopped being true leaves the page"
    assert run.pause.isVisibleTo(run)
    qtbot.waitUntil(lambda: run.new.isVisibleTo(run), timeout=60000)
    assert {p.status.value for p in run.model.rows} == {"done"}


def test_a_busy_pacs_shows_the_pace_backing_off_and_why(qtbot, window):
    """The demo PACS refusing every retrieve (busy:0, A702): the pace halves and pauses,
    and the page says so with the PACS's reason."""
    started = spawn(window.bridge.start_demo_pacs("busy:0"))
    qtbot.waitUntil(started.done, timeout=10000)
    window.editor.refresh(select=started.result().name)
    paste_and_review(qtbot, window, KNOWN[:2])
    place = window.batches
    qtbot.mouseClick(place.view.review.retrieve, Qt.MouseButton.LeftButton)
    run = place.view.run
    qtbot.waitUntil(lambda: run.changes.count() > 0, timeout=30000)
    line = run.changes.item(0).text()
    assert "→ 1 parallel" in line and "paused" in line and "A702" in line, line
    assert "backing off" in run.pace.text()
    window.retrieves.cancel(place.job_id)
    qtbot.waitUntil(lambda: run.new.isVisibleTo(run), timeout=30000)
    assert "backing off" not in run.pace.text(), "the back-off line leaves with the batch"


def test_a_batch_row_shows_its_items_and_retry_fetches_its_failed_ones(qtbot, window):
    """In the jobs table a batch's bar counts its items and instances, as the run page
    does; Retry failed runs its failed items again (the PACS knew our AE title no more
    the first time: 0xA801), and leaves the not-found one be."""
    paste_and_review(qtbot, window, [*KNOWN[:2], UNKNOWN])
    pacs, ae = window.session.demo_pacs, window.session.local.ae_title
    where = pacs.destinations.lookup(ae)
    pacs.remove_destination(ae)
    place = window.batches
    qtbot.mouseClick(place.view.review.retrieve, Qt.MouseButton.LeftButton)
    run = place.view.run
    qtbot.waitUntil(lambda: run.new.isVisibleTo(run), timeout=60000)
    assert [p.status.value for p in run.model.rows] == ["failed", "failed", "not-found"]
    model, jobs = window.retrieves.model, window.jobs
    number = model.row_of(place.job_id)
    jobs.view.selectRow(number)
    bar = model.index(number, PROGRESS_COLUMN)
    assert model.data(bar) == "3/3 items, 0/3 instances"
    assert model.data(bar, Qt.ItemDataRole.UserRole) == 1.0
    assert jobs.retry.isEnabled(), "two items failed: retrying may fetch them"

    pacs.add_destination(ae, *where)
    qtbot.mouseClick(jobs.retry, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: [p.status.value for p in run.model.rows]
                    == ["done", "done", "not-found"], timeout=60000)
    qtbot.waitUntil(lambda: model.find(place.job_id).state_text == "partial", timeout=10000)
    assert model.data(bar) == "3/3 items, 3/3 instances"
    assert len(model.rows) == 1, "the batch's own row, run again"
    assert not jobs.retry.isEnabled(), "nothing failed is left"
    assert "not found" in jobs.retry.toolTip()


def test_the_pace_changes_wrap_at_1024_pixels_without_scrolling_sideways(qtbot, window):
    """A change's reason (the PACS's status and words) is long: at 1024x768 its line wraps,
    and its whole text is in its tooltip."""
    window.resize(1024, 768)
    window.show_place(2)
    run = window.batches.view.run
    window.batches.view.setCurrentWidget(run)
    long = ("2 → 1 parallel, paused 30 s: A702 Refused: Out of resources - Unable to "
            "perform sub-operations (0xA702) from DEMOPACS, " * 3).strip()
    run.show_changes([long, "1 → 2 parallel: 5 retrieves ended well"])
    qtbot.waitUntil(run.changes.isVisible, timeout=5000)
    run.changes.doItemsLayout()  # as the event loop would, now
    assert run.changes.horizontalScrollBar().maximum() == 0
    assert run.changes.item(0).toolTip() == long
