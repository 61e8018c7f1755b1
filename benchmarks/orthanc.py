"""Orthanc as Debian ships it, on loopback, for the benchmark.

Started with or without ``TCP_NODELAY=1`` in its environment: without it is the
stock PACS (Nagle's algorithm on, as in Debian's service), with it a sender
that is not the bottleneck. One storage folder serves both, so the data is
loaded once.

The configuration is the interop fixture's (``tests/interop/peers.py:
orthanc_configuration``); the process is started here, because that fixture
always sets ``TCP_NODELAY=1`` and ``--verbose``, which a benchmark must not.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

from tests.interop.peers import (
    HOST,
    MoveDestination,
    find_binary,
    find_dcmtk_tool,
    orthanc_configuration,
)

from .processes import Server, background, environment

ORTHANC_AE_TITLE = "ORTHANC"
LOADER_AE_TITLE = "STORESCU"


def configuration(folder: Path, dicom_port: int, http_port: int,
                  destinations: Mapping[str, int]) -> dict[str, object]:
    """The interop fixture's Orthanc (plain DICOM, AE-title checks, no fsync), with
    a longer reverse-connection timeout and every C-FIND match in one answer."""
    moves = [MoveDestination(ae, HOST, port) for ae, port in destinations.items()]
    return {
        **orthanc_configuration(folder, dicom_port, http_port, moves),
        "Name": "qrscope-benchmark",
        "DicomScuTimeout": 30,
        # Every study in one C-FIND answer, however many (0: no limit).
        "LimitFindResults": 0,
        "LimitFindInstances": 0,
    }


@contextlib.contextmanager
def running(folder: Path, dicom_port: int, http_port: int, destinations: Mapping[str, int],
            nodelay: bool) -> Iterator[Server]:
    config = folder / "orthanc.json"
    config.write_text(json.dumps(configuration(folder, dicom_port, http_port, destinations),
                                 indent=1))
    binary = find_binary("Orthanc")
    if binary is None:
        raise RuntimeError("Orthanc is not installed")
    name = "orthanc-nodelay" if nodelay else "orthanc-stock"
    with background([binary, str(config)], folder / f"{name}.log", environment(nodelay),
                    folder, ORTHANC_AE_TITLE, dicom_port) as server:
        yield server


def storescu() -> str:
    path = find_dcmtk_tool("storescu")
    if path is None:
        raise RuntimeError("DCMTK storescu is not installed")
    return path


def load(folders: list[Path], port: int, log: Path) -> None:
    """Store every file under ``folders`` with one storescu association per folder."""
    for folder in folders:
        command = [storescu(), "--aetitle", LOADER_AE_TITLE, "--call", ORTHANC_AE_TITLE,
                   "+sd", "+r", "-xs", HOST, str(port), str(folder)]
        with log.open("ab") as sink:
            subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT,
                           env=environment(nodelay=True), check=True, timeout=3600)
