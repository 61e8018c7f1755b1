"""Receiving one C-STORE: file it, describe it, answer with the right status.

Shared by the storage listener (C-MOVE sub-operations arrive on associations
the PACS opens to us) and C-GET (they arrive on our own association), so
both store identically and report the same facts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pynetdicom import _config

from qrscope.core.storage import InstanceStore, StorageError, StoredInstance, UnparseableInstance

__all__ = ["ReceivedInstance", "accept_every_storage_class", "receive_store"]

_LOGGER = logging.getLogger(__name__)

# PS3.4 B.2.3 C-STORE response statuses we answer with.
STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC000


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
    status: int = STATUS_SUCCESS
    error: str = ""
    job_id: str | None = None
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


def accept_every_storage_class() -> None:
    """Handle C-STOREs of every SOP class, private and retired ones included.

    Without this, pynetdicom answers a C-STORE of a class it has no service
    class for with 0x0122 (SOP class not supported), both at the listener and
    inside a C-GET, and the instance is lost (Orthanc sends a study's private
    objects like any other). The switch is process-wide in pynetdicom
    (``_config.UNRESTRICTED_STORAGE_SERVICE``): every storage SCP in this
    process, the demo PACS's C-GET role included, then negotiates and
    handles storage the same way, which is what qrscope wants everywhere.
    """
    _config.UNRESTRICTED_STORAGE_SERVICE = True


def receive_store(event: Any, store: InstanceStore, association_id: str) -> ReceivedInstance:
    """Handle pynetdicom's ``EVT_C_STORE``: write the instance, return what happened.

    The data set is written as received (no transcoding): pynetdicom gives
    us the encoded bytes with a file meta header built from the negotiated
    transfer syntax.
    """
    request = event.request
    assoc = event.assoc
    peer = assoc.requestor if assoc.is_acceptor else assoc.acceptor
    local = assoc.acceptor if assoc.is_acceptor else assoc.requestor
    originator_id = request.MoveOriginatorMessageID
    base = dict(
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
    try:
        data = event.encoded_dataset(include_meta=True)
        stored = store.store(data, base["sop_instance_uid"], base["sop_class_uid"])
    except UnparseableInstance as exc:
        where = f"; kept in {exc.quarantined}" if exc.quarantined else ""
        return ReceivedInstance(**base, status=STATUS_CANNOT_UNDERSTAND, error=f"{exc}{where}")
    except StorageError as exc:
        _LOGGER.error("storing %s failed: %s", base["sop_instance_uid"], exc)
        return ReceivedInstance(**base, status=STATUS_OUT_OF_RESOURCES, error=str(exc))
    return ReceivedInstance(**base, stored=stored)
