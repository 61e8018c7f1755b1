"""pynetdicom's reactors as qrscope runs them (core/engine/reactors.py): no response of a
request is ever taken by the association's reactor thread, a queued PDU wakes
the DUL at once, and every association uses them."""

from __future__ import annotations

import inspect
import threading

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, association, dul, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as STUDY_FIND

from qrscope.core.engine import reactors
from qrscope.core.net import tcp
from qrscope.core.net.connection import make_ae
from qrscope.core.profiles import LocalAE

# What this file tests is a piece of the tuned engine: on stock pynetdicom it is not there.
pytestmark = pytest.mark.tuned_engine

MATCHES = 3


def _no_nagle(event) -> None:
    tcp.tune(event.assoc.dul.socket.socket)  # messages leave at once, as DCMTK's do


@pytest.fixture
def quick_find_scp():
    """A C-FIND SCP that answers at once with MATCHES pending responses."""
    def on_find(event):
        for number in range(MATCHES):
            ds = Dataset()
            ds.QueryRetrieveLevel = "STUDY"
            ds.StudyInstanceUID = f"1.2.3.{number}"
            yield 0xFF00, ds

    ae = AE("QUICKFIND")
    ae.add_supported_context(STUDY_FIND)
    server = ae.start_server(("127.0.0.1", 0), block=False,
                             evt_handlers=[(evt.EVT_C_FIND, on_find),
                                           (evt.EVT_CONN_OPEN, _no_nagle)])
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def test_every_pending_response_reaches_the_search_however_fast_the_peer(quick_find_scp):
    # pynetdicom's reactor could take the first response of a request as it
    # paused; dcmqrscp on loopback lost one study in about ten searches.
    ae = make_ae(LocalAE(ae_title="QRSCOPE"))
    ae.add_requested_context(STUDY_FIND)
    assoc = ae.associate("127.0.0.1", quick_find_scp, ae_title="QUICKFIND",
                         evt_handlers=[(evt.EVT_CONN_OPEN, _no_nagle)])
    assert assoc.is_established
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ""
    short = []
    try:
        for request in range(300):
            pending = [ds for status, ds in assoc.send_c_find(query, STUDY_FIND)
                       if status.get("Status") == 0xFF00]
            if len(pending) != MATCHES:
                short.append((request, len(pending)))
    finally:
        assoc.release()
    assert short == []


def test_the_reactor_takes_no_message_while_a_request_waits_for_its_responses():
    reactors.install()
    assoc = Association(AE("QRSCOPE"), "requestor")
    response = (1, object())
    assoc.dimse.msg_queue.put(response)
    assoc._reactor_checkpoint.clear()  # what send_c_find does before it sends
    taken = []
    assoc.run = lambda: taken.append(assoc.dimse.get_msg(block=False))  # in its own thread
    assoc.start()
    assoc.join(30)
    assert taken == [(None, None)]
    assert assoc.dimse.get_msg(block=False) == response  # still there for the sender


def test_associations_use_the_prompt_reactors_once_installed():
    reactors.install()
    ae = AE("QRSCOPE")
    assoc = Association(ae, "requestor")
    assert isinstance(assoc.dul, reactors.PromptDUL)
    assert isinstance(assoc.dimse, reactors.PromptDIMSE)
    assert assoc.dul.to_provider_queue.empty() and assoc.dimse.msg_queue.empty()


def test_a_queued_primitive_ends_the_dul_wait_at_once():
    reactors.install()
    provider = Association(AE("QRSCOPE"), "requestor").dul
    woken = threading.Event()

    def wait() -> None:
        provider.wait_for_work(60)  # no socket yet: only a wake-up ends it early
        woken.set()

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    provider.to_provider_queue.put("primitive")
    assert woken.wait(30), "the DUL slept through a queued primitive"


def test_the_reactor_loops_still_sleep_where_the_prompt_waits_replace_them():
    # If pynetdicom changes these, the waits in core/engine/reactors.py no longer apply.
    assert "time.sleep(self._run_loop_delay)" in inspect.getsource(
        dul.DULServiceProvider.run_reactor)
    reactor = inspect.getsource(Association._run_reactor)
    assert "time.sleep(0.001)" in reactor
    assert "self.dimse.get_msg(block=False)" in reactor
    assert "self._reactor_checkpoint.clear()" in inspect.getsource(Association.send_c_find)
    assert "DULServiceProvider(self)" in inspect.getsource(Association.__init__)
    assert "DIMSEServiceProvider(self)" in inspect.getsource(Association.__init__)
    assert association.time is not None and dul.time is not None


def test_idle_reactors_wait_long_and_are_woken_for_everything_they_serve(monkeypatch):
    """With waits far longer than the test, an association still echoes, releases
    and closes: a request waiting for the reactor to pause, a queued PDU and a
    stopping DUL each wake the thread that serves them."""
    from pynetdicom.sop_class import Verification

    reactors.install()
    monkeypatch.setattr(reactors, "IDLE_WAIT", 3600.0)
    scp = AE("IDLE")
    scp.add_supported_context(Verification)
    server = scp.start_server(("127.0.0.1", 0), block=False)
    outcome: dict[str, object] = {}

    def exchange() -> None:
        scu = AE("QRSCOPE")
        scu.add_requested_context(Verification)
        assoc = scu.associate("127.0.0.1", server.server_address[1])
        outcome["established"] = assoc.is_established
        outcome["status"] = int(assoc.send_c_echo().Status)
        assoc.release()
        outcome["released"] = assoc.is_released
        assoc.dul.join(30)
        outcome["dul stopped"] = not assoc.dul.is_alive()

    try:
        worker = threading.Thread(target=exchange, daemon=True)
        worker.start()
        worker.join(60)
        assert not worker.is_alive(), f"a reactor slept through its work: {outcome}"
        assert outcome == {"established": True, "status": 0, "released": True,
                           "dul stopped": True}
    finally:
        server.shutdown()


def test_an_idle_association_thread_waits_for_work_not_for_a_millisecond(monkeypatch):
    reactors.install()
    assoc = Association(AE("QRSCOPE"), "requestor")
    timeouts: list[float | None] = []
    monkeypatch.setattr(assoc.dul.association_activity, "wait",
                        lambda timeout=None: timeouts.append(timeout) or False)
    monkeypatch.setattr(threading, "current_thread", lambda: assoc)
    association.time.sleep(0.001)  # what Association._run_reactor sleeps
    assert timeouts == [reactors.IDLE_WAIT] and reactors.IDLE_WAIT >= 0.05


def test_an_answer_of_ours_that_meets_a_closing_connection_is_dropped_not_raised():
    # The guard aborted the peer before our A-ASSOCIATE-AC was out: the DUL is in
    # Sta13 when the association thread answers (Evt7). pynetdicom raised
    # InvalidEventError there, killing the DUL thread with a traceback.
    from unittest import mock

    from pynetdicom.fsm import InvalidEventError

    from qrscope.core.engine.reactors import _ClosingStateMachine

    for event in ("Evt7", "Evt8", "Evt9", "Evt11", "Evt14", "Evt15"):
        dul = mock.MagicMock()
        machine = _ClosingStateMachine(dul)
        machine.current_state = "Sta13"
        machine.do_action(event)
        # Closed at once, as at the ARTIM timer's expiry (AA-2): the DUL may end.
        assert machine.current_state == "Sta1"
        dul.socket.close.assert_called_once()
        machine.do_action(event)  # and once idle, nothing more happens
        assert machine.current_state == "Sta1"
    machine = _ClosingStateMachine(mock.MagicMock())
    machine.current_state = "Sta13"
    with pytest.raises(InvalidEventError):
        machine.do_action("Evt2")  # a peer's event out of place is still an error
