"""Receiving one C-STORE: file it, describe it, answer with the right status.

Shared by the storage listener (C-MOVE sub-operations arrive on associations
the PACS opens to us) and C-GET (they arrive on our own association), so
both store identically and report the same facts.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pynetdicom import _config

from qrscope.core.dicom.status import CANNOT_UNDERSTAND, OUT_OF_RESOURCES, SUCCESS
from qrscope.core.engine.pynetdicom_private import finish_incoming, receive_data_sets_into
from qrscope.core.receive.storage import (
    DataSetMismatch,
    InstanceStore,
    StorageError,
    StoredInstance,
    UnparseableInstance,
)

__all__ = ["INCOMING_FOLDER", "ReceivedInstance", "prepare_to_receive", "receive_store",
           "refuse_store"]

# Where data sets are written as they arrive, inside the storage folder so
# that filing one is a hard link (see pynetdicom_private.receive_data_sets_into).
INCOMING_FOLDER = ".incoming"
# A file there untouched this long belongs to a transfer that died (an abort
# mid-instance leaves it behind): safe to remove.
STALE_AFTER_SECONDS = 600.0

_LOGGER = logging.getLogger(__name__)

# The retrieve job tells a full disk by this status (kept under this name for it).
STATUS_OUT_OF_RESOURCES = OUT_OF_RESOURCES


@dataclass(frozen=True)
class ReceivedInstance:
    """An incoming C-STORE and what became of it."""

    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax: str
    calling_ae: str
    called_ae: str
    peer_address: str
    association_id: str
    originator_ae: str = ""
    originator_message_id: int | None = None
    stored: StoredInstance | None = None
    status: int = SUCCESS
    error: str = ""
    job_id: str | None = None
    refused: bool = False
    """Turned away before filing (policy, context, a data set that is not the command's):
    never credited to a retrieve, whoever sent it."""
    time: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def ok(self) -> bool:
        return self.stored is not None

    @property
    def study_uid(self) -> str:
        return self.stored.study_uid if self.stored else ""

    @property
    def series_uid(self) -> str:
        return self.stored.series_uid if self.stored else ""


def prepare_to_receive(store: InstanceStore) -> None:
    """Get pynetdicom ready to receive into *store*: every class, streamed to disk.

    Every SOP class, private and retired ones included: without
    ``_config.UNRESTRICTED_STORAGE_SERVICE``, pynetdicom answers a C-STORE of
    a class it has no service class for with 0x0122 (SOP class not
    supported), both at the listener and inside a C-GET, and the instance is
    lost (Orthanc sends a study's private objects like any other). Streamed:
    each data set is written to a file as it arrives, so a 300 MB instance
    costs a few PDUs of memory, not its size twice over. Both switches are
    process-wide in pynetdicom; every storage SCP in this process, the demo
    PACS's included, then negotiates and receives the same way, which is
    what qrscope wants everywhere.
    """
    _config.UNRESTRICTED_STORAGE_SERVICE = True
    incoming = store.root / INCOMING_FOLDER
    receive_data_sets_into(incoming)
    remove_stale_incoming(incoming)


def remove_stale_incoming(folder: Path, older_than: float = STALE_AFTER_SECONDS) -> int:
    """Remove what dead transfers left in *folder*; returns how many files."""
    removed = 0
    cutoff = time.time() - older_than
    with contextlib.suppress(OSError):
        for item in folder.glob(".incoming-*"):
            with contextlib.suppress(OSError):
                if item.stat().st_mtime < cutoff:
                    item.unlink()
                    removed += 1
    return removed


def _describe(event: Any, association_id: str) -> dict[str, Any]:
    request = event.request
    assoc = event.assoc
    peer = assoc.requestor if assoc.is_acceptor else assoc.acceptor
    local = assoc.acceptor if assoc.is_acceptor else assoc.requestor
    originator_id = request.MoveOriginatorMessageID
    return dict(
        sop_instance_uid=str(request.AffectedSOPInstanceUID or ""),
        sop_class_uid=str(request.AffectedSOPClassUID or ""),
        transfer_syntax=str(event.context.transfer_syntax),
        calling_ae=str(peer.ae_title or "").strip(),
        called_ae=str(local.ae_title or "").strip(),
        peer_address=f"{peer.address}:{peer.port}",
        association_id=association_id,
        originator_ae=str(request.MoveOriginatorApplicationEntityTitle or "").strip(),
        originator_message_id=int(originator_id) if originator_id is not None else None,
    )


def refuse_store(event: Any, association_id: str, status: int, reason: str) -> \
        ReceivedInstance:
    """Answer a C-STORE with *status* without filing it; what arrived is removed."""
    path = _received_file(event)
    if path is not None:
        finish_incoming(path)
        with contextlib.suppress(OSError):
            path.unlink()  # when it was large enough to be written
    return ReceivedInstance(**_describe(event, association_id), status=status, error=reason,
                            refused=True)


def receive_store(event: Any, store: InstanceStore, association_id: str) -> ReceivedInstance:
    """Handle pynetdicom's ``EVT_C_STORE``: write the instance, return what happened.

    The data set is written as received (no transcoding): pynetdicom gives
    us the encoded bytes with a file meta header built from the negotiated
    transfer syntax.
    """
    base = _describe(event, association_id)
    path = _received_file(event)
    incoming = None
    try:
        if path is not None:
            incoming = finish_incoming(path)
            failed = incoming.error if incoming is not None else None
            if failed is not None:
                reason = "the disk is full" if failed.errno == errno.ENOSPC else (
                    failed.strerror or str(failed))
                raise StorageError(failed.errno or 0,
                                   f"cannot write the incoming data set: {reason}")
            held = incoming.held() if incoming is not None else None
            _require_data_set(held, path)
            if held is not None:  # small: filed from memory, no incoming file was made
                stored = store.store(held, base["sop_instance_uid"], base["sop_class_uid"])
            else:
                stored = store.store_file(path, base["sop_instance_uid"],
                                          base["sop_class_uid"])
        else:
            data = event.encoded_dataset(include_meta=True)
            _require_data_set(data, None)
            stored = store.store(data, base["sop_instance_uid"], base["sop_class_uid"])
    except DataSetMismatch as exc:
        return ReceivedInstance(**base, status=exc.status, error=str(exc), refused=True)
    except UnparseableInstance as exc:
        where = f"; kept in {exc.quarantined}" if exc.quarantined else ""
        # One line: a sender can repeat this as often as it likes.
        _LOGGER.warning("refused %s from %s (%s): %s%s", base["sop_instance_uid"],
                        base["calling_ae"], base["peer_address"], exc, where)
        return ReceivedInstance(**base, status=CANNOT_UNDERSTAND, error=f"{exc}{where}")
    except StorageError as exc:
        _LOGGER.error("storing %s failed: %s", base["sop_instance_uid"], exc)
        return ReceivedInstance(**base, status=OUT_OF_RESOURCES, error=str(exc))
    finally:
        if path is not None and (incoming is None or incoming.on_disk):
            # Filed by a link (or copied): the name in the incoming folder goes.
            # pynetdicom removes it after a listener's C-STORE but not after
            # one inside a C-GET.
            with contextlib.suppress(OSError):
                path.unlink()
    return ReceivedInstance(**base, stored=stored)


class _NoDataSet(DataSetMismatch):
    """A C-STORE-RQ without a data set (Command Data Set Type 0x0101)."""


def _require_data_set(held: bytes | None, path: Path | None) -> None:
    """Refuse a C-STORE whose data set is empty: only the file meta header was written.

    PS3.7 9.3.1.1: a C-STORE-RQ carries the instance as its data set. One
    without (Command Data Set Type 0x0101) used to be answered success and
    left a file holding nothing but its meta header. The header ends where
    its group length (0002,0000), written first after the preamble, says.
    """
    if held is not None:
        head, size = held[:144], len(held)
    elif path is None:
        return
    else:
        try:
            with path.open("rb") as fh:
                head = fh.read(144)
            size = path.stat().st_size
        except OSError:
            return  # filing will say what is wrong with it
    if head[128:136] != b"DICM\x02\x00\x00\x00" or len(head) < 144:
        return
    if size <= 144 + int.from_bytes(head[140:144], "little"):
        raise _NoDataSet("the C-STORE carried no data set", CANNOT_UNDERSTAND)


def _received_file(event: Any) -> Path | None:
    """The file pynetdicom wrote the data set to, when it streams to disk."""
    if not _config.STORE_RECV_CHUNKED_DATASET:
        return None
    try:
        path = event.dataset_path
    except AttributeError:
        return None
    return Path(path) if isinstance(path, str | Path) else None
