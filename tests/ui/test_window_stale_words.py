"""Words on the screen are true now: what an earlier search or start said leaves
when something new has happened."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind
from PySide6.QtCore import Qt
from tests.window_site import close_window, make_window, search_studies

from qrscope.core.dicom.records import QueryLevel
from qrscope.core.profiles import RemoteNode


class MoodyPacs:
    """A PACS that aborts the C-FIND of the first search (as Orthanc does to a
    caller it does not know) and answers the next one with a study."""

    def __init__(self) -> None:
        self.abort_next = True
        self.ae = AE(ae_title="MOODY")
        self.ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        self.server = self.ae.start_server(("127.0.0.1", 0), block=False,
                                           evt_handlers=[(evt.EVT_C_FIND, self._find)])
        self.port = self.server.server_address[1]

    def _find(self, event: evt.Event) -> Iterator[tuple[int, Dataset | None]]:
        if self.abort_next:
            self.abort_next = False
            event.assoc.abort()
            return
        study = Dataset()
        study.QueryRetrieveLevel = "STUDY"
        study.StudyInstanceUID = "1.2.826.0.1.3680043.10.1"
        study.PatientName = "Moody^Mary"
        study.PatientID = "M1"
        study.StudyDate = "20240101"
        yield 0xFF00, study
        yield 0x0000, None

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def moody() -> Iterator[MoodyPacs]:
    pacs = MoodyPacs()
    yield pacs
    pacs.stop()


def _search(qtbot, window) -> None:
    form = window.search.form
    qtbot.mouseClick(form.search, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: form.search.isEnabled() and "…" not in window.search.count.text(),
                    timeout=20000)


def test_a_new_search_forgets_what_retrieve_would_have_fetched(qtbot, window):
    search_studies(qtbot, window)
    studies = window.search.views[QueryLevel.STUDY]
    rect = studies.visualRect(studies.model().index(0, 1))
    qtbot.mouseClick(studies.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.search.target.text().startswith("Retrieve: whole study")
    search_studies(qtbot, window)
    assert not studies.selectionModel().selectedRows()
    assert window.search.target.text() == ""


def test_a_search_without_an_answer_is_not_headed_as_an_empty_result(qtbot, qt_loop, tmp_path,
                                                                      moody):
    node = RemoteNode(name="Moody", ae_title="MOODY", host="127.0.0.1", port=moody.port)
    window = make_window(qtbot, tmp_path, nodes=[node])
    try:
        _search(qtbot, window)
        qtbot.waitUntil(lambda: window.hints.hint is not None, timeout=5000)
        assert "without an answer" in window.hints.hint.title
        headline = window.search.count.text()
        assert "0 studies" not in headline
        assert "Moody" in headline and "no answer" in headline
    finally:
        close_window(qtbot, window)


def test_a_search_that_finds_a_study_takes_the_last_searchs_hint_away(qtbot, qt_loop,
                                                                       tmp_path, moody):
    node = RemoteNode(name="Moody", ae_title="MOODY", host="127.0.0.1", port=moody.port)
    window = make_window(qtbot, tmp_path, nodes=[node])
    try:
        _search(qtbot, window)
        qtbot.waitUntil(lambda: window.hints.hint is not None, timeout=5000)
        _search(qtbot, window)
        assert window.search.count.text().startswith("1 study on Moody")
        assert window.hints.hint is None and not window.hints.isVisible()
    finally:
        close_window(qtbot, window)


def test_the_listener_running_again_takes_its_port_hint_away(qtbot, qt_loop, tmp_path):
    node = RemoteNode(name="Elsewhere", ae_title="ELSEWHERE", host="127.0.0.1", port=1)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        window = make_window(qtbot, tmp_path, nodes=[node], listener_port=port)
        try:
            qtbot.waitUntil(lambda: window.hints.hint is not None, timeout=5000)
            assert f"Port {port}" in window.hints.hint.title
        except BaseException:
            close_window(qtbot, window)
            raise
    try:  # the other program has quit; the user starts the listener again
        window.jobs.listener_toggle_requested.emit(True)
        qtbot.waitUntil(lambda: window.listener.state == "running", timeout=10000)
        assert window.hints.hint is None and not window.hints.isVisible()
    finally:
        close_window(qtbot, window)
