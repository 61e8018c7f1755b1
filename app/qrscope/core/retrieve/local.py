"""What of a retrieve is already on this computer, and the requests for the rest.

Read from the archive index (:mod:`qrscope.core.archive.index`), which
knows every instance the listener filed or an import added, wherever the
study's folder is and whatever its files are called (instances imported in
place live outside the storage folder): the Local column of a search, the
"already here" dialog and "fetch only what is missing" all ask it.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from qrscope.core.archive.index import open_index
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.retrieve.plan import RetrievePlan, RetrievePlanner
from qrscope.core.retrieve.types import RetrieveScope

__all__ = ["local_counts", "local_instance_uids", "missing_scopes", "what_is_missing"]


def local_instance_uids(storage: Path, study_uid: str) -> set[str]:
    """SOP Instance UIDs of *study_uid* the archive of *storage* holds."""
    return open_index(storage).instance_uids(study_uid)


def local_counts(storage: Path, study_uids: list[str]) -> dict[str, int]:
    """How many instances of each study the archive of *storage* holds (the Local column)."""
    return open_index(storage).count_instances(study_uids)


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
