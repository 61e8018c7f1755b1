"""C-MOVE across a real network path: Orthanc on a second host, with and without a firewall.

The firewall drops the PACS's connection back to our listener, as a
workstation firewall or a network ACL does: Orthanc gives up after its
DicomScuTimeout (10 s) and answers 0xC000, and qrscope must say that the
reverse connection was blocked, not that the PACS does not know us.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

import pytest

from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profile_store import ProfileStore
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod, Timeouts
from qrscope.core.receive.listener import StorageListener
from qrscope.core.retrieve import RetrieveJob
from qrscope.core.retrieve.types import RetrieveScope
from qrscope.diagnosis.retrieve_hints import hints_for_retrieve
from qrscope.session import Session
from tests.demo_site import free_port

from . import netns, peers


@pytest.fixture(scope="module")
def remote_orthanc(
    tmp_path_factory, interop_files
) -> Iterator[tuple[peers.PeerServer, int, netns.TestHost]]:
    netns.require(needs="Orthanc")
    listener_port = free_port()
    with netns.test_host() as host:
        destinations = (peers.MoveDestination("QRSCOPE", host.workstation_address,
                                              listener_port),)
        folder = tmp_path_factory.mktemp("remote-orthanc")
        with peers.running_orthanc(folder, interop_files[:12], destinations,
                                   host=host.address, prefix=host.prefix) as server:
            yield server, listener_port, host


def _setup(remote_orthanc, tmp_path):
    server, listener_port, host = remote_orthanc
    node = RemoteNode(name="Remote Orthanc", ae_title=server.ae_title, host=server.host,
                      port=server.port)
    local = LocalAE(ae_title="QRSCOPE", listener_port=listener_port, bind_address="0.0.0.0",
                    storage_folder=tmp_path)
    return server, host, node, local


def test_move_across_the_link_reaches_our_listener(remote_orthanc, tmp_path):
    server, host, node, local = _setup(remote_orthanc, tmp_path)
    log = AssociationLog()
    with StorageListener(local, log) as listener:
        outcome = RetrieveJob(node, local, log, RetrieveScope.study(server.study_uids[0]),
                              listener=listener).run()
    assert outcome.status == "success", outcome.to_dict()
    assert outcome.local_address == host.workstation_address
    assert outcome.incoming_associations[0].address == host.address
    # The admin card's address: the interface towards the PACS, not loopback.
    session = Session(ProfileStore(tmp_path / "profiles.json"))
    assert session.address_towards(node) == host.workstation_address


def test_firewall_dropping_the_reverse_connection_is_named(remote_orthanc, tmp_path):
    server, host, node, local = _setup(remote_orthanc, tmp_path)
    log = AssociationLog()
    with host.dropping_connections_to(local.listener_port), \
            StorageListener(local, log) as listener:
        outcome = RetrieveJob(node, local, log, RetrieveScope.study(server.study_uids[0]),
                              listener=listener).run()
        got = RetrieveJob(node, local, log, RetrieveScope.study(server.study_uids[0]),
                          method=RetrieveMethod.GET).run()
    hints = hints_for_retrieve(outcome, node, local, listener_port=local.listener_port)
    assert outcome.status == "failed" and outcome.incoming_associations == []
    assert outcome.seconds >= 8, "Orthanc waits DicomScuTimeout before giving up"
    assert hints[0].id == "reverse-connection-failed"
    assert "firewall" in hints[0].causes[0]
    assert host.workstation_address in hints[0].evidence["our_listener"]
    # The entry for the PACS names the address it can reach us at, not loopback.
    card = next(a.value for a in hints[0].actions if a.kind == "copy")
    assert host.workstation_address in card
    assert got.status == "success"  # C-GET needs no reverse connection


def test_listener_on_loopback_cannot_be_reached_from_another_host(remote_orthanc, tmp_path):
    server, _host, node, local = _setup(remote_orthanc, tmp_path)
    local = replace(local, bind_address="127.0.0.1")  # the port the PACS has for us
    log = AssociationLog()
    with StorageListener(local, log) as listener:
        outcome = RetrieveJob(node, local, log, RetrieveScope.study(server.study_uids[0]),
                              listener=listener).run()
    hints = hints_for_retrieve(outcome, node, local, listener_port=listener.port)
    assert outcome.status == "failed"
    assert hints[0].id == "listener-loopback-only"


def test_no_route_to_the_pacs_is_a_connection_failure(tmp_path):
    import json
    import subprocess
    import sys

    netns.require()
    with netns.bare_namespace() as name:
        # 10.213.1.2: a test-host address, unreachable from a namespace with no route.
        result = subprocess.run(
            ["ip", "netns", "exec", name, sys.executable, "-m", "qrscope", "echo", "--host",
             "10.213.1.2", "--port", "104", "--called-aet", "PACS", "--json"],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path)})
    out = json.loads(result.stdout)
    assert result.returncode == 3 and out["hints"] == ["connection-failed"]
    assert "unreachable" in out["error"]["message"].lower()


def test_dcmqrscp_behind_a_firewall_never_answers_and_qrscope_ends_it(tmp_path_factory,
                                                                       interop_files, tmp_path):
    """dcmqrscp's connection to us hangs on the dropped SYN and it sends nothing at all;
    the idle limit ends the retrieve and the hint still names the blocked path."""
    netns.require()
    if not peers.find_dcmtk_tool("dcmqrscp"):
        pytest.skip("DCMTK not installed")
    listener_port = free_port()
    with netns.test_host(index=3) as host:
        destinations = (peers.MoveDestination("QRSCOPE", host.workstation_address,
                                              listener_port),)
        with peers.running_dcmqrscp(tmp_path_factory.mktemp("fw-dcmqrscp"), interop_files[:6],
                                    destinations, host=host.address,
                                    prefix=host.prefix) as server, \
                host.dropping_connections_to(listener_port):
            node = RemoteNode(name="dcmqrscp", ae_title=server.ae_title, host=server.host,
                              port=server.port, timeouts=Timeouts(retrieve_idle=4.0))
            local = LocalAE(ae_title="QRSCOPE", listener_port=listener_port,
                            bind_address="0.0.0.0", storage_folder=tmp_path)
            log = AssociationLog()
            with StorageListener(local, log) as listener:
                outcome = RetrieveJob(node, local, log,
                                      RetrieveScope.study(server.study_uids[0]),
                                      listener=listener).run()
    hints = hints_for_retrieve(outcome, node, local, listener_port=listener_port)
    assert outcome.timed_out == "idle" and outcome.responses == 0
    assert [h.id for h in hints][:2] == ["reverse-connection-failed", "dimse-timeout"]
