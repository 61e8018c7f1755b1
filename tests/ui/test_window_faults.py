"""The Demo menu's faults, shown in the window as their hints."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from tests.window_site import retrieve_first_study, use_fault

from qrscope.core.dicom.records import QueryLevel


def _retrieve_first_study(qtbot, window, method: str):
    form = window.search.form
    qtbot.mouseClick(form.search, Qt.MouseButton.LeftButton)
    studies = window.search.models[QueryLevel.STUDY]
    qtbot.waitUntil(lambda: studies.rowCount() > 0 and form.search.isEnabled(), timeout=10000)
    return retrieve_first_study(qtbot, window, method)


@pytest.mark.parametrize(("fault", "method", "hint"), [
    ("unknown-destination", "move", "move-destination-unknown"),
    ("unreachable-destination", "move", "move-destination-unknown"),
    ("abort-mid-transfer", "get", "association-aborted"),
    ("final-before-images", "move", "images-after-final-response"),
    ("fewer-images", "move", "fewer-images-than-reported"),
    ("out-of-resources", "move", "out-of-resources"),
])
def test_retrieve_fault_shows_its_hint(qtbot, window, fault, method, hint):
    use_fault(qtbot, window, fault)
    row = _retrieve_first_study(qtbot, window, method)
    assert row.state.value in ("failed", "partial", "success")
    qtbot.waitUntil(window.hints.isVisible, timeout=5000)
    assert window.hints.hint.id == hint
    if fault == "unreachable-destination":
        # The PACS knows us and cannot connect: the same answer as an unknown
        # destination, so the title must not claim the entry is missing.
        assert "has no entry" not in window.hints.title.text()


@pytest.mark.parametrize(("fault", "hint"), [
    ("reject-calling-aet", "association-rejected-calling-aet"),
    ("no-cget", "no-accepted-context"),
])
def test_association_fault_shows_its_hint(qtbot, window, fault, hint):
    use_fault(qtbot, window, fault)
    if fault == "no-cget":
        _retrieve_first_study(qtbot, window, "get")
    else:
        window.editor.request_verify()
    qtbot.waitUntil(window.hints.isVisible, timeout=10000)
    assert window.hints.hint.id == hint


def test_switching_back_to_a_good_pacs(qtbot, window):
    use_fault(qtbot, window, "unknown-destination")
    use_fault(qtbot, window, None)
    row = _retrieve_first_study(qtbot, window, "move")
    assert row.state.value == "success", row.why


def test_wrong_called_ae_title_on_a_strict_pacs(qtbot, window):
    use_fault(qtbot, window, "reject-called-aet")
    editor = window.editor
    editor.f_aet.widget.setText("TYPO")
    editor._node_edited()
    editor.request_verify()
    qtbot.waitUntil(window.hints.isVisible, timeout=10000)
    assert window.hints.hint.id == "association-rejected-called-aet"


def test_slow_pacs_beyond_the_idle_limit_is_stopped_and_explained(qtbot, window):
    use_fault(qtbot, window, "slow-responses")
    idle = window.editor.f_timeouts.widget.spins["retrieve_idle"]
    idle.setValue(0.5)  # the slow PACS pauses 1 s before each image
    assert window.editor.current_node().timeouts.retrieve_idle == 0.5
    row = _retrieve_first_study(qtbot, window, "get")
    assert row.outcome.timed_out == "idle"
    qtbot.waitUntil(window.hints.isVisible, timeout=5000)
    assert window.hints.hint.id == "dimse-timeout"


@pytest.mark.parametrize(("fault", "method", "button", "then"), [
    ("no-cget", "get", "Retrieve with C-MOVE instead", "C-MOVE"),
    ("unknown-destination", "move", "Retrieve with C-GET instead", "C-GET"),
])
def test_the_hint_switches_the_method_and_it_works(qtbot, window, fault, method, button, then):
    from PySide6.QtWidgets import QPushButton

    use_fault(qtbot, window, fault)
    _retrieve_first_study(qtbot, window, method)
    qtbot.waitUntil(window.hints.isVisible, timeout=5000)
    switch = next(b for b in window.hints.findChildren(QPushButton) if b.text() == button)
    qtbot.mouseClick(switch, Qt.MouseButton.LeftButton)
    rows = window.jobs.model.rows
    qtbot.waitUntil(lambda: len(rows) == 2 and rows[-1].outcome is not None, timeout=30000)
    assert rows[-1].method == then and rows[-1].state.value == "success", rows[-1].why


def test_retry_asks_for_exactly_the_missing_instances(qtbot, window):
    # The PACS reports every image sent but delivers every other one.
    use_fault(qtbot, window, "fewer-images")
    row = _retrieve_first_study(qtbot, window, "move")
    assert row.state.value == "partial", row.why
    missing = {m.sop_instance_uid for m in row.outcome.missing}
    arrived = {r.sop_instance_uid for r in row.outcome.stored}
    assert missing and not missing & arrived
    before = len(window.jobs.model.rows)
    window.retry_job(row.job_id)
    retries = window.jobs.model.rows[before:]
    assert retries and all("missing instance" in r.what for r in retries)
    asked = {uid for r in retries for uid in r.scope.instance_uids}
    assert asked == missing
    qtbot.waitUntil(lambda: all(r.outcome is not None for r in retries), timeout=30000)


@pytest.mark.parametrize(("fault", "words", "behaviour"), [
    ("busy:1", "when more than 1 retrieve runs at once", ("busy_above", 1)),
    ("busy-at-random:0.5", "a share of 0.5 of C-MOVEs", ("busy_probability", 0.5)),
])
def test_a_fault_with_a_parameter_is_in_force_and_named_in_the_status_bar(
        qtbot, window, fault, words, behaviour):
    # As `qrscope demo-pacs --fault busy:N` takes them: the words say the N the PACS uses.
    with qtbot.waitSignal(window.demo.restarted, timeout=10000):
        window.demo.use_fault(fault)
    qtbot.waitUntil(lambda: window.statusBar().currentMessage().startswith("Demo PACS:"),
                    timeout=5000)
    assert words in window.statusBar().currentMessage()
    field, value = behaviour
    assert getattr(window.session.demo_pacs.behaviour, field) == value
