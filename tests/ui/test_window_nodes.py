"""The profile editor, Verify, hints for unreachable nodes, and cancelling a slow retrieve."""

from __future__ import annotations

import json
from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from tests.demo_site import free_port, start_demo_site

from qrscope.core.dicom.records import QueryLevel
from qrscope.demo_pacs import DemoPacsBehaviour


def _fill_node(qtbot, editor, name: str, aet: str, port: int) -> None:
    editor.add_node()
    for field, text in ((editor.f_name, name), (editor.f_aet, aet), (editor.f_host, "127.0.0.1")):
        field.widget.selectAll()
        qtbot.keyClicks(field.widget, text)
    editor.f_port.widget.setValue(port)


def _verify_button(window) -> QPushButton:
    return next(b for b in window.findChildren(QPushButton) if b.text() == "Verify (C-ECHO)")


def test_adding_a_node_validates_inline_and_is_saved(qtbot, window, tmp_path):
    editor = window.editor
    editor.add_node()
    editor.f_aet.widget.selectAll()
    qtbot.keyClicks(editor.f_aet.widget, "WAY_TOO_LONG_AE_TITLE")
    assert "at most 16" in editor.f_aet.message.text() and editor.f_aet.message.isVisible()
    editor.f_aet.widget.selectAll()
    qtbot.keyClicks(editor.f_aet.widget, "ORTHANC")
    assert not editor.f_aet.message.isVisible()
    qtbot.waitUntil(lambda: '"ORTHANC"' in window.session.store.path.read_text(), timeout=3000)
    saved = json.loads(window.session.store.path.read_text())
    assert any(n["ae_title"] == "ORTHANC" for n in saved["nodes"])
    assert all(n["name"] != "Demo PACS (built in)" for n in saved["nodes"])


def test_verify_shows_the_round_trip_time(qtbot, window):
    qtbot.mouseClick(_verify_button(window), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "OK" in window.editor.verify_result.text(), timeout=10000)
    assert " ms" in window.editor.verify_result.text()


def test_unreachable_node_gets_a_hint_with_its_port_and_a_fix(qtbot, window):
    port = free_port()
    _fill_node(qtbot, window.editor, "Nowhere", "PACS", port)
    qtbot.mouseClick(_verify_button(window), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.hints.isVisible(), timeout=10000)
    assert window.hints.hint.id == "connection-refused"
    assert str(port) in window.hints.summary.text()
    fix = next(b for b in window.hints.findChildren(QPushButton)
               if b.text() == "Edit the node's port")
    qtbot.mouseClick(fix, Qt.MouseButton.LeftButton)
    assert window.editor.f_port.widget.hasFocus() or window.focusWidget() is not None


def test_wrong_called_ae_title_hint_names_it(qtbot, window, sample_folder, tmp_path):
    strict = start_demo_site(sample_folder, tmp_path / "strict",
                             DemoPacsBehaviour(require_called_ae_title=True))
    try:
        _fill_node(qtbot, window.editor, "Typo", "NOTDEMO", strict.pacs.port)
        qtbot.mouseClick(_verify_button(window), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.hints.isVisible(), timeout=10000)
    finally:
        strict.pacs.stop()
    assert window.hints.hint.id == "association-rejected-called-aet"
    assert "NOTDEMO" in window.hints.title.text()


def test_cancel_a_running_retrieve(qtbot, window, sample_folder, tmp_path):
    slow = start_demo_site(sample_folder, tmp_path / "slow",
                           DemoPacsBehaviour(sub_operation_delay=0.4))
    slow.pacs.add_destination("QRSCOPE", "127.0.0.1", window.session.listener.port)
    try:
        _fill_node(qtbot, window.editor, "Slow PACS", slow.pacs.ae_title, slow.pacs.port)
        window.search.form.modalities.setText("CT")
        qtbot.mouseClick(window.search.form.search, Qt.MouseButton.LeftButton)
        studies = window.search.models[QueryLevel.STUDY]
        qtbot.waitUntil(lambda: studies.rowCount() > 0 and window.search.form.search.isEnabled(),
                        timeout=10000)
        window.search.views[QueryLevel.STUDY].selectRow(0)
        window.search.retrieve_selection("move")
        rows = window.jobs.model.rows
        qtbot.waitUntil(lambda: rows and rows[-1].progress and rows[-1].progress.received >= 1,
                        timeout=15000)
        window.jobs.view.selectRow(len(rows) - 1)
        assert window.jobs.cancel.isEnabled()
        qtbot.mouseClick(window.jobs.cancel, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: rows[-1].outcome is not None, timeout=15000)
        assert rows[-1].state.value == "cancelled"
        assert "cancelled" in rows[-1].why
        assert not window.jobs.cancel.isEnabled()
    finally:
        slow.pacs.stop()


def test_busy_listener_port_hint_restarts_the_listener_elsewhere(qtbot, qt_loop, tmp_path):
    import socket

    from tests.window_site import close_window, make_window

    from qrscope.core.profiles import RemoteNode

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        node = RemoteNode(name="Some PACS", ae_title="PACS", host="127.0.0.1", port=104)
        window = make_window(qtbot, tmp_path, nodes=[node], listener_port=port)
        try:
            assert window.hints.isVisible() and window.hints.hint.id == "listener-port-in-use"
            assert "error" in window.jobs.listener_label.text()
            fix = next(b for b in window.hints.findChildren(QPushButton)
                       if b.text() == "Restart the listener on a free port")
            qtbot.mouseClick(fix, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda: "running" in window.jobs.listener_label.text(),
                            timeout=10000)
            assert window.session.listener.is_running
            assert window.session.listener.port != port
            assert "running" in window.jobs.listener_label.text()
            assert window.editor.l_port.widget.value() == window.session.listener.port
        finally:
            close_window(qtbot, window)


def test_images_from_an_unknown_sender_are_kept_and_explained(qtbot, window):
    """With the listener storing from any caller, a stranger's images are kept and named."""
    import pydicom
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage

    from qrscope.core.security import AcceptPolicy

    applied = window.apply_local(replace(window.session.local, accept=AcceptPolicy.ANY))
    qtbot.waitUntil(applied.done, timeout=10000)
    assert applied.result()
    ct = next(i for i in window.session.demo_pacs.instances
              if i.sop_class_uid == CTImageStorage and not i.transfer_syntax.is_compressed)
    sender = AE(ae_title="STRANGER")
    sender.add_requested_context(CTImageStorage, ct.transfer_syntax)
    assoc = sender.associate("127.0.0.1", window.session.listener.port, ae_title="QRSCOPE")
    assert assoc.is_established
    assert assoc.send_c_store(pydicom.dcmread(ct.path)).Status == 0
    assoc.release()
    qtbot.waitUntil(window.hints.isVisible, timeout=5000)
    assert window.hints.hint.id == "unexpected-sender"
    assert "STRANGER" in window.hints.title.text()
    assert window.session.listener.unexpected[0].ok


def test_a_damaged_profiles_file_is_named_in_the_window(qtbot, qt_loop, tmp_path):
    import json

    from PySide6.QtCore import QSettings
    from tests.demo_site import free_port
    from tests.window_site import close_window

    from qrscope.core.profile_store import ProfileStore
    from qrscope.ui.app import build_window

    path = tmp_path / "profiles.json"
    path.write_text(json.dumps({"format": 1, "local": {
        "ae_title": "MYWS", "listener_port": free_port(), "bind_address": "127.0.0.1",
        "storage_folder": str(tmp_path / "in"), "mask_patient_identifiers": "false"},
        "nodes": []}))
    window = build_window(ProfileStore(path),
                          QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    try:
        assert window.hints.hint is not None
        assert window.hints.hint.id == "profiles-file-damaged"
        assert "mask_patient_identifiers" in window.hints.hint.summary
        assert window.session.local.ae_title == "MYWS"
    finally:
        close_window(qtbot, window)


def test_the_node_the_user_picks_stays_picked_while_the_demo_pacs_is_listed(qtbot, window):
    """The demo PACS joins the profiles from a worker, a moment before the node list is
    redrawn; a node picked in that moment is the one selected, not the row its index
    in the profiles would point at."""
    from qrscope.core.profiles import RemoteNode

    editor = window.editor
    editor.profiles.nodes.append(RemoteNode(name="Orthanc", ae_title="ORTHANC",
                                            host="127.0.0.1", port=4242))
    editor.refresh(select="Orthanc")
    # As the worker does: in the profiles first, the list redrawn later.
    editor.profiles.nodes.insert(0, RemoteNode(name="Arriving", ae_title="LATE",
                                               host="127.0.0.1", port=104))
    editor.select_node("Orthanc")
    assert editor.current_node() is not None and editor.current_node().name == "Orthanc"
    editor.refresh()
    assert editor.current_node().name == "Orthanc"
