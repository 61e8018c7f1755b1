"""Real Orthanc and DCMTK dcmqrscp servers on loopback, for interoperability tests.

``running_orthanc`` and ``running_dcmqrscp`` each write the server's
configuration into a folder, start it on free ports of 127.0.0.1, wait until it
answers a C-ECHO, store the given files with DCMTK ``storescu``, check by C-FIND
that every file arrived, and yield a :class:`PeerServer` that describes what
the server now holds. On exit the whole process group is terminated, then
killed after a bounded wait.

The servers are configured like a hospital PACS: they know the workstation by
one AE title (:data:`WORKSTATION_AE_TITLE`), which is both the calling AE of
queries and a move destination; they refuse what a real PACS refuses.

Orthanc holds every file. dcmqrscp holds no private SOP class
(:func:`known_to_dcmtk`) and, per SOP class, only the files of one transfer
syntax group, because it moves each SOP class in one syntax and cannot
decompress (:func:`one_syntax_per_sop_class`); with ``every_syntax`` it holds
the others too, which only C-GET brings (``PeerServer.unmovable``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pydicom
from pydicom import uid
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind, Verification

from tests.ports import free_ports  # re-exported: fixtures and benchmarks pick ports here

HOST = "127.0.0.1"
WORKSTATION_AE_TITLE = "QRSCOPE"
UNREACHABLE_AE_TITLE = "NOWHERE"
LOADER_AE_TITLE = "STORESCU"
ORTHANC_AE_TITLE = "ORTHANC"
DCMQRSCP_AE_TITLE = "DCMQRSCP"
DEMO_PACS_AE_TITLE = "DEMOPACS"

START_TIMEOUT = 20.0
# Tries to start a server whose free port another program took meanwhile.
START_ATTEMPTS = 3
STOP_TIMEOUT = 5.0
LOAD_TIMEOUT = 60.0
NETWORK_TIMEOUT = 5.0

# PS3.8 9.3.2.2: at most 128 presentation contexts in one association request;
# DCMTK's association profiles enforce the same limit per list.
MAX_CONTEXTS = 128

UNCOMPRESSED = (uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian)
# Native (uncompressed) syntaxes DCMTK converts between when it sends, so one
# outgoing context in UNCOMPRESSED serves them all. Explicit VR Big Endian is
# retired (PS3.5 A.3) but still in the archives; dcmqrscp sends it as little endian.
NATIVE = (*UNCOMPRESSED, uid.ExplicitVRBigEndian)
# Everything dcmqrscp may be asked to store, uncompressed first: an acceptor
# profile picks, per presentation context, the first of these that was proposed.
STORABLE = (
    *UNCOMPRESSED,
    uid.DeflatedExplicitVRLittleEndian,
    uid.ExplicitVRBigEndian,
    uid.JPEGBaseline8Bit,
    uid.JPEGExtended12Bit,
    uid.JPEGLossless,
    uid.JPEGLosslessSV1,
    uid.JPEGLSLossless,
    uid.JPEGLSNearLossless,
    uid.JPEG2000Lossless,
    uid.JPEG2000,
    uid.RLELossless,
)

PeerKind = Literal["orthanc", "dcmqrscp", "demo-pacs"]


class PeerError(RuntimeError):
    """A server did not start, or did not store what it was given."""


@dataclass(frozen=True)
class MoveDestination:
    """An AE title the server resolves to an address when asked to C-MOVE there."""

    ae_title: str
    host: str
    port: int
    use_tls: bool = False
    """Orthanc's ``UseDicomTls``: its C-MOVE sub-associations to this AE use TLS."""


@dataclass(frozen=True)
class OrthancTls:
    """DICOM TLS for Orthanc (1.9+): its certificate and key, the CAs it trusts, and the
    client certificate the fixture itself uses to load and check the data."""

    certificate: Path
    private_key: Path
    trusted: Path
    client_certificate: Path
    client_key: Path
    remote_certificate_required: bool = True

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.trusted))
        context.load_cert_chain(str(self.client_certificate), str(self.client_key))
        return context

    def tls_args(self, host: str) -> tuple[ssl.SSLContext, str]:
        return self.client_context(), host

    def storescu_options(self) -> list[str]:
        # DCMTK: +tls takes the private key first, then the certificate.
        return ["+tls", str(self.client_key), str(self.client_certificate),
                "+cf", str(self.trusted)]


@dataclass(frozen=True)
class StoredInstance:
    """One file loaded into a server, with the UIDs read from its header."""

    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    transfer_syntax_uid: str


@dataclass(frozen=True)
class PeerServer:
    """A running server, loaded with data. Tests must treat it as read-only."""

    kind: PeerKind
    ae_title: str
    host: str
    port: int
    folder: Path
    log_path: Path
    move_destinations: tuple[MoveDestination, ...]
    instances: tuple[StoredInstance, ...]
    http_port: int | None = None
    tls: OrthancTls | None = None
    unmovable: frozenset[str] = frozenset()
    """SOP Instance UIDs it holds but fails to C-MOVE: dcmqrscp's instances of a
    class's second syntax group (see :func:`running_dcmqrscp`)."""

    @property
    def files(self) -> list[Path]:
        return [instance.path for instance in self.instances]

    @property
    def sop_instance_uids(self) -> frozenset[str]:
        return frozenset(instance.sop_instance_uid for instance in self.instances)

    @property
    def study_uids(self) -> list[str]:
        return sorted({instance.study_instance_uid for instance in self.instances})

    @property
    def peer_listener_port(self) -> int:
        """Where the server sends C-MOVE sub-operations for the workstation."""
        return self.destination(WORKSTATION_AE_TITLE).port

    def destination(self, ae_title: str) -> MoveDestination:
        return next(d for d in self.move_destinations if d.ae_title == ae_title)

    def study(self, study_uid: str) -> list[StoredInstance]:
        return [i for i in self.instances if i.study_instance_uid == study_uid]


def roleless_by_get_here(server: PeerServer, instances: Iterable[StoredInstance]) -> set[str]:
    """The instances of *instances* a C-GET from *server* cannot bring on this engine.

    Orthanc 1.10 accepts a storage class it does not know (a private one) for
    C-GET but leaves our SCP role for it unanswered (PS3.7 D.3.3.4), then
    sends it all the same. The tuned engine takes the role and keeps the
    instance; stock pynetdicom refuses the C-STORE (0x0122) before any handler
    runs, and the retrieve names the instance as missing for want of the role.
    """
    from qrscope.core.engine import choice

    if server.kind != "orthanc" or choice.current().tuned:
        return set()
    return {i.sop_instance_uid for i in instances
            if not i.sop_class_uid.startswith("1.2.840.10008.")}


def assert_missing_for_want_of_role(outcome: object, roleless: set[str]) -> None:
    """*roleless* (see :func:`roleless_by_get_here`) are missing, and the retrieve says why."""
    missing = {m.sop_instance_uid: m for m in outcome.missing}  # type: ignore[attr-defined]
    assert set(missing) == roleless, [m.to_dict() for m in missing.values()]
    for item in missing.values():
        assert item.reason == "no-context" and "SCP role" in item.detail, item.to_dict()
    assert outcome.status != "success"  # type: ignore[attr-defined]


def pixel_readings(source: Dataset, got: Dataset) -> list[object]:
    """The pixel arrays *source* may be taken to hold, as a server sent *got* from it.

    Big Endian pixel data of 32-bit cells (pydicom's ``rtdose_expb.dcm``) is
    read by pydicom as 32-bit big endian values; DCMTK (dcmqrscp 3.6.7),
    converting it to little endian, swaps the bytes of each 16-bit word of
    the OW value (PS3.5 6.2: OW is a stream of 16-bit words) and so puts the
    two words of each cell in the other order. Both readings are the file's.
    """
    import numpy as np

    readings = [source.pixel_array]
    if not source.is_little_endian and got.is_little_endian and source.BitsAllocated == 32:
        words = np.frombuffer(source.PixelData, ">u2").astype("<u2")
        readings.append(words.view("<u4").reshape(readings[0].shape))
    return readings


def _search_path() -> list[str]:
    # Debian puts Orthanc in /usr/sbin, off a normal user's PATH.
    return [*os.environ.get("PATH", "").split(os.pathsep), "/usr/sbin", "/usr/local/sbin"]


def find_binary(name: str) -> str | None:
    """Path of an installed program, or None."""
    return shutil.which(name, path=os.pathsep.join(_search_path()))


@functools.cache
def find_dcmtk_tool(name: str) -> str | None:
    """Path of a DCMTK program, or None.

    pynetdicom 3 installs console scripts named storescu, findscu, movescu...
    of its own; in an activated virtualenv they come first on PATH, so every
    candidate is asked for its version and only DCMTK's is taken.
    """
    for folder in _search_path():
        path = shutil.which(name, path=folder)
        if path and "$dcmtk:" in _version(path):
            return path
    return None


def _version(path: str) -> str:
    try:
        result = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout


def _required(path: str | None, name: str) -> str:
    if path is None:
        raise PeerError(f"{name} is not installed")
    return path


def describe(files: Iterable[Path]) -> tuple[StoredInstance, ...]:
    """Read the UIDs of each file; two files with one SOP Instance UID is an error,
    because a server keeps only one of them and the test would miss the other."""
    instances = []
    for path in files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        instances.append(
            StoredInstance(
                path=Path(path),
                sop_class_uid=str(ds.SOPClassUID),
                sop_instance_uid=str(ds.SOPInstanceUID),
                series_instance_uid=str(ds.SeriesInstanceUID),
                study_instance_uid=str(ds.StudyInstanceUID),
                transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
            )
        )
    seen: dict[str, Path] = {}
    for instance in instances:
        if instance.sop_instance_uid in seen:
            raise PeerError(
                f"{instance.path} and {seen[instance.sop_instance_uid]} share "
                f"SOP Instance UID {instance.sop_instance_uid}"
            )
        seen[instance.sop_instance_uid] = instance.path
    return tuple(instances)


UNCOMPRESSED_GROUP = "uncompressed"


def _group(instance: StoredInstance) -> str:
    ts = instance.transfer_syntax_uid
    return UNCOMPRESSED_GROUP if ts in NATIVE else ts


def syntax_groups(instances: Sequence[StoredInstance]) -> dict[str, list[str]]:
    """Per SOP class, its syntax groups, most instances first.

    Uncompressed syntaxes (:data:`NATIVE`, Big Endian included) count as one
    group, :data:`UNCOMPRESSED_GROUP`: DCMTK converts between them. Each
    compressed syntax is a group of its own.
    """
    counts: dict[str, dict[str, int]] = {}
    for instance in instances:
        by_group = counts.setdefault(instance.sop_class_uid, {})
        by_group[_group(instance)] = by_group.get(_group(instance), 0) + 1
    return {sop: sorted(groups, key=lambda g: (-groups[g], g))
            for sop, groups in counts.items()}


def one_syntax_per_sop_class(instances: Sequence[StoredInstance]) -> tuple[StoredInstance, ...]:
    """Keep, per SOP class, the instances of its most common syntax group.

    dcmqrscp moves every instance of a SOP class on the first accepted
    context for that class and cannot decompress (see _dcmqrscp_profiles), so
    a class held in two compressed syntaxes, or compressed and uncompressed,
    cannot all be moved unchanged.
    """
    first = {sop: groups[0] for sop, groups in syntax_groups(instances).items()}
    return tuple(i for i in instances if _group(i) == first[i.sop_class_uid])


def known_to_dcmtk(instances: Sequence[StoredInstance]) -> tuple[StoredInstance, ...]:
    """Drop instances of private SOP classes, which dcmqrscp cannot hold.

    dcmqrscp 3.6.7 accepts the presentation context (the Incoming profile
    lists the class) but its storeSCP refuses every data set whose class
    ``dcmIsaStorageSOPClassUID`` does not know, writing it to /dev/null; the
    C-STORE-RSP is 0xC000 "Cannot understand", logged as "Bad image file:
    /dev/null" (dcmqrdb/libsrc/dcmqrsrv.cc). Retired standard classes are known.
    """
    return tuple(i for i in instances if not uid.UID(i.sop_class_uid).is_private)


def _storage_pairs(instances: Iterable[StoredInstance]) -> list[tuple[str, str]]:
    """Distinct (SOP Class UID, Transfer Syntax UID) pairs, in first-seen order."""
    return list(dict.fromkeys((i.sop_class_uid, i.transfer_syntax_uid) for i in instances))


# --- processes --------------------------------------------------------------


def _dcmtk_environment() -> dict[str, str]:
    # DCMTK leaves Nagle's algorithm on unless TCP_NODELAY=1
    # (dcmnet/libsrc/dulfsm.cc). On loopback, Nagle plus delayed ACKs cost
    # ~40 ms per DIMSE message: loading 9 files took 0.8 s instead of 0.03 s.
    # Orthanc links DCMTK's dcmnet, so the variable applies to it too.
    return {**os.environ, "TCP_NODELAY": "1"}


def _orphan_guard() -> list[str]:
    # If pytest itself dies (kill -9, pytest-timeout's "thread" method calls
    # os._exit), fixture teardown never runs; the kernel then kills the server
    # when its parent dies. setpriv is in util-linux, which Debian always has.
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def _log_tail(log_path: Path, lines: int = 40) -> str:
    try:
        text = log_path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _failure(message: str, log_path: Path) -> PeerError:
    return PeerError(f"{message}\n--- last lines of {log_path} ---\n{_log_tail(log_path)}")


@contextlib.contextmanager
def _server_process(command: Sequence[str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` in its own process group, output to ``log_path``."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*_orphan_guard(), *command],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=log_path.parent,
            env=_dcmtk_environment(),
            start_new_session=True,
        )
    try:
        yield process
    finally:
        _stop(process)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _stop(process: subprocess.Popen[bytes]) -> None:
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait()
    # dcmqrscp forks a child per association; one still busy must not outlive us.
    _signal_group(process, signal.SIGKILL)


def echo_status(
    ae_title: str, port: int, calling_ae_title: str = WORKSTATION_AE_TITLE, host: str = HOST,
    tls: OrthancTls | None = None,
) -> int | None:
    """Status of a C-ECHO to ``ae_title`` at ``host`` (loopback), or None without an answer."""
    ae = AE(calling_ae_title)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = NETWORK_TIMEOUT
    assoc = ae.associate(host, port, ae_title=ae_title,
                         tls_args=tls.tls_args(host) if tls else None)
    if not assoc.is_established:
        return None
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    return int(status.Status) if "Status" in status else None


def _wait_for_echo(
    process: subprocess.Popen[bytes], ae_title: str, port: int, log_path: Path,
    host: str = HOST, tls: OrthancTls | None = None,
) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if echo_status(ae_title, port, host=host, tls=tls) == 0x0000:
            return
        try:
            process.wait(timeout=0.05)  # the poll interval, and it notices a crash
        except subprocess.TimeoutExpired:
            continue
        raise _failure(
            f"{ae_title} exited with {process.returncode} before answering C-ECHO", log_path
        )
    raise _failure(
        f"{ae_title} did not answer C-ECHO on port {port} within {START_TIMEOUT:.0f} s", log_path
    )


# --- loading ----------------------------------------------------------------


def _storescu_profile(instances: Sequence[StoredInstance]) -> str:
    """A DCMTK association profile (dcmnet/docs/asconfig.txt) proposing one
    presentation context per (SOP class, transfer syntax) of the files, each
    with that single syntax: storescu then sends every file as it is, where
    its ``-x`` options would propose one compressed syntax at most and
    decompress (or fail on) the others."""
    pairs = _storage_pairs(instances)
    if len(pairs) > MAX_CONTEXTS:
        raise PeerError(
            f"{len(pairs)} SOP class/transfer syntax pairs; storescu can propose {MAX_CONTEXTS}"
        )
    syntaxes = list(dict.fromkeys(ts for _, ts in pairs))
    lines = ["[[TransferSyntaxes]]"]
    for number, syntax in enumerate(syntaxes):
        lines += [f"[TS{number}]", f"TransferSyntax1 = {syntax}"]
    lines += ["[[PresentationContexts]]", "[Files]"]
    for number, (sop_class, syntax) in enumerate(pairs, start=1):
        lines.append(f"PresentationContext{number} = {sop_class}\\TS{syntaxes.index(syntax)}")
    lines += ["[[Profiles]]", "[AsStored]", "PresentationContexts = Files"]
    return "\n".join(lines) + "\n"


def _store(
    instances: Sequence[StoredInstance], ae_title: str, port: int, folder: Path, host: str = HOST,
    tls: OrthancTls | None = None,
) -> None:
    """Send the files with storescu; it stops at the first file not stored and
    then exits non-zero (only without --no-halt does the exit code say so)."""
    profile = folder / "storescu-profile.cfg"
    profile.write_text(_storescu_profile(instances))
    log_path = folder / "storescu.log"
    command = [
        _required(find_dcmtk_tool("storescu"), "DCMTK storescu"),
        "--verbose",
        "--read-file-only",
        "--aetitle", LOADER_AE_TITLE,
        "--call", ae_title,
        "--config-file", str(profile), "AsStored",
        *(tls.storescu_options() if tls else []),
        host, str(port),
        *(str(i.path) for i in instances),
    ]  # fmt: skip
    with log_path.open("wb") as log:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_dcmtk_environment(),
            timeout=LOAD_TIMEOUT,
            check=False,
        )
    if result.returncode != 0:
        raise _failure(
            f"storescu to {ae_title} failed with exit code {result.returncode}", log_path
        )


def _stored_sop_instance_uids(
    ae_title: str, port: int, instances: Sequence[StoredInstance], log_path: Path,
    host: str = HOST, tls: OrthancTls | None = None,
) -> set[str]:
    """SOP Instance UIDs the server lists for the series of ``instances``.

    One IMAGE-level C-FIND per series, with its study and series UID each
    single-valued: the only identifier a strictly hierarchical SCP
    (``dcmqrscp --check-find``) accepts below the top level (PS3.4
    C.4.1.2.2.1); a list of study UIDs there is answered with 0xA900. Each
    request costs ~45 ms on loopback (pynetdicom leaves Nagle's algorithm on
    and sends command and identifier apart), so a few dozen series take a
    second or two.
    """
    ae = AE(WORKSTATION_AE_TITLE)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = NETWORK_TIMEOUT
    assoc = ae.associate(host, port, ae_title=ae_title,
                         tls_args=tls.tls_args(host) if tls else None)
    if not assoc.is_established:
        raise _failure(f"{ae_title} refused the association to list the stored files", log_path)
    series = dict.fromkeys((i.study_instance_uid, i.series_instance_uid) for i in instances)
    listed: set[str] = set()
    try:
        for study_uid, series_uid in series:
            listed |= _series_instance_uids(assoc, study_uid, series_uid, ae_title, log_path)
    finally:
        assoc.release()
    return listed


def _series_instance_uids(
    assoc: Association, study_uid: str, series_uid: str, ae_title: str, log_path: Path
) -> set[str]:
    query = Dataset()
    query.QueryRetrieveLevel = "IMAGE"
    query.StudyInstanceUID = study_uid
    query.SeriesInstanceUID = series_uid
    query.SOPInstanceUID = ""
    responses = list(assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind))
    final = responses[-1][0] if responses else Dataset()
    if final.get("Status") != 0x0000:
        status = f"0x{final.Status:04X}" if "Status" in final else "no response"
        raise _failure(
            f"{ae_title} answered C-FIND from {WORKSTATION_AE_TITLE}: {status}", log_path
        )
    return {str(identifier.SOPInstanceUID) for _, identifier in responses if identifier is not None}


def _load(
    instances: Sequence[StoredInstance], ae_title: str, port: int, folder: Path, log_path: Path,
    host: str = HOST, tls: OrthancTls | None = None,
) -> None:
    """Store ``instances`` and check by C-FIND that the server lists every one."""
    _store(instances, ae_title, port, folder, host, tls)
    listed = _stored_sop_instance_uids(ae_title, port, instances, log_path, host, tls)
    missing = sorted(str(i.path) for i in instances if i.sop_instance_uid not in listed)
    if missing:
        raise _failure(
            f"{ae_title} acknowledged {len(missing)} files it does not list, e.g. {missing[:3]}",
            log_path,
        )


# --- Orthanc ----------------------------------------------------------------


def _orthanc_tls_configuration(tls: OrthancTls | None) -> dict[str, object]:
    """Orthanc 1.9+ DICOM TLS options (names as in Debian's /etc/orthanc/orthanc.json).

    With ``DicomTlsEnabled`` the DICOM port speaks only TLS; the same
    certificate and trusted list serve its SCU side (C-MOVE sub-associations
    to modalities with ``UseDicomTls``).
    """
    if tls is None:
        return {"DicomTlsEnabled": False}
    return {
        "DicomTlsEnabled": True,
        "DicomTlsCertificate": str(tls.certificate),
        "DicomTlsPrivateKey": str(tls.private_key),
        "DicomTlsTrustedCertificates": str(tls.trusted),
        "DicomTlsRemoteCertificateRequired": tls.remote_certificate_required,
    }


def _modality(d: MoveDestination) -> dict[str, object]:
    entry: dict[str, object] = {"AET": d.ae_title, "Host": d.host, "Port": d.port}
    if d.use_tls:
        entry["UseDicomTls"] = True
    return entry


def orthanc_configuration(
    folder: Path, dicom_port: int, http_port: int, destinations: Sequence[MoveDestination],
    tls: OrthancTls | None = None, transcode: bool = True,
) -> dict[str, object]:
    """*transcode* False: ``TranscodeDicomProtocol`` off, an archive that sends each
    file only in the syntax it holds it in (on C-GET: on a context of that syntax)."""
    storage = folder / "storage"
    return {
        "TranscodeDicomProtocol": transcode,
        **_orthanc_tls_configuration(tls),
        "Name": "qrscope-interop",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        # Only what is written here: no plugins, no Lua, nothing from /etc/orthanc.
        "Plugins": [],
        "LuaScripts": [],
        "HttpServerEnabled": True,
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "OrthancExplorerEnabled": False,
        "WebDavEnabled": False,
        "DicomServerEnabled": True,
        "DicomAet": ORTHANC_AE_TITLE,
        "DicomPort": dicom_port,
        "DicomCheckCalledAet": True,
        # Known callers are matched by AE title only, so no address checks or
        # lookups. (Orthanc also sets DCMTK's dcmDisableGethostbyaddr itself.)
        "DicomCheckModalityHost": False,
        "DicomScuTimeout": 10,
        # A hospital PACS: anyone may echo and store; only the modalities
        # below may query and retrieve (pacs-behaviour.md: an unknown caller's
        # C-MOVE is answered with A-ABORT).
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowFind": False,
        "DicomAlwaysAllowFindWorklist": False,
        "DicomAlwaysAllowGet": False,
        "DicomAlwaysAllowMove": False,
        "DicomModalities": {d.ae_title.lower(): _modality(d) for d in destinations},
        # Store instances of SOP classes DCMTK does not know (private classes
        # of planning systems, scanners' raw data): a hospital archive must keep
        # them, and Orthanc 1.10 refuses them by default ("promiscuous mode").
        "UnknownSopClassAccepted": True,
        # Keep every file in the transfer syntax it arrived in.
        "StorageCompression": False,
        # Throw-away storage: skip fsync and job persistence, both slow.
        "SyncStorageArea": False,
        "SaveJobs": False,
    }


@contextlib.contextmanager
def running_orthanc(
    folder: Path, files: Iterable[Path], destinations: Sequence[MoveDestination],
    host: str = HOST, prefix: Sequence[str] = (), tls: OrthancTls | None = None,
    transcode: bool = True,
) -> Iterator[PeerServer]:
    """Orthanc holding ``files``; ``destinations`` are its DicomModalities.

    With ``transcode`` False it never converts what it sends (see
    :func:`orthanc_configuration`).

    On loopback by default; ``prefix`` (e.g. ``ip netns exec NS``) runs it
    elsewhere, reachable at ``host``. With ``tls`` its DICOM port speaks only
    DICOM over TLS, and the fixture loads and checks the data over TLS too.
    """
    instances = describe(files)
    log_path = folder / "orthanc.log"
    with contextlib.ExitStack() as stack:
        for attempt in range(START_ATTEMPTS):
            dicom_port, http_port = free_ports(2)
            config_path = folder / "orthanc.json"
            configuration = orthanc_configuration(folder, dicom_port, http_port,
                                                   destinations, tls, transcode)
            config_path.write_text(json.dumps(configuration, indent=2))
            # --verbose: every association and C-STORE/FIND/MOVE/GET is in the log.
            command = [*prefix, _required(find_binary("Orthanc"), "Orthanc"), "--verbose",
                       str(config_path)]
            attempt_stack = contextlib.ExitStack()
            process = attempt_stack.enter_context(_server_process(command, log_path))
            try:
                _wait_for_echo(process, ORTHANC_AE_TITLE, dicom_port, log_path, host, tls)
                _load(instances, ORTHANC_AE_TITLE, dicom_port, folder, log_path, host, tls)
            except PeerError:
                attempt_stack.close()
                # Another program took one of its free ports between our pick
                # and its bind (its HTTP port: Orthanc then answers one C-ECHO
                # and stops). Pick again; anything else is a real failure.
                if attempt + 1 < START_ATTEMPTS and _port_was_taken(log_path):
                    continue
                raise
            stack.push(attempt_stack)
            break
        yield PeerServer(
            kind="orthanc",
            ae_title=ORTHANC_AE_TITLE,
            host=host,
            port=dicom_port,
            folder=folder,
            log_path=log_path,
            move_destinations=tuple(destinations),
            instances=instances,
            http_port=http_port,
            tls=tls,
        )


def _port_was_taken(log_path: Path) -> bool:
    return "already in use" in log_path.read_text(errors="replace")


# --- DCMTK dcmqrscp ---------------------------------------------------------


def _dcmqrscp_configuration(
    port: int, database: Path, destinations: Sequence[MoveDestination]
) -> str:
    """dcmqrscp.cfg (dcmqrdb/docs/dcmqrcnf.txt): the HostTable maps each move
    destination's AE title to an address; ANY lets every caller in."""
    hosts = [f"{d.ae_title.lower()} = ({d.ae_title}, {d.host}, {d.port})" for d in destinations]
    symbols = ", ".join(d.ae_title.lower() for d in destinations)
    return "\n".join(
        [
            f"NetworkTCPPort  = {port}",
            "MaxPDUSize      = 16384",
            "MaxAssociations = 16",
            "HostTable BEGIN",
            *hosts,
            "HostTable END",
            "VendorTable BEGIN",
            f'"qrscope interop" = {symbols}',
            "VendorTable END",
            "AETable BEGIN",
            f'{DCMQRSCP_AE_TITLE} "{database}" RW (500, 1024mb) ANY',
            "AETable END",
            "",
        ]
    )


def _dcmqrscp_profiles(instances: Sequence[StoredInstance]) -> str:
    """Association profiles for ``dcmqrscp --assoc-config-file``.

    ``Incoming`` accepts each SOP class of the data in every syntax of
    :data:`STORABLE` (and any other syntax the data uses), with role BOTH so
    that a C-GET requestor's SCP role is granted and a storescu's default role
    still works (dul.h documents DCMTK's role table). Without a profile
    dcmqrscp accepts only uncompressed data plus one ``+x`` syntax.

    ``Outgoing`` is what C-MOVE sub-associations propose: per SOP class, one
    context per syntax group the data holds (:func:`syntax_groups`: one for
    the uncompressed syntaxes, one per compressed syntax), most instances
    first. dcmqrscp sends every instance on the *first* accepted context of
    its SOP class (``ASC_findAcceptedPresentationContextID`` without a
    transfer syntax, dcmqrdb/libsrc/dcmqrcbm.cc and dcmqrcbg.cc, still so in
    3.7.0), whatever its syntax, and links no codec, so it cannot convert to
    or from a compressed syntax: the later contexts of a class are accepted
    and never used, and by C-MOVE it serves one syntax group per SOP class;
    see :func:`one_syntax_per_sop_class` and :func:`running_dcmqrscp`.
    """
    pairs = _storage_pairs(instances)
    sop_classes = list(dict.fromkeys(sop_class for sop_class, _ in pairs))
    storable = list(dict.fromkeys([*STORABLE, *(ts for _, ts in pairs)]))
    outgoing = [(sop_class, "Uncompressed" if group == UNCOMPRESSED_GROUP
                 else f"TS{storable.index(group)}")
                for sop_class, groups in syntax_groups(instances).items() for group in groups]
    if len(outgoing) > MAX_CONTEXTS:
        raise PeerError(
            f"C-MOVE would need {len(outgoing)} presentation contexts, over {MAX_CONTEXTS}"
        )

    lines = ["[[TransferSyntaxes]]", "[Storable]"]
    lines += [f"TransferSyntax{n} = {ts}" for n, ts in enumerate(storable, start=1)]
    lines += ["[Uncompressed]"]
    lines += [f"TransferSyntax{n} = {ts}" for n, ts in enumerate(UNCOMPRESSED, start=1)]
    for number, syntax in enumerate(storable):
        lines += [f"[TS{number}]", f"TransferSyntax1 = {syntax}"]
    lines += ["[[PresentationContexts]]", "[Incoming]"]
    lines += [
        f"PresentationContext{n} = {sop}\\Storable" for n, sop in enumerate(sop_classes, start=1)
    ]
    lines += ["[Outgoing]"]
    lines += [
        f"PresentationContext{n} = {sop}\\{key}" for n, (sop, key) in enumerate(outgoing, start=1)
    ]
    lines += ["[[SCPSCURoleSelection]]", "[AnyRole]"]
    lines += [f"Role{n} = {sop}\\BOTH" for n, sop in enumerate(sop_classes, start=1)]
    lines += ["[[Profiles]]"]
    lines += ["[Incoming]", "PresentationContexts = Incoming", "SCPSCURoleSelection = AnyRole"]
    lines += ["[Outgoing]", "PresentationContexts = Outgoing"]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def running_dcmqrscp(
    folder: Path, files: Iterable[Path], destinations: Sequence[MoveDestination],
    host: str = HOST, prefix: Sequence[str] = (), every_syntax: bool = False,
) -> Iterator[PeerServer]:
    """DCMTK dcmqrscp holding ``files``; ``destinations`` are its HostTable.

    On loopback by default; ``prefix`` (e.g. ``ip netns exec NS``) runs it
    elsewhere, reachable at ``host``.

    It is loaded with the subset of ``files`` it can hold (see
    :func:`known_to_dcmtk`) and move unchanged (see
    :func:`one_syntax_per_sop_class`); ``PeerServer.instances`` lists them.

    With ``every_syntax`` it holds every file it can hold, a class in several
    syntax groups included: what it can serve by C-GET, where qrscope offers
    each syntax alone when an instance did not come. Measured with 3.6.7 and
    an RT Dose in Implicit VR, Big Endian, Explicit VR and RLE Lossless: its
    C-MOVE proposes the class once per group (:func:`_dcmqrscp_profiles`), our
    listener accepts both contexts, and dcmqrscp still sends every dose on the
    first, the uncompressed one; the RLE dose never leaves it ("unable to
    convert DICOM file ... from 'RLE Lossless' transfer syntax to 'Little
    Endian Explicit'"), is counted failed and listed in the Failed SOP
    Instance UID List, final 0xB000. Such instances are
    ``PeerServer.unmovable``; a C-GET brings them.
    """
    known = known_to_dcmtk(describe(files))
    instances = known if every_syntax else one_syntax_per_sop_class(known)
    (port,) = free_ports(1)
    database = folder / "database"
    database.mkdir()
    config_path = folder / "dcmqrscp.cfg"
    config_path.write_text(_dcmqrscp_configuration(port, database, destinations))
    profiles_path = folder / "dcmqrscp-profiles.cfg"
    profiles_path.write_text(_dcmqrscp_profiles(instances))
    log_path = folder / "dcmqrscp.log"
    command = [
        *prefix,
        _required(find_dcmtk_tool("dcmqrscp"), "DCMTK dcmqrscp"),
        # Not --single-process: Debian's 3.6.7 build (3.6.7-9~deb12u4) crashes
        # with SIGSEGV in ASC_dropAssociation after the first association in
        # that mode (use-after-free, DCMTK bug #1075, fixed upstream in 3.6.8).
        # The default forks a child per association; _stop kills the group.
        "--config", str(config_path),
        # Peers are never looked up by address (no reverse DNS per association).
        "--disable-host-lookup",
        # Accept compressed syntaxes on store, grant the C-GET SCP role, and
        # propose the stored syntaxes on C-MOVE: see _dcmqrscp_profiles.
        # (dcmqrscp has no --accept-all; that option belongs to storescp.)
        "--assoc-config-file", str(profiles_path), "Incoming", "Outgoing",
        # Write each received data set to disk exactly as it came.
        "--bit-preserving",
        # Strictly hierarchical, as PS3.4 C.4.1.2.2 asks: refuse (0xA900) a
        # C-FIND or C-MOVE identifier with keys other than the unique keys of
        # the levels above, or a list where one value is required.
        "--check-find",
        "--check-move",
        # Every association and DIMSE message in the log.
        "--verbose",
    ]  # fmt: skip
    with _server_process(command, log_path) as process:
        _wait_for_echo(process, DCMQRSCP_AE_TITLE, port, log_path, host)
        _load(instances, DCMQRSCP_AE_TITLE, port, folder, log_path, host)
        yield PeerServer(
            kind="dcmqrscp",
            ae_title=DCMQRSCP_AE_TITLE,
            host=host,
            port=port,
            folder=folder,
            log_path=log_path,
            move_destinations=tuple(destinations),
            instances=instances,
            unmovable=frozenset(i.sop_instance_uid for i in instances)
            - {i.sop_instance_uid for i in one_syntax_per_sop_class(instances)},
        )


# --- qrscope's demo PACS, on stock pynetdicom --------------------------------


@contextlib.contextmanager
def running_demo_pacs(
    folder: Path, files: Iterable[Path], destinations: Sequence[MoveDestination],
    host: str = HOST, fault: str = "reject-called-aet",
) -> Iterator[PeerServer]:
    """qrscope's demo PACS holding ``files``, in a process of its own on stock pynetdicom.

    The demo PACS is written with the same engine as the code under test; run
    in the same process, a defect of the tuned engine would sit on both ends
    and cancel out. Here it runs as a user would start it (``qrscope
    demo-pacs``) with ``QRSCOPE_ENGINE=stock``, whatever engine the suite
    tests. It checks the called AE title, as a strict archive does, unless
    *fault* names another of its faults (``qrscope demo-pacs --fault``, e.g. ``busy:2``).
    """
    instances = describe(files)
    data = folder / "data"
    data.mkdir()
    for number, instance in enumerate(instances):
        os.link(instance.path, data / f"{number:05d}.dcm")
    (port,) = free_ports(1)
    config = folder / "profiles.json"
    config.write_text(json.dumps({"local": {"ae_title": "DEMOLOCAL"}}))
    log_path = folder / "demo-pacs.log"
    command = [
        "env", "QRSCOPE_ENGINE=stock", sys.executable, "-m", "qrscope", "demo-pacs",
        "--data", str(data), "--port", str(port), "--bind", host,
        "--pacs-aet", DEMO_PACS_AE_TITLE, "--config", str(config),
        # By default as strict as Orthanc with DicomCheckCalledAet: a typo is refused.
        "--fault", fault,
        *(f"--dest={d.ae_title}={d.host}:{d.port}" for d in destinations),
    ]  # fmt: skip
    with _server_process(command, log_path) as process:
        _wait_for_echo(process, DEMO_PACS_AE_TITLE, port, log_path, host)
        said = log_path.read_text(errors="replace")
        if "stock pynetdicom" not in said:
            raise _failure("the demo PACS did not say it runs on stock pynetdicom", log_path)
        yield PeerServer(
            kind="demo-pacs",
            ae_title=DEMO_PACS_AE_TITLE,
            host=host,
            port=port,
            folder=folder,
            log_path=log_path,
            move_destinations=tuple(destinations),
            instances=instances,
        )
