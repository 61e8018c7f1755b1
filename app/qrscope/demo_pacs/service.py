"""What the demo PACS answers to each DIMSE request: its pynetdicom handlers.

pynetdicom drives the Query/Retrieve protocol (pending responses, sub-
operation counts, final statuses); the handlers here decide the content:
which instances match, where a C-MOVE goes, what is sent. Two things are
added on top of pynetdicom's C-MOVE and C-GET support:

* **Move Originator.** pynetdicom 3.0 fills *Move Originator Application
  Entity Title* (0000,1030) of the C-STORE sub-operations with the C-MOVE
  SCP's own AE title. PS3.7 9.1.1.1 says it is the title of the AE that
  *invoked* the C-MOVE, and receivers such as dcm4chee use it to pair the
  incoming images with the C-MOVE. :class:`_MoveStoreAssociation` corrects
  it on the one association pynetdicom opens for each C-MOVE.
* **Why a sub-operation fails.** Files are sent in the transfer syntax they
  are stored in, never transcoded; when the peer accepted none that fits,
  pynetdicom counts a failed sub-operation, and the log says why here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from types import MappingProxyType
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import build_context, evt
from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import Verification

from qrscope.core.dicom.qr_models import model_of, root_name

# The statuses these handlers return (PS3.4 C.4, PS3.7 C). pynetdicom sends
# the others itself: 0xA801 Move destination unknown, 0xA702 unable to perform
# sub-operations, 0xB000 sub-operations complete with failures, and 0xCxxx
# when a handler raises.
from qrscope.core.dicom.status import (
    CANCEL,
    IDENTIFIER_DOES_NOT_MATCH,
    OUT_OF_RESOURCES_SUBOPERATIONS,
    PENDING,
    REFUSED_NOT_AUTHORISED,
    SUCCESS,
)
from qrscope.core.engine.pynetdicom_private import wait_until_sent
from qrscope.demo_pacs.behaviour import DemoPacsBehaviour
from qrscope.demo_pacs.busy import RetrieveGate, RetrieveGateCounts
from qrscope.demo_pacs.index import IndexedInstance, InstanceIndex
from qrscope.demo_pacs.query import InvalidIdentifier, find, resolve_retrieve
from qrscope.demo_pacs.store_faults import (
    LateSender,
    PartialSender,
)

__all__ = ["MoveDestinations", "QueryRetrieveService"]

_LOGGER = logging.getLogger("qrscope.demo_pacs")

# An association may propose at most 128 presentation contexts (PS3.8 9.3.2.2:
# odd context IDs 1..255).
_MAX_CONTEXTS = 128


class MoveDestinations:
    """The AE titles the demo PACS will C-MOVE to, and their addresses.

    Thread-safe: the GUI may add a destination while an association thread
    is looking one up.

    Parameters
    ----------
    initial : Mapping[str, tuple[str, int]], optional
        AE title to (host, port).
    """

    def __init__(self, initial: Mapping[str, tuple[str, int]] | None = None) -> None:
        self._lock = threading.Lock()
        self._table: dict[str, tuple[str, int]] = {}
        for ae_title, (host, port) in (initial or {}).items():
            self.add(ae_title, host, port)

    def add(self, ae_title: str, host: str, port: int) -> None:
        """Add or replace the destination `ae_title`."""
        with self._lock:
            self._table[ae_title.strip()] = (host, int(port))

    def remove(self, ae_title: str) -> None:
        """Forget `ae_title`; forgetting an unknown title is not an error."""
        with self._lock:
            self._table.pop(ae_title.strip(), None)

    def lookup(self, ae_title: str) -> tuple[str, int] | None:
        """Return (host, port) of `ae_title`, or ``None`` if unknown."""
        with self._lock:
            return self._table.get(ae_title.strip())

    def snapshot(self) -> Mapping[str, tuple[str, int]]:
        """Return a read-only copy of the table."""
        with self._lock:
            return MappingProxyType(dict(self._table))


class QueryRetrieveService:
    """The demo PACS's handlers for C-ECHO, C-FIND, C-MOVE, C-GET and C-STORE.

    Parameters
    ----------
    index : InstanceIndex or Future of one
        What the PACS holds; read-only, shared by all associations. A future
        while the PACS still loads it: the handlers wait for it, so the PACS
        can listen (and its address be shown) before its data is ready.
    ae_title : str
        The PACS's AE title, returned as *Retrieve AE Title*.
    destinations : MoveDestinations
        Where C-MOVE may send to.
    """

    def __init__(
        self, index: InstanceIndex | Future[InstanceIndex], ae_title: str,
        destinations: MoveDestinations, behaviour: DemoPacsBehaviour | None = None,
    ) -> None:
        if not isinstance(index, Future):
            loaded: Future[InstanceIndex] = Future()
            loaded.set_result(index)
            index = loaded
        self._loaded = index
        self._ae_title = ae_title
        self._destinations = destinations
        self._behaviour = behaviour or DemoPacsBehaviour()
        self._attempts: Counter[str] = Counter()
        self._attempts_lock = threading.Lock()
        self._gate = RetrieveGate(self._behaviour.busy_above, self._behaviour.busy_probability,
                                  self._behaviour.busy_seed)

    @property
    def _index(self) -> InstanceIndex:
        """The index, once loaded (a failed load raises here, in the handler)."""
        return self._loaded.result()

    def store_attempts(self) -> dict[str, int]:
        """How many C-STORE sub-operations of a C-MOVE went out for each SOP Instance
        UID: a client that resumes a retrieve must not have one sent twice."""
        with self._attempts_lock:
            return dict(self._attempts)

    def retrieve_counts(self) -> RetrieveGateCounts:
        """C-MOVEs and C-GETs running now, the most at once so far, and how many a
        'busy' fault refused."""
        return self._gate.counts()

    def _attempted(self, sop_instance_uid: str) -> None:
        with self._attempts_lock:
            self._attempts[sop_instance_uid] += 1

    def evt_handlers(self) -> list[tuple[evt.EventType, Callable[..., Any]]]:
        """Return the handler bindings for ``AE.start_server(evt_handlers=...)``."""
        return [
            (evt.EVT_C_ECHO, self.on_echo),
            (evt.EVT_C_FIND, self.on_find),
            (evt.EVT_C_MOVE, self.on_move),
            (evt.EVT_C_GET, self.on_get),
            (evt.EVT_C_STORE, self.on_store),
        ]

    def on_echo(self, event: Event) -> int:
        """Answer C-ECHO with Success."""
        _LOGGER.debug("C-ECHO from %s", _peer(event))
        return SUCCESS

    def on_find(self, event: Event) -> Iterator[tuple[int, Dataset | None]]:
        """Yield a pending response per match, stopping early on C-CANCEL."""
        model = model_of(event.request.AffectedSOPClassUID)
        try:
            responses = find(self._index, event.identifier, model, self._ae_title)
        except InvalidIdentifier as exc:
            _LOGGER.warning("C-FIND from %s refused: %s", _peer(event), exc)
            yield IDENTIFIER_DOES_NOT_MATCH, None
            return
        count = 0
        for response in responses:
            if self._behaviour.match_delay:
                time.sleep(self._behaviour.match_delay)
            wait_until_sent(event.assoc, self._behaviour.dimse_timeout)
            if event.is_cancelled:
                _LOGGER.info("C-FIND from %s cancelled after %d matches", _peer(event), count)
                yield CANCEL, None
                return
            count += 1
            yield PENDING, response
        _LOGGER.info("C-FIND (%s) from %s: %d matches", root_name(model), _peer(event), count)

    def on_move(self, event: Event) -> Iterator[Any]:
        """Send the matching instances to the move destination.

        Yields, as pynetdicom's C-MOVE SCP expects: the destination
        ``(host, port, associate kwargs)`` or ``(None, None)`` when unknown
        (pynetdicom then answers 0xA801 with no sub-operations, PS3.4
        C.4.2.1.5); the number of sub-operations; a ``(status, dataset)``
        pair per instance.
        """
        destination = self._destinations.lookup(event.move_destination)
        if destination is None:
            known = ", ".join(self._destinations.snapshot()) or "none"
            _LOGGER.warning(
                "C-MOVE from %s to unknown destination %r (known: %s)",
                _peer(event), event.move_destination, known,
            )
            yield None, None
            return
        records, error = self._resolve(event)
        contexts = _storage_contexts(records) or [build_context(Verification)]
        if self._behaviour.empty_success:
            yield from self._empty_success(event, destination, records, contexts)
            return
        if self._behaviour.final_before_images:
            established: Any = LateSender(
                self._ae_title, destination, event.move_destination, contexts,
                event.assoc.requestor.ae_title, len(records)).on_established
        elif self._behaviour.deliver_half:
            established = PartialSender(event.assoc.requestor.ae_title).on_established
        else:
            wrong = self._behaviour.wrong_move_originator
            established = _MoveStoreAssociation(
                self._ae_title if wrong else event.assoc.requestor.ae_title,
                self._attempted, originator_id=1 if wrong else None).on_established
        yield destination[0], destination[1], {
            "contexts": contexts,
            "evt_handlers": [(evt.EVT_ESTABLISHED, established)],
        }
        _LOGGER.info(
            "C-MOVE from %s: %d instances to %s at %s:%d",
            _peer(event), len(records), event.move_destination, *destination,
        )
        yield from self._sub_operations(event, records, error)

    def _empty_success(self, event: Event, destination: tuple[str, int],
                       records: list[IndexedInstance],
                       contexts: list[PresentationContext]) -> Iterator[Any]:
        """The 'empty-success' faults: success with no sub-operations, images maybe later."""
        yield destination[0], destination[1], {"contexts": contexts}
        delay = self._behaviour.images_after
        _LOGGER.warning("C-MOVE from %s answered success with no sub-operations (fault)%s",
                        _peer(event), f"; images follow in {delay:g} s" if delay else "")
        if delay is not None and records:
            sender = LateSender(self._ae_title, destination, event.move_destination, contexts,
                                event.assoc.requestor.ae_title, len(records), delay=delay)
            sender.send_later([_read_for_sending(r) for r in records], event.request.MessageID)
        # pynetdicom answers a count of 0 with Success at once, never associating.
        yield 0

    def on_get(self, event: Event) -> Iterator[Any]:
        """Send the matching instances back over the C-GET association.

        The peer must have proposed a storage context for each SOP class and
        stored transfer syntax, with SCP/SCU role selection giving it the
        SCP role (PS3.4 C.4.3.1); without one the instance fails, and the
        log says which context was missing.
        """
        records, error = self._resolve(event)
        if self._behaviour.empty_success:
            _LOGGER.warning("C-GET from %s answered success with no sub-operations (fault)",
                            _peer(event))
            yield 0
            return
        _LOGGER.info("C-GET from %s: %d instances", _peer(event), len(records))
        for record in records:
            reason = unsendable_reason(event.assoc.accepted_contexts, record)
            if reason:
                _LOGGER.warning("C-GET sub-operation for %s will fail: %s", record.path, reason)
        yield from self._sub_operations(event, records, error)

    def on_store(self, event: Event) -> int:
        """Refuse C-STORE: the demo PACS serves a fixed set and stays read-only.

        The storage contexts exist for C-GET, where the peer takes the SCP
        role; a peer that proposed them with the default roles could
        otherwise send images that would silently vanish.
        """
        _LOGGER.warning("Refused C-STORE from %s: the demo PACS is read-only", _peer(event))
        return REFUSED_NOT_AUTHORISED

    def _resolve(self, event: Event) -> tuple[list[IndexedInstance], InvalidIdentifier | None]:
        model = model_of(event.request.AffectedSOPClassUID)
        try:
            return resolve_retrieve(self._index, event.identifier, model), None
        except InvalidIdentifier as exc:
            _LOGGER.warning("Retrieve from %s refused: %s", _peer(event), exc)
            return [], exc

    def _sub_operations(
        self, event: Event, records: list[IndexedInstance], error: InvalidIdentifier | None
    ) -> Iterator[Any]:
        """Yield the sub-operation count, then one (status, dataset) per instance."""
        if error is not None:
            # pynetdicom only sends a handler's status after a non-zero
            # sub-operation count (a count of 0 is answered with Success),
            # so announce one and fail before sending anything.
            yield 1
            yield IDENTIFIER_DOES_NOT_MATCH, None
            return
        refusal = self._behaviour.refuse_retrieves_with
        if refusal is not None:
            yield 1  # (as above: pynetdicom forwards a status only after a count)
            yield refusal, None
            return
        busy = self._gate.enter()
        if busy:
            _LOGGER.warning("Retrieve from %s refused with 0xA702, out of resources: %s "
                            "(fault)", _peer(event), busy)
            yield 1
            yield OUT_OF_RESOURCES_SUBOPERATIONS, None
            return
        try:
            yield from self._send_all(event, records)
        finally:
            self._gate.leave()

    def _send_all(self, event: Event, records: list[IndexedInstance]) -> Iterator[Any]:
        yield len(records)
        for number, record in enumerate(records):
            if self._behaviour.abort_after is not None and number >= self._behaviour.abort_after:
                _LOGGER.warning("Aborting the retrieve from %s on purpose (fault)", _peer(event))
                event.assoc.abort()
                return
            if self._behaviour.sub_operation_delay:
                time.sleep(self._behaviour.sub_operation_delay)
            if event.is_cancelled and self._behaviour.honour_cancel:
                _LOGGER.info("Retrieve from %s cancelled", _peer(event))
                yield CANCEL, None
                return
            yield PENDING, _read_for_sending(record)


class _MoveStoreAssociation:
    """Sets the Move Originator on the C-STORE association of one C-MOVE.

    Bound to ``EVT_ESTABLISHED`` of the association pynetdicom requests to
    the move destination. pynetdicom fires it inside ``AE.associate()``,
    before the first sub-operation, so replacing that association's
    ``send_c_store`` there is race-free and touches nothing else.
    """

    def __init__(self, move_originator: str,
                 on_attempt: Callable[[str], None] = lambda _uid: None,
                 originator_id: int | None = None) -> None:
        self._move_originator = move_originator
        self._on_attempt = on_attempt
        self._originator_id = originator_id  # None: the request's own Message ID

    def on_established(self, event: Event) -> None:
        assoc: Association = event.assoc
        send_c_store = assoc.send_c_store
        originator = self._move_originator
        forced_id = self._originator_id
        on_attempt = self._on_attempt

        def send_with_originator(
            dataset: Dataset,
            msg_id: int = 1,
            priority: int = 2,
            originator_aet: str | None = None,
            originator_id: int | None = None,
        ) -> Dataset:
            reason = unsendable_reason(assoc.accepted_contexts, dataset)
            if reason:
                _LOGGER.warning("C-MOVE sub-operation will fail: %s", reason)
            on_attempt(str(dataset.get("SOPInstanceUID", "")))
            return send_c_store(
                dataset,
                msg_id=msg_id,
                priority=priority,
                originator_aet=originator,
                originator_id=originator_id if forced_id is None else forced_id,
            )

        assoc.send_c_store = send_with_originator  # type: ignore[method-assign]


def unsendable_reason(
    contexts: Iterable[PresentationContext], item: IndexedInstance | Dataset
) -> str:
    """Explain why no accepted context can carry `item`, or return ``""``.

    Mirrors pynetdicom's choice of context for C-STORE: the same SOP class,
    our side in the SCU role, and either the stored transfer syntax or,
    for uncompressed data only, another uncompressed one of the same byte
    order (a re-encoding of the data set, not of the pixels).
    """
    if isinstance(item, IndexedInstance):
        sop_class, syntax = item.sop_class_uid, item.transfer_syntax
    else:
        sop_class = UID(item.get("SOPClassUID", ""))
        syntax = UID(getattr(getattr(item, "file_meta", None), "TransferSyntaxUID", ""))
    offered = [
        cx.transfer_syntax[0]
        for cx in contexts
        if cx.abstract_syntax == sop_class and cx.as_scu
    ]
    if any(_can_carry(accepted, syntax) for accepted in offered):
        return ""
    if not offered:
        return f"the peer accepted no context for {sop_class.name} with us as SCU"
    names = ", ".join(sorted({accepted.name for accepted in offered}))
    return (
        f"{sop_class.name} is stored as {syntax.name} and the peer accepted only "
        f"{names}; the demo PACS does not transcode"
    )


def _can_carry(accepted: UID, stored: UID) -> bool:
    if accepted == stored:
        return True
    if accepted.is_compressed or stored.is_compressed:
        return False
    return accepted.is_little_endian == stored.is_little_endian


def _storage_contexts(records: list[IndexedInstance]) -> list[PresentationContext]:
    """Propose one context per SOP class and stored transfer syntax.

    Uncompressed syntaxes also offer the other little endian one, which
    pynetdicom converts to freely; compressed ones offer only themselves,
    so the destination's answer says exactly what it can take.
    """
    wanted: dict[tuple[str, str], list[str]] = {}
    for record in records:
        syntax = record.transfer_syntax
        syntaxes = [syntax]
        if not syntax.is_compressed and syntax.is_little_endian:
            syntaxes += [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
        wanted.setdefault((record.sop_class_uid, syntax), list(dict.fromkeys(syntaxes)))
    if len(wanted) > _MAX_CONTEXTS:
        _LOGGER.warning(
            "C-MOVE needs %d presentation contexts, proposing the first %d; "
            "instances of the rest will fail", len(wanted), _MAX_CONTEXTS,
        )
    return [
        build_context(sop_class, syntaxes)
        for (sop_class, _), syntaxes in list(wanted.items())[:_MAX_CONTEXTS]
    ]


def _read_for_sending(record: IndexedInstance) -> Dataset:
    """Read the whole file; pixel data stays in its stored encoding."""
    try:
        return dcmread(record.path)
    except (OSError, ValueError) as exc:
        _LOGGER.error("Cannot read %s for sending: %s", record.path, exc)
        # A data set without file meta makes pynetdicom's send_c_store raise,
        # which it counts as a failed sub-operation and lists the UID in
        # Failed SOP Instance UID List, exactly what PS3.4 asks for.
        placeholder = Dataset()
        placeholder.SOPClassUID = record.sop_class_uid
        placeholder.SOPInstanceUID = record.sop_instance_uid
        return placeholder


def _peer(event: Event) -> str:
    requestor = event.assoc.requestor
    return f"{requestor.ae_title}@{requestor.address}:{requestor.port}"
