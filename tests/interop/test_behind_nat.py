"""A workstation behind NAT: C-FIND works, C-MOVE cannot come back, C-GET can.

qrscope runs inside the workstation namespace (its command line, as a user
would); Orthanc knows QRSCOPE at the router's outside address, the only
address it ever sees. Without a port forward the reverse connection dies
at the router; with one, the same C-MOVE succeeds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from . import netns, peers

LISTENER_PORT = 11112


@pytest.fixture(scope="module")
def behind_nat(tmp_path_factory, interop_files) -> Iterator[tuple[peers.PeerServer,
                                                                 netns.NatSite]]:
    netns.require(needs="Orthanc")
    with netns.test_host(index=7) as pacs_host, netns.nat_site(pacs_host) as site:
        destinations = (peers.MoveDestination("QRSCOPE", site.router_outside, LISTENER_PORT),)
        folder = tmp_path_factory.mktemp("nat-orthanc")
        with peers.running_orthanc(folder, interop_files[:8], destinations,
                                   host=pacs_host.address, prefix=pacs_host.prefix) as server:
            yield server, site


def _qrscope(site: netns.NatSite, tmp_path, *args: str) -> dict:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
           "XDG_DATA_HOME": str(tmp_path / "data")}
    result = subprocess.run(
        ["ip", "netns", "exec", site.workstation, sys.executable, "-m", "qrscope", *args,
         "--json"], capture_output=True, text=True, timeout=120, env=env)
    return json.loads(result.stdout)


def _retrieve(server, site, tmp_path, method: str) -> dict:
    return _qrscope(site, tmp_path, "retrieve", "--host", site.pacs_address, "--port",
                    str(server.port), "--called-aet", server.ae_title, "--study",
                    server.study_uids[0], "--method", method, "--listen-port",
                    str(LISTENER_PORT), "--out", str(tmp_path / method))


def test_behind_nat_move_fails_get_works_and_a_port_forward_fixes_move(behind_nat, tmp_path):
    server, site = behind_nat
    moved = _retrieve(server, site, tmp_path, "move")
    assert moved["status"] == "failed" and moved["incoming_associations"] == []
    assert "reverse-connection-failed" in moved["hints"]
    reverse = moved["hint_details"][moved["hints"].index("reverse-connection-failed")]
    assert any("NAT" in cause for cause in reverse["causes"])

    got = _retrieve(server, site, tmp_path, "get")
    assert got["status"] == "success" and got["received"] > 0

    site.forward_port(LISTENER_PORT)
    forwarded = _retrieve(server, site, tmp_path / "again", "move")
    assert forwarded["status"] == "success", json.dumps(forwarded, indent=1)[:3000]
    assert forwarded["incoming_associations"][0]["calling_ae"] == "ORTHANC"
