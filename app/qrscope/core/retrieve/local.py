"""What of a retrieve is already on this computer, and the requests for the rest.

The storage folder files an instance as
``<storage>/<PatientID>/<StudyUID>/<SeriesUID>/<SOPInstanceUID>.dcm`` (a
different object with the same UID as ``<uid>~<hash>.dcm``), so the SOP
Instance UIDs present are the file names under the study's folder.
"""

from __future__ import annotations

import glob
from collections import defaultdict
from pathlib import Path

from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.retrieve.plan import RetrievePlan, RetrievePlanner
from qrscope.core.retrieve.types import RetrieveScope

__all__ = ["local_instance_uids", "missing_scopes", "what_is_missing"]


def local_instance_uids(storage: Path, study_uid: str) -> set[str]:
    """SOP Instance UIDs of *study_uid* in the storage folder."""
    pattern = f"*/{glob.escape(study_uid)}/*/*.dcm"
    return {path.stem.split("~", 1)[0] for path in Path(storage).glob(pattern)}


def missing_scopes(plan: RetrievePlan, have: set[str]) -> list[RetrieveScope] | None:
    """One request per series for the planned instances not in *have*.

    ``None`` when the plan is not complete (the PACS did not list every
    instance): what is missing is then not known, and only the whole scope
    can be asked for.
    """
    if not plan.complete:
        return None
    by_series: dict[str, list[str]] = defaultdict(list)
    for instance in plan.instances:
        if instance.sop_instance_uid not in have:
            by_series[instance.series_uid].append(instance.sop_instance_uid)
    scope = plan.scope
    return [RetrieveScope.instances(scope.study_uid, series, *uids,
                                    patient_id=scope.patient_id)
            for series, uids in by_series.items()]


def what_is_missing(node: RemoteNode, local: LocalAE, log: AssociationLog,
                    scope: RetrieveScope, *, debug: bool = False,
                    ) -> list[RetrieveScope] | None:
    """The requests for what of *scope* is not in the storage folder (``None``: not known).

    Asks the PACS for the scope's instances (C-FIND, :class:`RetrievePlanner`)
    and compares them with the files on disk: the window's "only what is
    missing" and the resume of an interrupted job. Raises
    ``AssociationFailure``.
    """
    plan = RetrievePlanner(node, local, log, debug=debug).learn(scope)
    return missing_scopes(plan, local_instance_uids(local.storage_folder, scope.study_uid))
