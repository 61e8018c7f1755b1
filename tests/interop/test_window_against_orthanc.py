"""The window against a real Orthanc: add the node, verify, search, retrieve both ways."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from qrscope.core.dicom.records import QueryLevel
from tests.window_site import make_window


def test_window_finds_and_retrieves_from_orthanc(qtbot, qt_loop, tmp_path, orthanc):
    window = make_window(qtbot, tmp_path, listener_port=orthanc.peer_listener_port)
    try:
        editor = window.editor
        editor.add_node()
        for field, text in ((editor.f_name, "Orthanc"), (editor.f_aet, orthanc.ae_title),
                            (editor.f_host, orthanc.host)):
            field.widget.selectAll()
            qtbot.keyClicks(field.widget, text)
        editor.f_port.widget.setValue(orthanc.port)
        verify = next(b for b in window.findChildren(QPushButton)
                      if b.text() == "Verify (C-ECHO)")
        qtbot.mouseClick(verify, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "OK" in editor.verify_result.text(), timeout=10000)

        qtbot.mouseClick(window.search.form.search, Qt.MouseButton.LeftButton)
        studies = window.search.models[QueryLevel.STUDY]
        qtbot.waitUntil(lambda: studies.rowCount() == len(orthanc.study_uids)
                        and window.search.form.search.isEnabled(), timeout=15000)
        jobs = window.jobs.model.rows
        for row, method in ((0, "move"), (1, "get")):
            window.search.views[QueryLevel.STUDY].selectRow(row)
            window.search.retrieve_selection(method)
            qtbot.waitUntil(lambda n=row: len(jobs) == n + 1 and jobs[-1].state.is_final,
                            timeout=30000)
            assert jobs[-1].state.value == "success", jobs[-1].why
            uid = jobs[-1].outcome.received[0].study_uid
            assert {r.sop_instance_uid for r in jobs[-1].outcome.stored} == {
                i.sop_instance_uid for i in orthanc.study(uid)}
        qtbot.waitUntil(lambda: any(e.direction.value == "incoming" and e.peer_ae == "ORTHANC"
                                    for e in window.log_panel.model.events), timeout=5000)
    finally:
        window.close()
