"""One association of a send: its share of the instances, one C-STORE at a time.

:class:`AssociationSender` sends the instances of a
:class:`~qrscope.core.send.shares.Share` on the context each one's
:class:`~qrscope.core.send.convert.Delivery` names (PS3.4 B.2), and hands
each instance's end to the job (``record``, thread-safe there) while the
next one's response is awaited: the peer's time and ours overlap. Each
association of a send has its own sender, so that what one holds (the end
not yet reported, the next request made ready) is never another's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from qrscope.core.dicom.status import Service, StatusCategory, decode_status
from qrscope.core.engine import send_lane
from qrscope.core.net.connection import OutgoingAssociation, next_message_id
from qrscope.core.send.convert import NotSendable, delivery_for
from qrscope.core.send.selection import SendItem
from qrscope.core.send.shares import Share
from qrscope.core.send.types import InstanceState, SendResult

__all__ = ["NO_RESPONSE", "AssociationSender", "Ended"]

NO_RESPONSE = "no response: the association was aborted or timed out"


@dataclass(frozen=True)
class Ended:
    """How an association's sending ended: *answered* instances had the peer's
    response; *lost* is the instance it ended on without one (the association
    was lost), with *unanswered* its result where it went on the wire."""

    answered: int
    lost: SendItem | None = None
    unanswered: SendResult | None = None


class AssociationSender:
    """Sends a share on *out*; *record* takes each instance's end, *halted* says stop."""

    def __init__(self, out: OutgoingAssociation, record: Callable[[SendResult], None],
                 halted: Callable[[], bool]) -> None:
        self.out = out
        self._record = record
        self._halted = halted
        self.accepted: dict[str, list[str]] = {}
        for cx in out.assoc.accepted_contexts:
            self.accepted.setdefault(str(cx.abstract_syntax), []).append(
                str(cx.transfer_syntax[0]))
        self._prepared: send_lane.Prepared | None = None
        self._unrecorded: SendResult | None = None

    def send(self, share: Share, first: SendItem | None = None) -> Ended:
        """Send *first* (an instance another association left unanswered), then the
        share's instances until none is left, the job halts or the association ends."""
        answered = 0
        item = first or share.next()
        try:
            while item is not None and not self._halted():
                if not self.out.assoc.is_established:
                    return Ended(answered, item)
                result = self._send_one(item, share.upcoming())
                self._record_held()  # not yet, where this one never went on the wire
                if result.state is InstanceState.FAILED and result.status is None and (
                        result.reason == NO_RESPONSE or not self.out.assoc.is_established):
                    # On its last instance too: said as such. pynetdicom returns no
                    # response only once the association is aborted (by the peer, or
                    # by itself on a DIMSE timeout), which its flags may show later.
                    return Ended(answered, item, result)
                answered += result.status is not None
                self._unrecorded = result
                item = share.next()
            return Ended(answered)
        finally:
            self._record_held()
            self._drop_prepared()

    def _drop_prepared(self) -> None:
        """Let go of a request made ready for an instance that will not follow here."""
        prepared, self._prepared = self._prepared, None
        if prepared is not None:
            prepared.close()

    def _record_held(self) -> None:
        """Report the instance whose end is held (see :meth:`_send_one`), if any."""
        held, self._unrecorded = self._unrecorded, None
        if held is not None:
            self._record(held)

    def _send_one(self, item: SendItem, upcoming: SendItem | None) -> SendResult:
        """C-STORE *item*; while its response is awaited, the previous instance's end
        is reported (and written to the jobs file) and *upcoming*'s request made
        ready. A send killed then sends both the instance on the wire and the one
        before it again, on each of its associations."""
        out, accepted = self.out, self.accepted
        prepared, self._prepared = self._prepared, None
        try:
            delivery = delivery_for(item, accepted.get(item.sop_class_uid, []))
        except NotSendable as exc:
            if prepared is not None:
                prepared.close()
            return SendResult(item.sop_instance_uid, item.sop_class_uid, InstanceState.FAILED,
                              reason=str(exc), size=item.size)

        def meanwhile() -> None:
            self._record_held()
            if upcoming is not None and upcoming.transfer_syntax in accepted.get(
                    upcoming.sop_class_uid, []):  # sent as held: its file as it is
                self._prepared = send_lane.prepare(out.assoc, upcoming.path,
                                                   next_message_id())

        msg_id = prepared.msg_id if prepared is not None else next_message_id()
        try:
            status = send_lane.send_c_store(out.assoc, delivery.path, msg_id,
                                            while_waiting=meanwhile, prepared=prepared)
        except (OSError, ValueError, AttributeError, RuntimeError) as exc:
            return SendResult(item.sop_instance_uid, item.sop_class_uid, InstanceState.FAILED,
                              reason=f"not sent: {exc}", syntax=delivery.syntax,
                              note=delivery.note, size=item.size)
        finally:
            delivery.discard()
        if "Status" not in status:
            return SendResult(item.sop_instance_uid, item.sop_class_uid, InstanceState.FAILED,
                              reason=NO_RESPONSE,
                              syntax=delivery.syntax, note=delivery.note, size=item.size)
        info = decode_status(Service.STORE, int(status.Status))
        state = {StatusCategory.SUCCESS: InstanceState.STORED,
                 StatusCategory.WARNING: InstanceState.WARNING}.get(info.category,
                                                                    InstanceState.FAILED)
        return SendResult(item.sop_instance_uid, item.sop_class_uid, state, info,
                          reason=info.meaning if state is InstanceState.FAILED else "",
                          syntax=delivery.syntax, note=delivery.note, size=item.size)
