"""Learn what a retrieve will bring before asking for it.

C-GET must propose a storage context for every SOP class the PACS will send
(see :mod:`qrscope.core.retrieve.contexts`), so before a C-GET whose scope does
not say which classes to expect, we ask: SOP Classes in Study first (one
response), then the instances' SOP Class UIDs when the PACS does not support
that key. A failed look-up is not an error: the broad default set is used.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from qrscope.core.association_log import AssociationLog
from qrscope.core.connection import AssociationFailure
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.query import FindOperation, QueryFilter
from qrscope.core.records import InstanceRecord, QueryLevel, Record, StudyRecord
from qrscope.core.retrieve.types import RetrieveScope

__all__ = ["learn_sop_classes"]

_LOGGER = logging.getLogger(__name__)
INSTANCE_LOOKUP_LIMIT = 20_000


def learn_sop_classes(scope: RetrieveScope, node: RemoteNode, local: LocalAE,
                      log: AssociationLog) -> RetrieveScope:
    """*scope* with ``sop_classes`` and ``modalities`` filled from C-FIND where possible."""
    if scope.sop_classes:
        return scope
    base = QueryFilter(study_uid=scope.study_uid, patient_id=scope.patient_id)
    try:
        studies = _find(node, local, log, QueryLevel.STUDY, base, 1)
        study = next((s for s in studies if isinstance(s, StudyRecord)), None)
        if study is not None:
            scope = replace(scope, modalities=scope.modalities or study.modalities)
            if study.sop_classes and scope.level is QueryLevel.STUDY:
                return replace(scope, sop_classes=study.sop_classes)
        narrowed = replace(base, series_uid="\\".join(scope.series_uids),
                           sop_instance_uid="\\".join(scope.instance_uids))
        instances = _find(node, local, log, QueryLevel.IMAGE, narrowed, INSTANCE_LOOKUP_LIMIT)
    except AssociationFailure as exc:
        _LOGGER.info("could not learn SOP classes before C-GET: %s", exc)
        return scope
    classes = tuple(dict.fromkeys(
        r.sop_class_uid for r in instances if isinstance(r, InstanceRecord) and r.sop_class_uid
    ))
    return replace(scope, sop_classes=classes) if classes else scope


def _find(node: RemoteNode, local: LocalAE, log: AssociationLog, level: QueryLevel,
          query: QueryFilter, limit: int) -> list[Record]:
    result = FindOperation(node, local, log, level, query, limit=limit).run()
    return result.records
