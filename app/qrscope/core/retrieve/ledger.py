"""A retrieve's books: what was asked, what was received, what was credited.

One :class:`RetrieveLedger` per :class:`~qrscope.core.retrieve.job.RetrieveJob`.
The job's worker thread writes what it asks (requests, their Message IDs,
the plan's count, what recovery asked again for); listener threads and the
C-GET association write what arrives. Every count the job reports, waits on
or puts in the outcome is read here, under one lock, so there are no
counters kept beside it to drift apart.

* **Asked**: the scope, how many instances the plan (C-FIND) expects, the
  requests and their Message IDs (registered before a request is sent: the
  first C-STORE may overtake the C-MOVE-RQ), and the PACS's counts in their
  responses (PS3.4 C.4.2.3, C.4.3.3), merged over the first round.
* **Received**: every instance delivered to the job, stored or not, those
  after the final C-MOVE response (late), those a recovery request brought,
  and the AE titles the node sent under.
* **Credited**: each SOP Instance UID once. A byte-identical second copy is
  recorded nowhere; the job's count is the size of this set.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from qrscope.core.dicom.status import StatusCategory
from qrscope.core.profiles import RetrieveMethod
from qrscope.core.receive.claims import Admission, Standing
from qrscope.core.retrieve.request import RequestCounts

if TYPE_CHECKING:
    from qrscope.core.receive.reception import ReceivedInstance
    from qrscope.core.retrieve.request import RetrieveRequest
    from qrscope.core.retrieve.scope import RetrieveScope

__all__ = ["LedgerRecord", "RetrieveLedger"]


@dataclass(frozen=True)
class LedgerRecord:
    """The ledger when the job closed it: what the outcome is built from."""

    counts: RequestCounts
    requests: tuple[RetrieveRequest, ...]
    message_ids: frozenset[int]
    received: tuple[ReceivedInstance, ...]
    late: tuple[ReceivedInstance, ...]
    recovered: frozenset[str]
    aliases: frozenset[str]
    asked_again: frozenset[str]
    offered_every_class: frozenset[str]
    syntaxes_offered: Mapping[str, tuple[str, ...]]
    """Per instance asked for again, the transfer syntaxes offered alone for it, in turn."""
    patient_id_missing: bool
    expected: int | None


class RetrieveLedger:
    """What one retrieve asked for, received and credited; thread-safe.

    Parameters
    ----------
    scope : RetrieveScope
        What is asked for (the job may learn its Patient ID later: :meth:`rescope`).
    method : RetrieveMethod
        With C-MOVE, instances after the first round's final response are late.
    node_ae : str
        The node's own AE title: an instance under another title is from its alias.
    """

    def __init__(self, scope: RetrieveScope, method: RetrieveMethod, node_ae: str) -> None:
        self._lock = threading.Condition()
        self._method = method
        self._node_ae = node_ae
        self._scope = scope
        self._expected: int | None = None
        self._message_ids: set[int] = set()
        self._first: list[RetrieveRequest] = []  # the requests for the whole scope
        self._requests: list[RetrieveRequest] = []  # every request, recovery included
        self._current: RetrieveRequest | None = None
        self._asked_again: set[str] = set()
        self._offered_every_class: set[str] = set()
        self._syntaxes_offered: dict[str, list[str]] = {}
        self._patient_id_missing = False  # a Patient Root request went out without it
        self._received: list[ReceivedInstance] = []
        self._late: list[ReceivedInstance] = []
        self._recovered: set[str] = set()
        self._credited: set[str] = set()  # SOP Instance UIDs: the job's count
        self._aliases: set[str] = set()  # AE titles the node was seen sending under
        self._sent_as_itself = False
        self._last_arrival = 0.0
        self._closed = False  # the outcome is made: instances go to others

    # -- asked ---------------------------------------------------------------
    @property
    def scope(self) -> RetrieveScope:
        return self._scope

    def rescope(self, scope: RetrieveScope) -> None:
        """The scope with what was learnt since (a Patient ID)."""
        with self._lock:
            self._scope = scope

    @property
    def expected(self) -> int | None:
        """How many instances the plan's C-FIND listed (None: not asked)."""
        return self._expected

    def expect(self, expected: int | None) -> None:
        with self._lock:
            self._expected = expected

    @property
    def message_ids(self) -> set[int]:
        """The Message IDs of the job's requests (live: registering one claims its instances)."""
        return self._message_ids

    def register(self, message_id: int, *, without_patient_id: bool = False) -> None:
        """A request is made: its Message ID is ours before it is sent."""
        with self._lock:
            self._message_ids.add(message_id)
            self._patient_id_missing |= without_patient_id

    def start(self, request: RetrieveRequest, *, first: bool) -> None:
        """*request* runs now; *first*: it is of the first round, for the whole scope."""
        with self._lock:
            self._current = request
            self._requests.append(request)
            if first:
                self._first.append(request)

    def stop(self) -> None:
        with self._lock:
            self._current = None

    @property
    def current(self) -> RetrieveRequest | None:
        with self._lock:
            return self._current

    @property
    def requests(self) -> list[RetrieveRequest]:
        with self._lock:
            return list(self._requests)

    def ask_again(self, uids: tuple[str, ...], *, every_class: bool = False,
                  syntax: str = "") -> None:
        """Recovery asks again for these instances (*every_class*: offering every class;
        *syntax*: offering their classes in that transfer syntax alone)."""
        with self._lock:
            (self._offered_every_class if every_class else self._asked_again).update(uids)
            for uid in uids if syntax else ():
                self._syntaxes_offered.setdefault(uid, []).append(syntax)

    def counts(self) -> RequestCounts:
        """The first round's counts, with what the recovery brought moved to completed."""
        with self._lock:
            return _merged(self._first, self._recovered)

    def ended_short(self) -> bool:
        """Whether the first round ended short of what the PACS reported, or with nothing
        reported; not a move refused outright (its hint names why, no look-up needed)."""
        counts = self.counts()
        sent = counts.completed + counts.warning
        if counts.final is None or (sent == 0 and
                                    counts.final.category is StatusCategory.FAILURE):
            return False
        return (counts.failed > 0 or (counts.remaining or 0) > 0 or self.credited < sent
                or sent + counts.failed == 0)

    # -- received and credited ---------------------------------------------------
    def receive(self, instance: ReceivedInstance) -> tuple[bool, RetrieveRequest | None]:
        """Record a delivered instance; False when it was a copy of one credited already.

        Returns that, and the request running now (its idle deadline is pushed back).
        """
        with self._lock:
            if instance.calling_ae.strip() == self._node_ae:
                self._sent_as_itself = True
            else:
                self._aliases.add(instance.calling_ae.strip())  # the node's storage AE
            self._last_arrival = time.monotonic()
            self._lock.notify_all()
            if instance.ok and instance.sop_instance_uid in self._credited:
                return False, self._current
            first_final = any(r.counts.final is not None for r in self._first)
            if first_final and self._method is RetrieveMethod.MOVE:
                self._late.append(instance)
            if instance.ok and self._current is not None and self._current not in self._first:
                self._recovered.add(instance.sop_instance_uid)
            self._received.append(instance)
            if instance.ok:
                self._credited.add(instance.sop_instance_uid)
            return True, self._current

    @property
    def credited(self) -> int:
        """How many SOP Instance UIDs are credited: the job's count of what arrived."""
        with self._lock:
            return len(self._credited)

    @property
    def received(self) -> list[ReceivedInstance]:
        with self._lock:
            return list(self._received)

    def arrived(self) -> set[str]:
        """The SOP Instance UIDs of every instance received, stored or not."""
        with self._lock:
            return {r.sop_instance_uid for r in self._received}

    # -- the claim rule's evidence ------------------------------------------------
    def standing(self, base: Standing, sop_instance_uid: str) -> Standing:
        """*base* (the job's fixed facts) with the ledger's evidence now."""
        with self._lock:
            return self._standing(base, sop_instance_uid)

    def admit(self, base: Standing, rule: Callable[[Standing], Admission],
              calling_ae: str) -> bool:
        """Apply an admission *rule* and adopt *calling_ae* as alias if it says so, at once.

        Atomic, so that two listener threads cannot each adopt a different alias.
        """
        with self._lock:
            verdict = rule(self._standing(base, ""))
            if verdict is Admission.NEW_ALIAS:
                self._aliases.add(calling_ae.strip())
            return verdict is not Admission.NO

    def _standing(self, base: Standing, sop_instance_uid: str) -> Standing:
        return replace(base, scope=self._scope, message_ids=frozenset(self._message_ids),
                       aliases=frozenset(self._aliases), sent_as_itself=self._sent_as_itself,
                       closed=self._closed, held=sop_instance_uid in self._credited)

    # -- waiting and closing ------------------------------------------------------
    def wake(self) -> None:
        """Wake :meth:`wait_for_stragglers` (a cancel)."""
        with self._lock:
            self._lock.notify_all()

    def wait_for_stragglers(self, grace: float, cancelled: threading.Event) -> None:
        """After the final response, wait for instances still on their way.

        Until as many are credited as the PACS reported sent; when it reported
        nothing at all, for the whole grace period, because a non-conformant
        PACS may answer first and send afterwards. Each arrival starts the
        wait again.
        """
        with self._lock:
            self._last_arrival = max(self._last_arrival, time.monotonic())
            while not cancelled.is_set():
                counts = _merged(self._first, self._recovered)
                if counts.final is None:
                    return
                if counts.final.category is StatusCategory.FAILURE and not self._received:
                    return
                sent = counts.completed + counts.warning
                nothing_reported = sent + counts.failed == 0
                if len(self._credited) >= sent and not (nothing_reported and grace):
                    return
                remaining = self._last_arrival + grace - time.monotonic()
                if remaining <= 0:
                    return
                self._lock.wait(timeout=remaining)

    def close(self) -> LedgerRecord:
        """The outcome is being made: no more claims; the books as they stand."""
        with self._lock:
            self._closed = True
            return LedgerRecord(
                counts=_merged(self._first, self._recovered), requests=tuple(self._requests),
                message_ids=frozenset(self._message_ids), received=tuple(self._received),
                late=tuple(self._late), recovered=frozenset(self._recovered),
                aliases=frozenset(self._aliases), asked_again=frozenset(self._asked_again),
                offered_every_class=frozenset(self._offered_every_class),
                syntaxes_offered=MappingProxyType(
                    {uid: tuple(s) for uid, s in self._syntaxes_offered.items()}),
                patient_id_missing=self._patient_id_missing, expected=self._expected)


def _merged(first: list[RetrieveRequest], recovered: set[str]) -> RequestCounts:
    """The first round's counts summed, the worst final status standing for the round,
    and what the recovery brought (counted failed, or left remaining) moved to completed."""
    merged = RequestCounts()
    finals = []
    for request in first:
        c = request.counts
        merged.completed += c.completed
        merged.failed += c.failed
        merged.warning += c.warning
        merged.responses += c.responses
        merged.failed_uids += c.failed_uids
        if c.remaining is not None:
            merged.remaining = (merged.remaining or 0) + c.remaining
        if merged.first_response is None:
            merged.first_response = c.first_response
        if c.final is not None:
            finals.append(c.final)
    if first and len(finals) == len(first):
        order = [StatusCategory.FAILURE, StatusCategory.WARNING, StatusCategory.CANCEL]
        merged.final = next((f for cat in order for f in finals if f.category is cat),
                            finals[-1])
    if recovered:
        listed = set(merged.failed_uids) & recovered
        was_failed = len(listed) if merged.failed_uids else len(recovered)
        was_failed = min(was_failed, merged.failed)
        merged.failed -= was_failed
        if merged.remaining:
            merged.remaining = max(0, merged.remaining - (len(recovered) - was_failed))
        merged.completed += len(recovered)
        merged.failed_uids = [u for u in merged.failed_uids if u not in recovered]
    return merged
