"""A second chance for C-GET sub-operations that failed over a transfer syntax.

With C-GET we propose the storage contexts, and an SCP must pick, for each
instance, an accepted context it can send the instance on. DCMTK's
``dcmqrscp`` (and PACS built on its libraries) takes the first accepted
context of the instance's SOP class whatever its syntax, and fails the
sub-operation when it cannot convert, e.g. an RLE image offered on an
explicit little endian context (DCMTK dcmqrdb ``dcmqrcbg.cc``). No single
proposal suits both compressed and uncompressed instances of one class, so
the instances that failed are asked for again, series by series, offering
one compressed syntax at a time, until they arrive or the syntaxes run out.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import TYPE_CHECKING

from qrscope.core.association_log import Direction
from qrscope.core.connection import AssociationFailure
from qrscope.core.query import FindOperation, QueryFilter
from qrscope.core.records import InstanceRecord, QueryLevel
from qrscope.core.retrieve.contexts import COMPRESSED
from qrscope.core.retrieve.types import RetrieveScope

if TYPE_CHECKING:
    from qrscope.core.retrieve import RetrieveJob

__all__ = ["recover_failed_instances"]

_LOGGER = logging.getLogger(__name__)


def _locate(job: RetrieveJob, uids: list[str]) -> dict[str, InstanceRecord]:
    """Series and SOP class of each failed instance (the IMAGE-level retry needs both)."""
    query = QueryFilter(study_uid=job.scope.study_uid, patient_id=job.scope.patient_id,
                        sop_instance_uid="\\".join(uids))
    found = FindOperation(job.node, job.local, job.log, QueryLevel.IMAGE, query).run()
    return {r.sop_instance_uid: r for r in found.records if isinstance(r, InstanceRecord)
            and r.sop_instance_uid in uids}


def recover_failed_instances(job: RetrieveJob, failed_uids: list[str]) -> set[str]:
    """Retry *failed_uids* of *job* one compressed syntax at a time.

    Instances that arrive are delivered to *job* as usual. Returns the SOP
    Instance UIDs recovered.
    """
    try:
        remaining = _locate(job, failed_uids)
    except AssociationFailure as exc:
        _LOGGER.info("cannot locate failed instances for a retry: %s", exc)
        return set()
    recovered: set[str] = set()
    for syntax in COMPRESSED:
        if not remaining or job.cancelled:
            break
        by_series: dict[str, list[InstanceRecord]] = defaultdict(list)
        for record in remaining.values():
            by_series[record.series_uid or ""].append(record)
        for series_uid, records in by_series.items():
            got = _retry(job, series_uid, records, str(syntax))
            recovered |= got
            for uid in got:
                remaining.pop(uid, None)
    return recovered


def _retry(job: RetrieveJob, series_uid: str, records: list[InstanceRecord],
           syntax: str) -> set[str]:
    from pydicom.uid import UID

    from qrscope.core.retrieve import RetrieveJob

    uids = [r.sop_instance_uid for r in records]
    classes = tuple(dict.fromkeys(r.sop_class_uid for r in records if r.sop_class_uid))
    job.log.record(job.log.new_association_id(Direction.OUTGOING), Direction.OUTGOING,
                   "get-retry", f"asking again for {len(uids)} instance(s) that failed, "
                   f"offering only {UID(syntax).name}", job_id=job.job_id,
                   peer_ae=job.node.ae_title, detail={"syntax": syntax, "instances": uids})
    scope = RetrieveScope.instances(job.scope.study_uid, series_uid, *uids,
                                    patient_id=job.scope.patient_id, sop_classes=classes)
    child = RetrieveJob(job.node, job.local, job.log, scope, method=job.method,
                        store=job.store, only_syntax=syntax, parent=job, debug=job.debug)
    outcome = child.run()
    return {r.sop_instance_uid for r in outcome.stored}
