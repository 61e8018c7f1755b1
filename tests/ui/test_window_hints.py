"""The hint bar: only actions that do something, in words a user understands."""

from __future__ import annotations

import ast
import json
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMenu, QPushButton
from tests.window_site import close_window, make_window, retrieve_first_study, use_fault

import qrscope.diagnosis
from qrscope.core.dicom.records import QueryLevel
from qrscope.core.dicom.status import Service, decode_status
from qrscope.core.net.connection import AssociationFailure, FailureReason
from qrscope.core.profiles import LocalAE, QueryModel, RemoteNode, RetrieveMethod
from qrscope.core.receive.listener import ListenerError
from qrscope.core.retrieve.types import RetrieveOutcome
from qrscope.core.security import TlsSettings
from qrscope.diagnosis.hints import Hint, hint_for_failure, hint_for_listener_error
from qrscope.diagnosis.retrieve_hints import hints_for_retrieve


def _search_and_retrieve(qtbot, window, method: str) -> None:
    form = window.search.form
    qtbot.mouseClick(form.search, Qt.MouseButton.LeftButton)
    studies = window.search.models[QueryLevel.STUDY]
    qtbot.waitUntil(lambda: studies.rowCount() > 0 and form.search.isEnabled(), timeout=15000)
    retrieve_first_study(qtbot, window, method)
    qtbot.waitUntil(window.hints.isVisible, timeout=5000)


def _labels(window) -> list[str]:
    return [a.label for a in window.hints.hint.actions]


def test_no_cget_hint_speaks_of_the_service_and_offers_only_what_changes_something(
        qtbot, window):
    use_fault(qtbot, window, "no-cget")
    assert window.editor.current_node().retrieve_method is RetrieveMethod.MOVE
    _search_and_retrieve(qtbot, window, "get")
    summary = window.hints.summary.text()
    assert "Storage" not in summary and "refused C-GET" in summary
    assert "Make C-MOVE the node's method" not in _labels(window)


def test_make_c_move_the_method_changes_the_node(qtbot, window):
    use_fault(qtbot, window, "no-cget")
    window.editor.set_retrieve_method(RetrieveMethod.GET)
    assert window.editor.current_node().retrieve_method is RetrieveMethod.GET
    _search_and_retrieve(qtbot, window, "")
    button = next(b for b in window.hints.findChildren(QPushButton)
                  if b.text() == "Make C-MOVE the node's method")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert window.editor.current_node().retrieve_method is RetrieveMethod.MOVE
    assert window.editor.f_method.widget.currentText() == "C-MOVE"


def test_copying_the_request_is_confirmed_and_buttons_show_their_whole_text(qtbot, window):
    use_fault(qtbot, window, "unknown-destination")
    _search_and_retrieve(qtbot, window, "move")
    buttons = [b for b in window.hints.findChildren(QPushButton) if b.isVisible()]
    assert buttons
    for button in buttons:
        assert button.width() >= button.sizeHint().width()
    copy = next(b for b in buttons if b.text().startswith("Copy the request"))
    qtbot.mouseClick(copy, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text()
    assert "Copied" in window.hints.confirmation.text()
    assert window.hints.confirmation.isVisible()


# -- every hint button does what its label says -----------------------------------

_DIAGNOSIS = Path(qrscope.diagnosis.__file__).parent
_DOES_IT = {"set-node", "set-local", "retry", "retry-job", "switch-to-get", "switch-to-move",
            "set-method", "listener-free-port", "add-sender", "allow-sender"}
_TAKES_THERE = {"edit-node", "edit-local"}


def _literal(node: ast.expr | None) -> str:
    """The text of a str or f-string argument (f-string holes as '{}')."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_literal(v) if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return ""


def _catalogue_actions() -> list[tuple[str, str, str]]:
    """(module, label, kind) of every Action the diagnosis modules can give."""
    found = []
    for path in sorted(_DIAGNOSIS.glob("*.py")):
        for call in ast.walk(ast.parse(path.read_text())):
            if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "Action":
                args = [*call.args, *[k.value for k in call.keywords]]
                label = _literal(args[0])
                kind = _literal(call.args[1]) if len(call.args) > 1 else "advice"
                found.append((path.name, label, kind))
    return found


def test_every_hint_action_either_does_it_or_says_edit(orthanc_window):
    actions = _catalogue_actions()
    assert len(actions) > 30
    handled = set(orthanc_window.hint_actions.handlers) | {"copy", "advice"}
    for module, label, kind in actions:
        assert kind in _DOES_IT | _TAKES_THERE | {"copy", "advice"}, (module, label, kind)
        assert kind in handled, (module, label, kind)
        if kind in _TAKES_THERE:
            assert label.startswith("Edit "), f"{module}: '{label}' only moves the cursor"


ORTHANC = RemoteNode(name="Orthanc", ae_title="ORTHANC", host="192.0.2.10", port=4242,
                     tls=TlsSettings(enabled=True), query_model=QueryModel.PATIENT_ROOT,
                     move_destination="ELSEWHERE")


@pytest.fixture
def orthanc_window(qtbot, qt_loop, tmp_path):
    window = make_window(qtbot, tmp_path, nodes=[ORTHANC])
    window.editor.select_node("Orthanc")
    yield window
    close_window(qtbot, window)


def _saved(window) -> dict:
    return json.loads(window.session.store.path.read_text())


def _saved_node(window) -> dict:
    return next(n for n in _saved(window)["nodes"] if n["name"] == "Orthanc")


def _click(qtbot, window, label: str) -> None:
    """Press the hint's button, or pick it in the bar's More… menu, as a user does."""
    bar = window.hints
    button = next((b for b in bar.findChildren(QPushButton) if b.text() == label), None)
    if button is not None:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        return
    item = next(a for m in bar.findChildren(QMenu) for a in m.actions() if a.text() == label)
    item.trigger()


def _failure(reason: FailureReason) -> Hint:
    return hint_for_failure(AssociationFailure(reason, "it failed"), ORTHANC, LocalAE())


def _move_outcome(**values) -> RetrieveOutcome:
    return RetrieveOutcome(job_id="j1", method=RetrieveMethod.MOVE, status="failed",
                           final_status=decode_status(Service.MOVE, 0xA801), **values)


def _hint(hints: list[Hint], hint_id: str) -> Hint:
    return next(h for h in hints if h.id == hint_id)


NODE_CASES = {
    "Switch TLS off for this node": (
        lambda: _failure(FailureReason.TLS_NOT_OFFERED),
        lambda n: n["tls"]["enabled"] is False, "TLS switched off for Orthanc; search again"),
    "Switch TLS on for this node": (
        lambda: hint_for_failure(AssociationFailure(FailureReason.TLS_REQUIRED, "closed"),
                                 replace(ORTHANC, tls=TlsSettings()), LocalAE()),
        lambda n: n["tls"]["enabled"] is True, "TLS switched on for Orthanc"),
    "Use the Study Root model for this node": (
        lambda: hint_for_failure(AssociationFailure(
            FailureReason.NO_ACCEPTED_CONTEXT, "refused",
            wanted="Patient Root FIND", accepted="Study Root FIND"), ORTHANC, LocalAE()),
        lambda n: n["query_model"] == "study-root", "Orthanc now uses the Study Root model"),
    "Clear the node's move destination": (
        lambda: _hint(hints_for_retrieve(_move_outcome(move_destination="ELSEWHERE"), ORTHANC,
                                         LocalAE()), "move-destination-mismatch"),
        lambda n: n["move_destination"] == "", "move destination cleared"),
}


@pytest.mark.parametrize("label", NODE_CASES)
def test_a_node_hint_button_changes_and_saves_the_node_and_says_so(qtbot, orthanc_window,
                                                                   label):
    make, saved_as_said, words = NODE_CASES[label]
    window = orthanc_window
    if label == "Switch TLS on for this node":
        window.editor.replace_node("Orthanc", replace(ORTHANC, tls=TlsSettings()))
        window.save_profiles()
    window.hints.show_hint(make())
    _click(qtbot, window, label)
    assert saved_as_said(_saved_node(window))
    assert words in window.hints.confirmation.text()
    assert window.hints.confirmation.isVisible()
    node = window.editor.current_node()
    assert window.editor.f_tls.widget.enabled.isChecked() is node.tls.enabled


def test_the_study_root_button_of_an_empty_success_switches_the_model(qtbot, orthanc_window):
    outcome = RetrieveOutcome(job_id="j1", method=RetrieveMethod.GET, status="completed",
                              final_status=decode_status(Service.GET, 0x0000))
    hint = _hint(hints_for_retrieve(outcome, ORTHANC, LocalAE()), "success-with-nothing-sent")
    orthanc_window.hints.show_hint(hint)
    _click(qtbot, orthanc_window, "Use the Study Root model for this node")
    assert _saved_node(orthanc_window)["query_model"] == "study-root"
    assert orthanc_window.editor.f_model.widget.currentText() == "Study Root"


def test_listen_on_all_interfaces_restarts_the_listener_there_and_saves_it(qtbot,
                                                                          orthanc_window):
    window = orthanc_window
    local = window.session.local
    outcome = _move_outcome(move_destination=local.ae_title)
    hint = _hint(hints_for_retrieve(outcome, replace(ORTHANC, move_destination=""), local),
                 "listener-loopback-only")
    window.hints.show_hint(hint)
    _click(qtbot, window, "Listen on all interfaces (0.0.0.0)")
    qtbot.waitUntil(lambda: "Listening on all interfaces" in window.hints.confirmation.text(),
                    timeout=10000)
    assert _saved(window)["local"]["bind_address"] == "0.0.0.0"
    assert window.session.listener.is_running
    assert window.editor.l_bind.widget.text() == "0.0.0.0"


def test_use_a_port_above_1024_moves_the_listener_and_saves_it(qtbot, orthanc_window):
    window = orthanc_window
    local = replace(window.session.local, listener_port=104)
    hint = hint_for_listener_error(
        ListenerError("listener-port-privileged", "port 104 needs rights", port=104), local)
    window.hints.show_hint(hint)
    _click(qtbot, window, "Use port 11112 (or another free one above 1024)")
    qtbot.waitUntil(lambda: "Listener moved to port" in window.hints.confirmation.text(),
                    timeout=10000)
    port = _saved(window)["local"]["listener_port"]
    assert port > 1024 and f"port {port}" in window.hints.confirmation.text()
    assert window.session.listener.port == port


def test_an_edit_button_takes_the_user_to_the_field_and_changes_nothing(qtbot,
                                                                       orthanc_window):
    window = orthanc_window
    window.save_profiles()
    before = _saved_node(window)
    window.hints.show_hint(_failure(FailureReason.TLS_NOT_OFFERED))
    _click(qtbot, window, "Edit the node's port (its TLS port, often 2762)")
    assert window.editor.f_port.widget.hasFocus()
    assert _saved_node(window) == before


def test_a_job_whose_listener_could_not_start_points_where_the_explanation_is(
        qtbot, orthanc_window, monkeypatch):
    window = orthanc_window
    control = window.listener

    def cannot_bind() -> None:
        raise ListenerError("listener-port-in-use", "port taken", port=1)

    monkeypatch.setattr(type(control), "running", property(lambda _self: None))
    monkeypatch.setattr(control.bridge, "start_listener_here", cannot_bind)
    why = control.ready_for_move()
    bar, results = window.hints, window.search
    bar.show_hint(_failure(FailureReason.TLS_NOT_OFFERED))
    qtbot.waitUntil(lambda: bar.isVisible() and bar.y() > 0, timeout=3000)
    below = bar.mapTo(window, bar.rect().topLeft()).y() >= \
        results.mapTo(window, results.rect().bottomLeft()).y()
    assert below and "under the results" in why and "above" not in why


def test_a_hint_shown_alone_never_sends_the_reader_to_another_hint():
    local = LocalAE()
    outcome = _move_outcome(move_destination=local.ae_title)
    for hint in hints_for_retrieve(outcome, replace(ORTHANC, move_destination=""), local):
        assert "next hint" not in hint.as_text(), hint.id
