"""The browser's drill-down sends conformant identifiers (PS3.4 C.4.1.2.2).

The built-in demo PACS refuses any other with 0xA900, as dcmqrscp
--check-find does; the window must show the series and instances, and its
requests below STUDY level must name the study by its UID alone.
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from qrscope.core.dicom.records import QueryLevel


def test_drill_down_names_the_study_by_its_uid_alone(qtbot, window):
    refused = []
    window.search.find_failed.connect(lambda status, _node: refused.append(status))
    form = window.search.form
    qtbot.mouseClick(form.search, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: form.search.isEnabled() and "studies on" in window.search.count.text(),
                    timeout=15000)
    window.search.views[QueryLevel.STUDY].selectRow(0)
    series = window.search.models[QueryLevel.SERIES]
    qtbot.waitUntil(lambda: series.rowCount() > 0, timeout=10000)
    window.search.views[QueryLevel.SERIES].selectRow(0)
    images = window.search.models[QueryLevel.IMAGE]
    qtbot.waitUntil(lambda: images.rowCount() > 0, timeout=10000)
    instance = window.search.models[QueryLevel.IMAGE].records[0]
    assert instance.sop_class_uid and instance.series_uid
    assert not refused
    def deeper_requests() -> list[dict]:
        return [e.detail["identifier"] for e in window.log_panel.model.events
                if e.detail.get("message") == "C-FIND-RQ"
                and e.detail["identifier"]["QueryRetrieveLevel"] in ("SERIES", "IMAGE")]

    # The log arrives in batches: wait for both requests, not just the rows.
    qtbot.waitUntil(lambda: len(deeper_requests()) >= 2, timeout=5000)
    deeper = deeper_requests()
    assert deeper and all("PatientID" not in r and "PatientName" not in r for r in deeper)
    assert all(isinstance(r["StudyInstanceUID"], str) and r["StudyInstanceUID"]
               for r in deeper)
