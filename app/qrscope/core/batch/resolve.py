"""Each batch item to its studies, by C-FIND as a strict PACS requires.

A strict PACS answers only the searches its index can serve: an accession
number at STUDY level (Study Root), a Patient ID with a date range, a Study
Instance UID. Many stop at a number of matches (Orthanc's
``LimitFindResults``, a hospital PACS's 500 or 1,000) or refuse a search that
would go past it (0xA700 Out of Resources, PS3.4 C.4.1.1.4): a search of a
patient's studies that hits the limit is asked again in two halves of its
date range, and so on, so that no study is silently left out.

:meth:`Resolver.cancel` ends the search under way at once (C-CANCEL, as the
search page's cancel does), not after the PACS's answer.

A batch's rows are resolved on one association (:meth:`Resolver.resolve_all`):
opening and releasing one per row cost more than the C-FIND itself, for the
PACS too.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from qrscope.core.batch.items import BatchItem, FoundStudy, ItemProgress, ItemStatus
from qrscope.core.dicom.records import QueryLevel, StudyRecord
from qrscope.core.dicom.status import StatusCategory
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.net.connection import OutgoingAssociation
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.query.find import (
    FindAssociation,
    FindOperation,
    FindResult,
    QueryFilter,
)

__all__ = ["RESULT_LIMIT", "Resolution", "Resolver"]

RESULT_LIMIT = 500
"""Matches taken from one search before it is taken as cut short by the PACS."""
_EARLIEST = dt.date(1900, 1, 1)
_OUT_OF_RESOURCES = 0xA700


@dataclass(frozen=True)
class Resolution:
    """What an item resolved to: found (with its studies), not found, ambiguous or failed."""

    status: ItemStatus
    studies: tuple[FoundStudy, ...] = ()
    reason: str = ""
    queries: int = 0
    """C-FIND requests it took (more than one where a limit was split)."""

    @property
    def expected(self) -> int | None:
        """Instances of its studies as the PACS counted them (None: not said for every one)."""
        counts = [s.instances for s in self.studies]
        return None if not counts or None in counts else sum(c or 0 for c in counts)

    def applied_to(self, progress: ItemProgress) -> ItemProgress:
        """*progress* with this resolution: the one step from an answer to an item's state,
        for the run, the window's review and ``--dry-run`` alike."""
        return progress.but(status=self.status, studies=self.studies, expected=self.expected,
                            reason=self.reason)


class _LimitHit(Exception):
    """One search reached the limit; its date range must be split."""


class Resolver:
    """Resolves items against one node: one C-FIND association per search, or one for
    all the items of :meth:`resolve_all`.

    Raises ``AssociationFailure`` from :meth:`resolve` when the node cannot
    be reached: the batch then stops, where a not-found would mislead.
    """

    def __init__(self, node: RemoteNode, local: LocalAE, log: AssociationLog, *,
                 limit: int = RESULT_LIMIT, debug: bool = False,
                 today: dt.date | None = None) -> None:
        self.node = node
        self.local = local
        self.log = log
        self.limit = limit
        self.debug = debug
        self.today = today or dt.date.today()
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._operation: FindOperation | None = None
        self._shared: FindAssociation | None = None

    def cancel(self) -> None:
        """From any thread: the C-FIND under way is cancelled (C-CANCEL), none starts
        after it; the item it was for resolves as failed, "cancelled"."""
        with self._lock:
            self._cancelled.set()
            operation = self._operation
        if operation is not None:
            operation.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def _run(self, operation: FindOperation) -> FindResult | None:
        """*operation* run, cancellable by :meth:`cancel`; ``None``: cancelled."""
        with self._lock:
            if self.cancelled:
                return None
            self._operation = operation
        try:
            result = operation.run()
        finally:
            with self._lock:
                self._operation = None
        return None if result.cancelled or self.cancelled else result

    def resolve_all(self, items: Iterable[BatchItem]) -> Iterator[Resolution]:
        """Each item's :meth:`resolve` in turn, every search on one association
        (:class:`~qrscope.core.query.find.FindAssociation`: opened at the first,
        again only if the PACS ended it or it idled; one a search on stock
        pynetdicom, whose reactor can drop a later response on a shared one);
        released when the items are done or the caller stops (closes the iterator)."""
        self._shared = FindAssociation(self.node, self.local, self.log, debug=self.debug)
        try:
            for item in items:
                yield self.resolve(item)
        finally:
            shared, self._shared = self._shared, None
            shared.close()

    def _association(self) -> OutgoingAssociation | None:
        """The association the next search runs on; None: its own (a single resolve)."""
        return self._shared.get() if self._shared is not None else None

    def resolve(self, item: BatchItem) -> Resolution:
        search = _Search(self, item)
        studies, split = search.studies()
        if search.failure:
            return Resolution(ItemStatus.FAILED, reason=search.failure, queries=search.queries)
        if not studies:
            return Resolution(ItemStatus.NOT_FOUND, reason=f"the PACS has no study of "
                              f"{item.describe()}", queries=search.queries)
        by_accession = item.accession_number and not item.study_uid
        if by_accession and len(studies) > 1:
            return Resolution(ItemStatus.AMBIGUOUS, studies, (
                f"accession {item.accession_number} matches {len(studies)} studies ("
                f"{', '.join(f'{s.patient_id} {s.study_date}' for s in studies)}); "
                "give the Patient ID or the Study Instance UID too"), search.queries)
        note = (f"the search reached the limit of {self.limit} matches and was split "
                f"into {search.queries} date ranges") if split else ""
        return Resolution(ItemStatus.FOUND, studies, note, search.queries)


class _Search:
    """The searches of one item: one, or a date range split where the limit was hit."""

    def __init__(self, resolver: Resolver, item: BatchItem) -> None:
        self.resolver = resolver
        self.item = item
        self.queries = 0
        self.failure = ""

    def studies(self) -> tuple[tuple[FoundStudy, ...], bool]:
        """The studies found (by UID, in date order) and whether a split was needed."""
        try:
            return self._unique(self._find(self.item.study_date)), False
        except _LimitHit:
            if self.item.study_uid or (self.item.accession_number
                                       and not self.item.patient_id):
                self.failure = (f"the PACS answered more than {self.resolver.limit} "
                                "studies for one accession number or UID")
                return (), False
        start, end = _bounds(self.item.study_date, self.resolver.today)
        found: list[FoundStudy] = []
        self._split(start, end, found)
        return self._unique(found), True

    def _split(self, start: dt.date, end: dt.date, found: list[FoundStudy]) -> None:
        if self.failure:
            return
        try:
            found += self._find(f"{start:%Y%m%d}-{end:%Y%m%d}")
            return
        except _LimitHit:
            if start >= end:
                self.failure = (f"more than {self.resolver.limit} studies on {start:%Y-%m-%d}"
                                " alone: narrow the item (modality) or raise the limit")
                return
        middle = start + (end - start) // 2
        self._split(start, middle, found)
        self._split(middle + dt.timedelta(days=1), end, found)

    def _find(self, dates: str) -> list[FoundStudy]:
        item, resolver = self.item, self.resolver
        query = QueryFilter(accession_number=item.accession_number,
                            patient_id=item.patient_id, study_uid=item.study_uid,
                            study_date=dates,
                            modalities=(item.modality,) if item.modality else ())
        operation = FindOperation(resolver.node, resolver.local, resolver.log,
                                  QueryLevel.STUDY, query, limit=resolver.limit,
                                  debug=resolver.debug, association=resolver._association())
        self.queries += 1
        result = resolver._run(operation)
        if result is None:
            self.failure = "cancelled before the PACS answered"
            return []
        if _limit_hit(result, resolver.limit):
            raise _LimitHit
        if result.failed:
            self.failure = (f"the search failed: {result.status}" if result.status else
                            "the PACS ended the search without an answer")
            return []
        return [_found(r) for r in result.records if isinstance(r, StudyRecord)]

    @staticmethod
    def _unique(found: list[FoundStudy]) -> tuple[FoundStudy, ...]:
        by_uid = {s.study_uid: s for s in found if s.study_uid}
        return tuple(sorted(by_uid.values(), key=lambda s: (s.study_date, s.study_uid)))


def _limit_hit(result: FindResult, limit: int) -> bool:
    """The search was cut at the limit by us, or refused by the PACS for its size."""
    status = result.status
    refused = (status is not None and status.category is StatusCategory.FAILURE
               and status.code & 0xFF00 == _OUT_OF_RESOURCES)
    return result.truncated or result.count >= limit or refused


def _bounds(dates: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """A DICOM date or range as its first and last day (open ends: 1900, today)."""
    start, _, end = dates.partition("-") if "-" in dates else (dates, "", dates)
    first = dt.datetime.strptime(start, "%Y%m%d").date() if start else _EARLIEST
    last = dt.datetime.strptime(end, "%Y%m%d").date() if end else today
    return first, max(first, last)


def _found(record: StudyRecord) -> FoundStudy:
    return FoundStudy(study_uid=record.study_uid, patient_id=record.patient_id,
                      accession_number=record.accession_number,
                      study_date=record.study_date,
                      instances=record.number_of_instances)
