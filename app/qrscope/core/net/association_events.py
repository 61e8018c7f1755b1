"""Turn pynetdicom's association events into :class:`AssociationEvent` records.

pynetdicom reports through ``evt`` handlers bound per association (outgoing)
or per server (incoming). :class:`AssociationRecorder` is one such set of
handlers: bind ``recorder.handlers()`` and every negotiation step, DIMSE
message and, at debug level, PDU lands in the :class:`AssociationLog`.
Handlers run in pynetdicom's threads, so they only format and emit.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import evt
from pynetdicom.dsutils import decode

from qrscope.core.dicom.status import Service, decode_abort, decode_reject, decode_status
from qrscope.core.engine.data_lane import lane_ready
from qrscope.core.net.association_log import AssociationLog, Direction, EventLevel
from qrscope.core.net.negotiation import describe_answer, describe_request

__all__ = ["AssociationRecorder"]

_LOGGER = logging.getLogger(__name__)

_SERVICES = {
    "C_ECHO": Service.ECHO,
    "C_FIND": Service.FIND,
    "C_MOVE": Service.MOVE,
    "C_GET": Service.GET,
    "C_STORE": Service.STORE,
}
_COMMAND_FIELDS = (
    "MessageID",
    "MessageIDBeingRespondedTo",
    "AffectedSOPClassUID",
    "AffectedSOPInstanceUID",
    "MoveDestination",
    "MoveOriginatorApplicationEntityTitle",
    "MoveOriginatorMessageID",
    "NumberOfRemainingSuboperations",
    "NumberOfCompletedSuboperations",
    "NumberOfFailedSuboperations",
    "NumberOfWarningSuboperations",
    "ErrorComment",
)


def _uid_name(uid: str) -> str:
    from pydicom.uid import UID

    name = UID(uid).name
    return name if name and name != uid else uid


def _dataset_to_dict(ds: Dataset) -> dict[str, Any]:
    """Identifier keywords to printable values (sequences summarised)."""
    out: dict[str, Any] = {}
    for elem in ds:
        key = elem.keyword or str(elem.tag)
        if elem.VR == "SQ":
            out[key] = f"<{len(elem.value)} item(s)>"
        else:
            out[key] = "" if elem.value is None else str(elem.value)
    return out


def _described(describe: Callable[..., dict[str, Any]], *primitives: Any) -> dict[str, Any]:
    """The negotiation's detail; none rather than no event when a peer's request defeats it."""
    try:
        return describe(*primitives)
    except Exception:
        _LOGGER.exception("describing an A-ASSOCIATE primitive failed")
        return {}


class AssociationRecorder:
    """Handlers that record one association (outgoing) or all of a server's (incoming).

    Parameters
    ----------
    log : AssociationLog
        Where the events go.
    direction : Direction
        Whether we requested the associations or a peer did.
    job_id : str, optional
        Attached to every event, so the GUI can show a retrieve's events together.
    debug : bool
        Also record PDUs and full response identifiers.
    association_id : str, optional
        For an outgoing association: the id to use from its very first event.
    """

    def __init__(self, log: AssociationLog, direction: Direction, job_id: str | None = None,
                 debug: bool = False, association_id: str | None = None) -> None:
        self.log = log
        self.fixed_id = association_id
        self.direction = direction
        self.job_id = job_id
        self.debug = debug
        self._ids: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self._connected: weakref.WeakSet[Any] = weakref.WeakSet()
        """Associations whose TCP connection opened: only those can be aborted."""
        self._lock = threading.Lock()

    # -- binding -------------------------------------------------------------
    def handlers(self) -> list[tuple[Any, Any]]:
        bound = [
            (evt.EVT_CONN_OPEN, self._on_conn_open),
            (evt.EVT_CONN_CLOSE, self._on_conn_close),
            (evt.EVT_ACSE_SENT, self._on_acse),
            (evt.EVT_ACSE_RECV, self._on_acse),
            (evt.EVT_ESTABLISHED, self._on_established),
            (evt.EVT_DIMSE_SENT, self._on_dimse),
            (evt.EVT_DIMSE_RECV, self._on_dimse),
            # Always bound, so that debug can be switched on for a running server.
            (evt.EVT_PDU_SENT, self._on_pdu),
            (evt.EVT_PDU_RECV, self._on_pdu),
        ]
        return bound

    def association_id(self, assoc: Any) -> str:
        """The log's id for a pynetdicom association, assigned on first sight."""
        if self.fixed_id is not None:
            return self.fixed_id
        with self._lock:
            found = self._ids.get(assoc)
            if found is None:
                found = self.log.new_association_id(self.direction)
                self._ids[assoc] = found
            return found

    # -- emitting ------------------------------------------------------------
    def _emit(self, event: Any, kind: str, summary: str, level: EventLevel = EventLevel.INFO,
              **detail: Any) -> None:
        assoc = event.assoc
        if self.direction is Direction.OUTGOING:
            local, peer = assoc.requestor, assoc.acceptor
        else:
            local, peer = assoc.acceptor, assoc.requestor
        try:
            address = f"{peer.address}:{peer.port}"
        except Exception:  # the peer's address is not known before the connection opens
            address = ""
        try:
            self.log.record(
                self.association_id(assoc),
                self.direction,
                kind,
                summary,
                level=level,
                local_ae=str(local.ae_title or ""),
                peer_ae=str(peer.ae_title or ""),
                peer_address=address,
                job_id=self.job_id,
                detail=detail,
            )
        except Exception:  # a subscriber failing must never break the association
            _LOGGER.exception("recording association event %s failed", kind)

    def _on_conn_open(self, event: Any) -> None:
        self._connected.add(event.assoc)
        host, port = event.address[0], event.address[1]
        self._emit(event, "connection-opened", f"TCP connection open with {host}:{port}")

    def _on_conn_close(self, event: Any) -> None:
        self._emit(event, "connection-closed", "TCP connection closed")

    def _on_acse(self, event: Any) -> None:
        sent = event.event is evt.EVT_ACSE_SENT
        primitive = event.primitive
        name = type(primitive).__name__
        if name == "A_ASSOCIATE":
            self._on_associate(event, primitive, sent)
        elif name == "A_RELEASE":
            rq = primitive.result is None
            label = "A-RELEASE-RQ" if rq else "A-RELEASE-RP"
            kind = "release-requested" if rq else "released"
            self._emit(event, kind, f"{label} {'sent' if sent else 'received'}")
        elif name in ("A_ABORT", "A_P_ABORT"):
            if event.assoc not in self._connected:
                # pynetdicom ends a failed TCP connect with an A-P-ABORT to
                # itself; no association existed, and the connection failure
                # is what the log reports (connection.open_association).
                self._emit(event, "no-connection", "No association: the TCP connection was "
                           "not made", level=EventLevel.DEBUG)
                return
            source = getattr(primitive, "_abort_source", 2 if name == "A_P_ABORT" else None)
            reason = getattr(primitive, "_provider_reason", None)
            text = decode_abort(source, reason)
            who = "we" if sent else "the peer"
            self._emit(event, "aborted", f"A-ABORT: {who} {text}" if sent else f"A-ABORT: {text}",
                       source=source, reason=reason, sent=sent, meaning=text, by=who)

    def _on_associate(self, event: Any, primitive: Any, sent: bool) -> None:
        """A-ASSOCIATE-RQ, -AC, -RJ: the summary line, and the negotiation as detail."""
        direction = "sent" if sent else "received"
        if primitive.result is None:
            detail = _described(describe_request, primitive)
            count = len(primitive.presentation_context_definition_list or ())
            self._emit(
                event,
                "requested",
                f"A-ASSOCIATE-RQ {direction}: calling {primitive.calling_ae_title}, "
                f"called {primitive.called_ae_title}, {count} presentation context(s)",
                **detail,
            )
        elif primitive.result == 0:
            # The request it answers: ours as sent, or the peer's as received.
            request = event.assoc.requestor.primitive
            self._emit(event, "accepted", f"A-ASSOCIATE-AC {direction}",
                       **_described(describe_answer, primitive, request))
        else:
            meaning = decode_reject(primitive.result, primitive.result_source,
                                    primitive.diagnostic)
            self._emit(
                event,
                "rejected",
                f"A-ASSOCIATE-RJ {direction}: {meaning}",
                result=primitive.result,
                source=primitive.result_source,
                diagnostic=primitive.diagnostic,
                meaning=meaning,
            )

    def _on_established(self, event: Any) -> None:
        assoc = event.assoc
        accepted = [
            {
                "id": cx.context_id,
                "abstract_syntax": _uid_name(cx.abstract_syntax),
                "transfer_syntax": _uid_name(cx.transfer_syntax[0]),
                "scu_role": cx.as_scu,
                "scp_role": cx.as_scp,
            }
            for cx in assoc.accepted_contexts
        ]
        rejected = [_uid_name(cx.abstract_syntax) for cx in assoc.rejected_contexts]
        self._emit(
            event,
            "established",
            f"association established: {len(accepted)} context(s) accepted, "
            f"{len(rejected)} rejected",
            accepted_contexts=accepted,
            rejected_contexts=rejected,
            max_pdu=assoc.acceptor.maximum_length if self.direction is Direction.OUTGOING
            else assoc.requestor.maximum_length,
        )

    @lane_ready()  # reads only the command values, which the lane's messages carry
    def _on_dimse(self, event: Any) -> None:
        sent = event.event is evt.EVT_DIMSE_SENT
        message = event.message
        cls = type(message).__name__  # e.g. C_MOVE_RSP
        base, _, kind = cls.rpartition("_")
        service = _SERVICES.get(base)
        cs = message.command_set  # a Dataset, or the data lane's CommandValues
        detail: dict[str, Any] = {"message": cls.replace("_", "-"), "sent": sent}
        get = cs.get
        for name in _COMMAND_FIELDS:
            value = get(name)
            if value not in (None, ""):
                detail[name] = str(value) if name.endswith("UID") else value
        status = get("Status")
        status_text = ""
        if kind == "RSP" and status is not None and service is not None:
            info = decode_status(service, int(status))
            detail.update(status=info.code, category=info.category.value, meaning=info.meaning)
            status_text = f" {info}"
        identifier = self._identifier(event, message, kind, service)
        if identifier is not None:
            detail["identifier"] = identifier
        summary = f"{cls.replace('_', '-')} {'sent' if sent else 'received'}{status_text}"
        summary += self._counts_text(detail)
        self._emit(event, "dimse-sent" if sent else "dimse-received", summary, **detail)

    @staticmethod
    def _counts_text(detail: dict[str, Any]) -> str:
        keys = ("Remaining", "Completed", "Failed", "Warning")
        values = [detail.get(f"NumberOf{k}Suboperations") for k in keys]
        if all(v is None for v in values):
            return ""
        return " (" + ", ".join(
            f"{k.lower()} {v}" for k, v in zip(keys, values, strict=True) if v is not None
        ) + ")"

    def _identifier(self, event: Any, message: Any, kind: str,
                    service: Service | None) -> dict[str, Any] | None:
        """Decode small identifiers: requests always, C-FIND responses at debug level."""
        if service not in (Service.FIND, Service.MOVE, Service.GET):
            return None
        if kind == "RSP" and not (self.debug and service is Service.FIND):
            return None
        stream = getattr(message, "data_set", None)
        if stream is None or not stream.getvalue():
            return None
        try:
            cx = next(c for c in event.assoc.accepted_contexts
                      if c.context_id == message.context_id)
            ts = cx.transfer_syntax[0]
            ds = decode(stream, ts.is_implicit_VR, ts.is_little_endian, ts.is_deflated)
            stream.seek(0)
            return _dataset_to_dict(ds)
        except Exception:  # logging must not fail on a malformed identifier
            return None

    @lane_ready(lambda recorder: not recorder.debug)  # records nothing then
    def _on_pdu(self, event: Any) -> None:
        if not self.debug:
            return
        sent = event.event is evt.EVT_PDU_SENT
        pdu = event.pdu
        name = type(pdu).__name__.replace("_", "-")
        try:
            length = len(pdu)
        except Exception:
            length = 0
        self._emit(event, "pdu-sent" if sent else "pdu-received",
                   f"{name} {'sent' if sent else 'received'}, {length} bytes",
                   EventLevel.DEBUG, pdu=name, length=length)
