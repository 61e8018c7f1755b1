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

from . import peers

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A conftest hook sees the items of the whole session, not only its folder.
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.interop)


def require_binaries(names: tuple[str, ...], reason: str) -> None:
    if all(peers.find_binary(name) for name in names):
        return
    if os.environ.get("QRSCOPE_REQUIRE_INTEROP") == "1":
        pytest.fail(f"{reason} and QRSCOPE_REQUIRE_INTEROP=1", pytrace=False)
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
    """The demo PACS sample studies, written once per session."""
    folder = tmp_path_factory.mktemp("interop-data")
    try:
        from qrscope.core.demo_pacs import build_sample_studies
    except ImportError:
        return _pydicom_test_files(folder)
    return build_sample_studies(folder)


def _pydicom_test_files(folder: Path) -> list[Path]:
    """pydicom's own test files, one transfer syntax per SOP class per study,
    with fresh UIDs (the MR_small variants share one SOP Instance UID)."""
    import pydicom
    from pydicom.data import get_testdata_file

    studies = [
        ["CT_small.dcm", "MR_small_jp2klossless.dcm", "SC_rgb_jpeg_dcmtk.dcm"],
        ["MR_small_RLE.dcm", "SC_rgb_rle.dcm"],
        ["MR_small_jpeg_ls_lossless.dcm", "JPEG2000.dcm"],
        ["MR_small_implicit.dcm", "rtplan.dcm"],
        ["MR_small.dcm"],
    ]
    root = "1.2.826.0.1.3680043.10.1180.9"
    paths = []
    for s, names in enumerate(studies, start=1):
        for n, name in enumerate(names, start=1):
            ds = pydicom.dcmread(get_testdata_file(name))
            ds.PatientID = f"INTEROP{s}"
            ds.StudyInstanceUID = f"{root}.{s}"
            ds.SeriesInstanceUID = f"{root}.{s}.{n}"
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"{root}.{s}.{n}.1"
            path = folder / f"study{s}-{name}"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


@pytest.fixture(scope="session")
def orthanc(
    tmp_path_factory: pytest.TempPathFactory,
    interop_files: list[Path],
    move_destinations: tuple[peers.MoveDestination, ...],
) -> Iterator[peers.PeerServer]:
    require_binaries(
        ("Orthanc", "storescu"), "Orthanc not installed (apt-get install orthanc dcmtk)"
    )
    folder = tmp_path_factory.mktemp("orthanc")
    with peers.running_orthanc(folder, interop_files, move_destinations) as server:
        yield server


@pytest.fixture(scope="session")
def dcmqrscp(
    tmp_path_factory: pytest.TempPathFactory,
    interop_files: list[Path],
    move_destinations: tuple[peers.MoveDestination, ...],
) -> Iterator[peers.PeerServer]:
    require_binaries(
        ("dcmqrscp", "storescu"), "DCMTK dcmqrscp not installed (apt-get install dcmtk)"
    )
    folder = tmp_path_factory.mktemp("dcmqrscp")
    with peers.running_dcmqrscp(folder, interop_files, move_destinations) as server:
        yield server


@pytest.fixture(scope="session", params=["orthanc", "dcmqrscp"])
def qr_server(request: pytest.FixtureRequest) -> peers.PeerServer:
    """Each real server in turn."""
    return request.getfixturevalue(request.param)
