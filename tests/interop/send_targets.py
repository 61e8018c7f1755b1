"""Empty Storage SCPs to send to: Orthanc (with its REST API) and DCMTK ``storescp``.

The fixtures of :mod:`tests.interop.peers` start servers loaded with data for
queries and retrieves; a send test needs one that holds nothing yet, set up
as strictly as the case asks: Orthanc that checks the called AE title and,
optionally, stores only for the modalities it knows; ``storescp`` that takes
only the classes and transfer syntaxes of a DCMTK association profile.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.sop_class import Verification

from .peers import (
    HOST,
    ORTHANC_AE_TITLE,
    START_TIMEOUT,
    MoveDestination,
    PeerError,
    _failure,
    _required,
    _server_process,
    echo_status,
    find_binary,
    find_dcmtk_tool,
    free_ports,
    orthanc_configuration,
)

STORESCP_AE_TITLE = "STORESCP"
UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)


@dataclass(frozen=True)
class StoreTarget:
    """A running, initially empty Storage SCP."""

    ae_title: str
    host: str
    port: int
    log_path: Path
    http_port: int | None = None
    folder: Path | None = None

    def stores(self) -> int:
        """C-STORE requests the peer received so far (from its verbose log)."""
        text = self.log_path.read_text(errors="replace")
        pattern = (r"Received Store Request" if self.http_port is None
                   else r"Received Store Request|C-STORE-RQ|Received C-STORE")
        return len(re.findall(pattern, text))

    def stored_file(self, sop_instance_uid: str) -> bytes:
        """Orthanc's copy of the instance, as ``/instances/{id}/file`` serves it."""
        assert self.http_port is not None, "only Orthanc has a REST API"
        base = f"http://{self.host}:{self.http_port}"
        request = urllib.request.Request(f"{base}/tools/lookup", data=sop_instance_uid.encode(),
                                         method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            found = [f["ID"] for f in json.load(answer) if f["Type"] == "Instance"]
        if not found:
            raise KeyError(sop_instance_uid)
        with urllib.request.urlopen(f"{base}/instances/{found[0]}/file", timeout=30) as answer:
            return answer.read()

    def received_file(self, sop_instance_uid: str) -> Path:
        """storescp's file of the instance (named ``MODALITY.UID``)."""
        assert self.folder is not None and self.http_port is None
        (path,) = self.folder.glob(f"*.{sop_instance_uid}")
        return path

    def instance_count(self) -> int:
        assert self.http_port is not None, "only Orthanc has a REST API"
        url = f"http://{self.host}:{self.http_port}/statistics"
        with urllib.request.urlopen(url, timeout=10) as answer:
            return int(json.load(answer)["CountInstances"])


def _wait_for(process, ae_title: str, port: int, calling: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if echo_status(ae_title, port, calling_ae_title=calling) == 0x0000:
            return
        if process.poll() is not None:
            raise _failure(f"{ae_title} exited with {process.returncode}", log_path)
        time.sleep(0.05)  # a port that does not answer yet cannot be awaited otherwise
    raise _failure(f"{ae_title} did not answer C-ECHO on port {port}", log_path)


@contextlib.contextmanager
def empty_orthanc(folder: Path, *, known: Sequence[str] = (), always_allow_store: bool = True,
                  always_allow_echo: bool | None = None) -> Iterator[StoreTarget]:
    """Orthanc that holds nothing, checks the called AE title (``DicomCheckCalledAet``)
    and knows the AE titles *known* as modalities.

    With *always_allow_store* False it takes C-STOREs only from those
    (``DicomAlwaysAllowStore``), and by default echoes only for them
    (``DicomAlwaysAllowEcho``, *always_allow_echo*), as a locked-down hospital
    archive does.
    """
    folder.mkdir(parents=True, exist_ok=True)
    dicom_port, http_port = free_ports(2)
    config = orthanc_configuration(folder, dicom_port, http_port,
                                   [MoveDestination(ae, HOST, 104) for ae in known])
    config.update(Name="qrscope-send", DicomAlwaysAllowStore=always_allow_store,
                  DicomAlwaysAllowEcho=always_allow_store if always_allow_echo is None
                  else always_allow_echo)
    path = folder / "orthanc.json"
    path.write_text(json.dumps(config, indent=1))
    log_path = folder / "orthanc.log"
    command = [_required(find_binary("Orthanc"), "Orthanc"), "--verbose", str(path)]
    with _server_process(command, log_path) as process:
        _wait_for(process, ORTHANC_AE_TITLE, dicom_port, known[0] if known else "ANYONE",
                  log_path)
        yield StoreTarget(ORTHANC_AE_TITLE, HOST, dicom_port, log_path, http_port, folder)


def storescp_profile(accepts: Mapping[str, Iterable[str]]) -> str:
    """A DCMTK association profile (dcmnet/docs/asconfig.txt) accepting, per SOP
    class, exactly the syntaxes given (storescp ``--config-file FILE Accept``).

    An acceptor's profile names each class once, with a list of syntaxes."""
    wanted = {c: tuple(s) for c, s in accepts.items()}
    wanted[Verification] = (ImplicitVRLittleEndian,)  # the fixture's C-ECHO
    lists = list(dict.fromkeys(wanted.values()))
    if len(wanted) > 128:
        raise PeerError(f"{len(wanted)} classes; a profile holds 128")
    lines = ["[[TransferSyntaxes]]"]
    for number, syntaxes in enumerate(lists):
        lines.append(f"[TS{number}]")
        lines += [f"TransferSyntax{n} = {ts}" for n, ts in enumerate(syntaxes, start=1)]
    lines += ["[[PresentationContexts]]", "[Accepted]"]
    for number, (sop_class, syntaxes) in enumerate(wanted.items(), start=1):
        lines.append(f"PresentationContext{number} = {sop_class}\\TS{lists.index(syntaxes)}")
    lines += ["[[Profiles]]", "[Accept]", "PresentationContexts = Accepted"]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def running_storescp(folder: Path, accepts: Mapping[str, Iterable[str]],
                     ) -> Iterator[StoreTarget]:
    """DCMTK ``storescp`` taking only *accepts* (SOP class -> syntaxes), writing
    every data set it receives into *folder*/received, its log verbose."""
    received = folder / "received"
    received.mkdir(parents=True)
    profile = folder / "storescp.cfg"
    profile.write_text(storescp_profile(accepts))
    (port,) = free_ports(1)
    log_path = folder / "storescp.log"
    command = [
        _required(find_dcmtk_tool("storescp"), "DCMTK storescp"),
        "--verbose", "--aetitle", STORESCP_AE_TITLE,
        "--config-file", str(profile), "Accept",
        # Each data set written as it came, named by its modality and SOP Instance UID.
        "--bit-preserving", "--output-directory", str(received),
        str(port),
    ]  # fmt: skip
    with _server_process(command, log_path) as process:
        _wait_for(process, STORESCP_AE_TITLE, port, "ANYONE", log_path)
        yield StoreTarget(STORESCP_AE_TITLE, HOST, port, log_path, folder=received)
