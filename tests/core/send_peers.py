"""A small Storage SCP for the send tests: it takes only the classes and syntaxes it is
told, keeps every data set's bytes as they came, and counts C-STOREs per instance."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, _config, evt
from pynetdicom.dsutils import split_dataset
from pynetdicom.service_class import StorageServiceClass
from pynetdicom.sop_class import register_uid, uid_to_service_class

from qrscope.core.archive.importer import ImportMode, import_paths
from qrscope.core.archive.index import ArchiveLevel, close_index, open_index
from qrscope.core.send.selection import SendSelection
from qrscope.demo_pacs import build_sample_studies
from qrscope.demo_pacs.clinical import build_clinical_studies


@dataclass
class StoreSCP:
    """Accepts *accepts*: SOP class -> transfer syntaxes; ``hold`` pauses each C-STORE
    after the first *hold_after* until it is set (a send seen mid-way)."""

    accepts: dict[str, list[str]]
    ae_title: str = "STORESCP"
    hold_after: int | None = None
    status: int = 0x0000
    """What every C-STORE is answered with."""
    hold: threading.Event = field(default_factory=threading.Event)
    received: dict[str, bytes] = field(default_factory=dict)
    syntaxes: dict[str, str] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    arrived: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    maximum_associations: int = 10
    """More at once are rejected (A-ASSOCIATE-RJ, local limit exceeded), as a PACS's
    limit of associations per AE."""
    established: int = 0
    """Associations established, in all."""
    most_open: int = 0
    """The most associations open at once."""

    def start(self) -> int:
        # Only what it is told, whatever the process set: a private class is
        # registered as storage (pynetdicom's public register_uid), never every
        # class and syntax accepted (UNRESTRICTED_STORAGE_SERVICE).
        self._unrestricted = _config.UNRESTRICTED_STORAGE_SERVICE
        _config.UNRESTRICTED_STORAGE_SERVICE = False
        for uid in self.accepts:
            if uid_to_service_class(uid) is not StorageServiceClass:
                register_uid(uid, "Private" + uid.replace(".", "_"), StorageServiceClass)
        ae = AE(ae_title=self.ae_title)
        ae.require_called_aet = True
        ae.maximum_associations = self.maximum_associations
        self._open: set[int] = set()
        self._counting = threading.Lock()
        for sop_class, syntaxes in self.accepts.items():
            ae.add_supported_context(sop_class, syntaxes)
        self._server = ae.start_server(("127.0.0.1", 0), block=False,
                                       evt_handlers=[(evt.EVT_C_STORE, self._store),
                                                     (evt.EVT_ESTABLISHED, self._opened),
                                                     (evt.EVT_CONN_CLOSE, self._closed)])
        self.port = self._server.server_address[1]
        return self.port

    def stop(self) -> None:
        self.hold.set()
        self._server.shutdown()
        _config.UNRESTRICTED_STORAGE_SERVICE = self._unrestricted

    def _opened(self, event: evt.Event) -> None:
        with self._counting:
            self.established += 1
            self._open.add(id(event.assoc))
            self.most_open = max(self.most_open, len(self._open))

    def _closed(self, event: evt.Event) -> None:
        with self._counting:
            self._open.discard(id(event.assoc))

    def _store(self, event: evt.Event) -> int:
        uid = str(event.request.AffectedSOPInstanceUID)
        self.counts[uid] += 1
        self.received[uid] = received_bytes(event)
        self.syntaxes[uid] = str(event.context.transfer_syntax)
        self.arrived.release()
        if self.hold_after is not None and sum(self.counts.values()) >= self.hold_after:
            self.hold.wait(30)
        return self.status


def received_bytes(event: evt.Event) -> bytes:
    """The data set as it came. A listener started earlier in this process switched
    pynetdicom's process-wide chunked receiving on: the data set is then in a file
    (``event.dataset_path``), and ``encoded_dataset()`` holds nothing."""
    try:
        path = event.dataset_path
    except (AttributeError, KeyError, ValueError):
        path = None
    if path is not None and Path(path).is_file():
        return data_set_bytes(Path(path))
    return bytes(event.encoded_dataset(include_meta=False))


def build_archive(storage: Path, sources: Path) -> list[Path]:
    """The demo samples and the clinical set, imported into *storage*."""
    files = [*build_sample_studies(sources / "samples"),
             *build_clinical_studies(sources / "clinical")]
    results = import_paths(files, storage, ImportMode.COPY)
    assert all(r.outcome != "failed" for r in results), results
    return files


def archive_fixture(scope: str = "function") -> Any:
    """A pytest fixture ``archive``: the demo samples and the clinical set imported into
    a fresh storage folder (:func:`build_archive`), its index closed afterwards."""
    @pytest.fixture(scope=scope)
    def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
        storage = tmp_path_factory.mktemp("archive")
        build_archive(storage, tmp_path_factory.mktemp("sources"))
        yield storage
        close_index(storage)

    return archive


def uncompressed_series(archive: Path, at_least: int) -> tuple[SendSelection, list[dict]]:
    """The series of *archive* held only in uncompressed syntaxes (any peer takes them
    without conversion), as a selection, and their instances (*at_least* of them)."""
    by_series: dict[str, list[dict]] = {}
    for row in open_index(archive).select(ArchiveLevel.INSTANCE):
        by_series.setdefault(row["series_uid"], []).append(row)
    plain = {s: rows for s, rows in by_series.items()
             if all(r["transfer_syntax"] in (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
                    for r in rows)}
    rows = [r for members in plain.values() for r in members]
    assert len(rows) >= at_least
    return SendSelection(series_uids=tuple(plain)), rows


def data_set_bytes(path: Path) -> bytes:
    """A Part 10 file's data set, as it lies after its file meta information."""
    _meta, offset = split_dataset(path)
    return path.read_bytes()[offset:]


def uids_of(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for sop_class, syntax in pairs:
        out.setdefault(sop_class, []).append(syntax)
    return out

