"""A demo PACS that knows our AE title: the peer most integration tests talk to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.demo_pacs import DemoPacs, DemoPacsBehaviour
from tests.ports import free_port  # re-exported for the tests that start listeners


@dataclass
class DemoSite:
    """A demo PACS that knows our AE title at a reserved listener port."""

    pacs: DemoPacs
    node: RemoteNode
    local: LocalAE
    log: AssociationLog


def start_demo_site(folder: Path, storage: Path,
                    behaviour: DemoPacsBehaviour | None = None) -> DemoSite:
    listener_port = free_port()
    pacs = DemoPacs(data_folder=folder, port=0, behaviour=behaviour,
                    destinations={"QRSCOPE": ("127.0.0.1", listener_port)})
    pacs.start()
    node = RemoteNode(name="Demo", ae_title=pacs.ae_title, host="127.0.0.1", port=pacs.port)
    local = LocalAE(ae_title="QRSCOPE", listener_port=listener_port, bind_address="127.0.0.1",
                    storage_folder=storage)
    return DemoSite(pacs=pacs, node=node, local=local, log=AssociationLog())
