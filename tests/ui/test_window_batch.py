"""The batch view in the window: a list pasted or opened, reviewed, then fetched as one
job against the demo PACS (its studies ACC1001..ACC1007)."""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt
from tests.batch_studies import accession
from tests.demo_site import start_demo_site

from qrscope.core.batch.items import BatchItem
from qrscope.core.jobs.records import JobKind
from qrscope.core.retrieve.local import local_counts
from qrscope.demo_pacs import DemoPacsBehaviour
from qrscope.ui.batch.bridge import BatchWorker

KNOWN = ("ACC1006", "ACC1004", "ACC1007")
"""Small studies of the demo PACS: 1, 2 and 3 instances."""
UNKNOWN = "NOSUCH42"


def _statuses(model) -> dict[str, str]:
    return {p.item.accession_number: p.status.value for p in model.rows}


def paste_and_review(qtbot, window, lines) -> None:
    """Show the batches, paste *lines*, read them and resolve them; wait for the review."""
    window.show_place(2)
    place = window.batches
    page = place.view.input
    page.paste.setPlainText("\n".join(lines) + "\n")
    qtbot.mouseClick(page.read_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(page.review.isEnabled, timeout=5000)
    assert f"{len(lines)} row(s) read" in page.message.text()
    qtbot.mouseClick(page.review, Qt.MouseButton.LeftButton)
    review = place.view.review
    assert place.view.currentWidget() is review
    qtbot.waitUntil(lambda: not review.bar.isVisibleTo(review), timeout=20000)


def test_a_pasted_list_is_reviewed_then_fetched_as_one_job(qtbot, window):
    paste_and_review(qtbot, window, [*KNOWN, UNKNOWN])
    review = window.batches.view.review
    assert _statuses(review.model) == {**dict.fromkeys(KNOWN, "found"), UNKNOWN: "not-found"}
    assert "3 found" in review.counts.text() and "1 not-found" in review.counts.text()
    assert review.retrieve.text() == "Retrieve 3 studies"
    assert window.retrieves.model.rows == [], "nothing is fetched before the user confirms"

    qtbot.mouseClick(review.retrieve, Qt.MouseButton.LeftButton)
    run = window.batches.view.run
    assert window.batches.view.currentWidget() is run
    [row] = window.retrieves.model.rows
    assert row.kind is JobKind.BATCH, "the batch is one job in the jobs table"
    qtbot.waitUntil(lambda: run.new.isVisibleTo(run), timeout=60000)
    assert _statuses(run.model) == {**dict.fromkeys(KNOWN, "done"), UNKNOWN: "not-found"}
    assert run.items_text.text() == "4/4"
    assert run.items_words.text() == "3 done, 1 not-found"
    assert run.instances_text.text() == "6/6"
    assert not run.pause.isVisibleTo(run) and not run.cancel.isVisibleTo(run)
    storage = window.session.local.storage_folder
    uids = [s.study_uid for p in run.model.rows for s in p.studies]
    assert local_counts(storage, uids) == {
        s.study_uid: s.instances for p in run.model.rows for s in p.studies}
    assert run.report.with_suffix(".json").is_file()


def test_the_review_says_what_is_already_on_disk(qtbot, window):
    paste_and_review(qtbot, window, KNOWN[:1])
    review = window.batches.view.review
    qtbot.mouseClick(review.retrieve, Qt.MouseButton.LeftButton)
    run = window.batches.view.run
    qtbot.waitUntil(lambda: run.new.isVisibleTo(run), timeout=60000)
    qtbot.mouseClick(run.new, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.batches.view.input.review, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not review.bar.isVisibleTo(review), timeout=20000)
    assert review.model.data(review.model.index(0, 2)) == "found, already here"


def test_a_bad_file_shows_its_error_with_the_row_and_nothing_starts(qtbot, window,
                                                                    tmp_path):
    bad = tmp_path / "list.csv"
    bad.write_text("AccessionNumber,StudyDate\nACC1001,20240101\nACC1002,2024-13-45\n",
                   encoding="utf-8")
    window.show_place(2)
    page = window.batches.view.input
    window.batches.read(bad)
    qtbot.waitUntil(lambda: "Nothing can start" in page.message.text(), timeout=5000)
    assert "row 3" in page.message.text()
    assert not page.review.isEnabled()
    assert window.retrieves.model.rows == []


def test_the_columns_of_a_table_are_shown_and_one_can_be_named_by_hand(qtbot, window,
                                                                      tmp_path):
    table = tmp_path / "list.tsv"
    table.write_text("Fall\tUntersuchung\nQRS-1003\tACC1006\n", encoding="utf-8")
    window.show_place(2)
    place = window.batches
    page = place.view.input
    place.read(table)
    qtbot.waitUntil(lambda: "no column" in page.message.text(), timeout=5000)
    assert not page.review.isEnabled()
    assert page.columns.isVisibleTo(page), "the headers are offered to be named"
    page.roles["AccessionNumber"].setCurrentText("Untersuchung")
    page.columns_changed.emit()
    qtbot.waitUntil(page.review.isEnabled, timeout=5000)
    assert place.batch.items[0].accession_number == "ACC1006"
    assert page.roles["AccessionNumber"].currentText() == "Untersuchung"
    page.roles["PatientID"].setCurrentText("Fall")
    page.columns_changed.emit()
    qtbot.waitUntil(lambda: place.batch.items[0].patient_id == "QRS-1003", timeout=5000)


def _finds_by_accession(log) -> int:
    """The C-FINDs that ask for a study by its accession number: the resolving ones
    (the run's own searches ask by Study Instance UID)."""
    return sum(1 for e in log.events() if e.kind == "dimse-sent"
               and e.detail.get("message") == "C-FIND-RQ"
               and (e.detail.get("identifier") or {}).get("AccessionNumber"))


def test_the_run_fetches_what_was_reviewed_without_resolving_again(qtbot, window):
    """The review's answer is the run's: a row resolved once costs one C-FIND, not two."""
    paste_and_review(qtbot, window, [*KNOWN, UNKNOWN])
    review = window.batches.view.review
    reviewed = {p.index: p.studies for p in review.model.rows}
    log = window.bridge.log
    asked = _finds_by_accession(log)
    assert asked == len(KNOWN) + 1, "one C-FIND per row in the review"

    qtbot.mouseClick(review.retrieve, Qt.MouseButton.LeftButton)
    run = window.batches.view.run
    qtbot.waitUntil(lambda: run.new.isVisibleTo(run), timeout=60000)
    assert _statuses(run.model) == {**dict.fromkeys(KNOWN, "done"), UNKNOWN: "not-found"}
    assert {p.index: p.studies for p in run.model.rows} == reviewed
    assert _finds_by_accession(log) == asked, "the run resolved no row again"


def test_cancel_while_resolving_cancels_the_c_find_under_way(qtbot, tmp_path, batch_folder):
    """The review's Cancel reaches into the C-FIND the PACS is slow to answer (C-CANCEL),
    rather than waiting for its answer and stopping after it."""
    site = start_demo_site(batch_folder, tmp_path / "received",
                           behaviour=DemoPacsBehaviour(match_delay=2.0))
    worker = BatchWorker(site.log)
    resolved, ended = [], []
    worker.resolved.connect(lambda _run, p: resolved.append(p))
    worker.resolve_ended.connect(lambda _run, why: ended.append(why))
    asked = threading.Event()
    site.log.subscribe(lambda e: asked.set() if e.kind == "dimse-sent"
                       and e.detail.get("message") == "C-FIND-RQ" else None)
    try:
        worker.resolve(site.node, site.local, [BatchItem(row=2, accession_number=accession(1)),
                                               BatchItem(row=3, accession_number=accession(2))])
        qtbot.waitUntil(asked.is_set, timeout=10000)
        worker.cancel()
        qtbot.waitUntil(lambda: bool(ended), timeout=30000)
        assert ended == ["cancelled"] and resolved == [], "no row resolved after the cancel"
        sent = [e.detail.get("message") for e in site.log.events() if e.kind == "dimse-sent"]
        assert "C-CANCEL-RQ" in sent and sent.count("C-FIND-RQ") == 1
    finally:
        worker.shutdown()
        site.pacs.stop()


def test_the_review_table_fills_its_width_with_the_reason_column(qtbot):
    """At 1920 pixels the columns sized to their contents left a band of empty grid on the
    right: the reason column (the last) takes what the others leave, after every resize."""
    from qrscope.core.batch.items import ItemProgress, ItemStatus
    from qrscope.ui.batch.review_page import ReviewPage

    page = ReviewPage()
    qtbot.addWidget(page)
    page.resize(1800, 600)
    page.show()
    qtbot.waitExposed(page)
    page.start(2, "Demo PACS")
    page.add(ItemProgress(0, BatchItem(row=1, accession_number="ACC1"), ItemStatus.FOUND))
    page.add(ItemProgress(1, BatchItem(row=2, accession_number="NOSUCH"),
                          ItemStatus.NOT_FOUND, reason="the PACS has no study of it"))
    page.ended("", "Demo PACS")
    header = page.table.horizontalHeader()
    last = page.model.columnCount() - 1
    right = header.sectionViewportPosition(last) + header.sectionSize(last)
    assert right >= page.table.viewport().width() - 1
