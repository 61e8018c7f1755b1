"""Fixtures that start real Orthanc and DCMTK dcmqrscp servers, loaded with data.

Session scope: starting a server and loading it costs a fraction of a second
to seconds, so each starts once per run. Tests must treat them as read-only.

Every test under tests/interop is marked ``interop``. A missing server binary
skips its tests, unless QRSCOPE_REQUIRE_INTEROP=1, when it fails them, so CI
can never skip interoperability silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from qrscope.demo_pacs import build_sample_studies
from qrscope.demo_pacs.clinical import build_clinical_studies

from . import peers

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A conftest hook sees the items of the whole session, not only its folder.
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.interop)


def require(found: str | None, reason: str) -> None:
    """Skip (or, with QRSCOPE_REQUIRE_INTEROP=1, fail) when a program was not found."""
    if found:
        return
    if os.environ.get("QRSCOPE_REQUIRE_INTEROP") == "1":
        pytest.fail(f"{reason}, and QRSCOPE_REQUIRE_INTEROP=1", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def peer_listener_port() -> int:
    """The port every server sends C-MOVE sub-operations for QRSCOPE to.

    Reserved, not listened on: a test starts qrscope's (or its own) storage
    listener there and stops it before it ends.
    """
    (port,) = peers.free_ports(1)
    return port


@pytest.fixture(scope="session")
def move_destinations(peer_listener_port: int) -> tuple[peers.MoveDestination, ...]:
    """QRSCOPE, the workstation; NOWHERE, a known AE where nobody listens."""
    (nobody_listens,) = peers.free_ports(1)
    return (
        peers.MoveDestination(peers.WORKSTATION_AE_TITLE, peers.HOST, peer_listener_port),
        peers.MoveDestination(peers.UNREACHABLE_AE_TITLE, peers.HOST, nobody_listens),
    )


@pytest.fixture(scope="session")
def interop_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The demo PACS sample studies and the clinical set (RT, SR, ECG, PDF,
    private and retired classes, Big Endian, four character sets), written
    once per session."""
    folder = tmp_path_factory.mktemp("interop-data")
    return [
        *build_sample_studies(folder / "samples"),
        *build_clinical_studies(folder / "clinical"),
    ]


@pytest.fixture(scope="session")
def orthanc(
    tmp_path_factory: pytest.TempPathFactory,
    interop_files: list[Path],
    move_destinations: tuple[peers.MoveDestination, ...],
) -> Iterator[peers.PeerServer]:
    """Orthanc holding every file of ``interop_files``."""
    require(peers.find_binary("Orthanc"), "Orthanc not installed (apt-get install orthanc)")
    require(peers.find_dcmtk_tool("storescu"), "DCMTK not installed (apt-get install dcmtk)")
    folder = tmp_path_factory.mktemp("orthanc")
    with peers.running_orthanc(folder, interop_files, move_destinations) as server:
        yield server


@pytest.fixture(scope="session")
def dcmqrscp(
    tmp_path_factory: pytest.TempPathFactory,
    interop_files: list[Path],
    move_destinations: tuple[peers.MoveDestination, ...],
) -> Iterator[peers.PeerServer]:
    """dcmqrscp holding the files of ``interop_files`` it can move unchanged:
    per SOP class one syntax group (``peers.one_syntax_per_sop_class``), so
    ``dcmqrscp.instances`` and ``study_uids`` are a subset of Orthanc's.

    By C-MOVE it sends a class on one context only, whatever we accept (measured
    in docs/PACS-BEHAVIOUR.md), so a second syntax group would fail every C-MOVE
    test of its study; test_clinical_objects.py starts a small dcmqrscp holding
    the clinical set in every syntax (``every_syntax``) for C-GET and that failure."""
    require(peers.find_dcmtk_tool("dcmqrscp"), "DCMTK not installed (apt-get install dcmtk)")
    require(peers.find_dcmtk_tool("storescu"), "DCMTK not installed (apt-get install dcmtk)")
    folder = tmp_path_factory.mktemp("dcmqrscp")
    with peers.running_dcmqrscp(folder, interop_files, move_destinations) as server:
        yield server


@pytest.fixture(scope="session")
def demo_pacs(
    tmp_path_factory: pytest.TempPathFactory,
    interop_files: list[Path],
    move_destinations: tuple[peers.MoveDestination, ...],
) -> Iterator[peers.PeerServer]:
    """qrscope's demo PACS holding every file of ``interop_files``, on stock pynetdicom."""
    folder = tmp_path_factory.mktemp("demo-pacs")
    with peers.running_demo_pacs(folder, interop_files, move_destinations) as server:
        yield server


@pytest.fixture(scope="session", params=["orthanc", "dcmqrscp", "demo_pacs"])
def qr_server(request: pytest.FixtureRequest) -> peers.PeerServer:
    """Each server in turn: two real ones, and our demo PACS on stock pynetdicom."""
    return request.getfixturevalue(request.param)
