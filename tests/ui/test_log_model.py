"""The association log filters itself: batches come in filtered, a new filter re-shows."""

from __future__ import annotations

from datetime import UTC, datetime

from qrscope.core.net.association_log import AssociationEvent, Direction, EventLevel
from qrscope.ui.models.log_model import LogTableModel


def _event(association: str, summary: str, level: EventLevel = EventLevel.INFO,
           ) -> AssociationEvent:
    return AssociationEvent(time=datetime.now(UTC), association_id=association,
                            direction=Direction.OUTGOING, kind="dimse-sent",
                            summary=summary, level=level, peer_ae="ORTHANC")


def test_a_batch_shows_only_what_passes_the_filter_and_keeps_every_event(qapp):
    model = LogTableModel()
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _parent, first, last: inserted.append((first, last)))
    model.append([_event("out-1", "C-FIND-RQ"), _event("out-1", "P-DATA", EventLevel.DEBUG),
                  _event("in-4", "C-STORE-RQ"), _event("in-40", "C-STORE-RQ")])
    assert len(model.events) == 4
    assert [e.summary for e in model.shown] == ["C-FIND-RQ", "C-STORE-RQ", "C-STORE-RQ"]
    assert inserted == [(0, 2)]  # one insert for the batch
    assert model.rowCount() == 3 and model.index(0, 5).data() == "C-FIND-RQ"


def test_a_new_filter_shows_the_matching_events_of_the_whole_log(qapp):
    model = LogTableModel()
    model.append([_event("out-1", "C-FIND-RQ"), _event("out-1", "P-DATA", EventLevel.DEBUG),
                  _event("in-4", "C-STORE-RQ"), _event("in-40", "C-STORE-RQ")])
    model.set_filter(show_debug=False, association="in-4", text="")
    assert [e.association_id for e in model.shown] == ["in-4"]  # not in-40
    model.set_filter(show_debug=True, association="out-", text="p-data")
    assert [e.summary for e in model.shown] == ["P-DATA"]
    model.append([_event("out-2", "P-DATA again", EventLevel.DEBUG),
                  _event("out-2", "C-ECHO-RQ")])
    assert [e.summary for e in model.shown] == ["P-DATA", "P-DATA again"]
    model.clear()
    assert model.rowCount() == 0 and model.events == []


def test_the_log_view_calls_its_model_from_one_python_paint(qtbot):
    """Every call Qt makes into the Python model while painting comes from
    within the view's own Python ``paintEvent``: the paint takes the
    interpreter lock once, not once per cell (hundreds of hand-overs, each
    up to 5 ms while a search's threads hold the lock)."""
    import sys

    from PySide6.QtWidgets import QApplication

    from qrscope.ui.widgets.log_panel import LogPanel

    panel = LogPanel()
    qtbot.addWidget(panel)
    panel.add_many([_event(f"out-{n}", f"C-FIND-RSP {n}") for n in range(200)])
    panel.resize(1200, 600)
    panel.show()
    qtbot.waitExposed(panel)
    QApplication.processEvents()  # the view lays out its rows
    callers: list[tuple[str, str]] = []
    model_code = {"data", "rowCount", "columnCount", "headerData", "row_list"}

    def profile(frame, event, _arg) -> None:
        if event == "call" and frame.f_code.co_name in model_code:
            outer = frame.f_back
            while outer is not None and outer.f_code.co_name in model_code:
                outer = outer.f_back
            callers.append((frame.f_code.co_name, outer.f_code.co_name if outer else ""))

    sys.setprofile(profile)
    try:
        panel.view.viewport().repaint()
    finally:
        sys.setprofile(None)
    assert any(name == "data" for name, _ in callers)
    assert {caller for _, caller in callers} == {"paintEvent"}
