"""The P-DATA of data transfer, read without pynetdicom's per-PDU and per-message machinery.

**Why.** For each PDU pynetdicom builds a PDU object and then a P-DATA
primitive, queues an event for its state machine, and steps the machine;
for each message it decodes the command set into a pydicom data set, builds
a message object holding a data set of every command element, and turns it
into a DIMSE primitive; a C-STORE is then handed to another thread, whose
response goes back the same way: a data set, a primitive, a message, a PDU,
a queue and the state machine again. For a study of small images, and for
the 10,000 responses of a large search, that machinery was most of the
time qrscope took (docs/PERFORMANCE.md).

**What.** :class:`DataLane` serves one association, from its DUL thread,
for the P-DATA-TF PDUs of data transfer (states Sta6 and Sta7, where
pynetdicom's only action is to hand the data to its DIMSE provider,
``tests/core/test_pynetdicom_private.py``). It reads the presentation data
values itself, and:

* **a C-STORE request** it can serve is written, fragment by fragment, to
  the same incoming file pynetdicom would use
  (:class:`~qrscope.core.engine.pynetdicom_private.IncomingFile`: memory while
  small); when the data set is complete the association's own
  ``EVT_C_STORE`` handler runs, as pynetdicom would call it, and the
  response goes out as one PDU from the same thread;
* **a response** (C-FIND, C-GET, C-MOVE, C-STORE, C-ECHO) becomes the
  primitive pynetdicom would have made, through the primitive's own
  validating setters, on the queue where the request waits for it: the
  rest of pynetdicom (``send_c_find`` and the others) is unchanged;
* **everything else** (requests to the demo PACS, a command set with an
  error comment, anything unusual) goes to pynetdicom as before, value by
  value and in order.

**When it steps aside.** Only qrscope's handlers know what the lane does
without pynetdicom's objects, so it reads a PDU only when nothing is bound
to ``EVT_DATA_RECV`` or ``EVT_FSM_TRANSITION`` (which it does not fire) and
every ``EVT_PDU_RECV`` handler is marked :func:`lane_ready`; and it serves a
message only when every handler of the DIMSE events it fires is so marked
(the association log's are, and records PDUs only when the lane stands
aside). A C-STORE request, in addition, needs an ``EVT_C_STORE`` handler
that files held data
(:func:`~qrscope.core.engine.pynetdicom_private.reads_held_data`), a plain command
set (:func:`~qrscope.core.dicom.encoding.command_set_values`) naming the
presentation context's own SOP class on an accepted context where we are
SCP, and no release of ours begun.

**What it refuses.** On an association the listener's guard does not wrap
(ours, on which a PACS sends to us during a C-GET, and the demo PACS's),
every P-DATA-TF PDU it reads, the lane's or pynetdicom's, is first followed
by a :class:`~qrscope.core.dicom.messages.MessageFollower`
(:meth:`DataLane.admits`), the same pass that splits its values for the
lane: a command set past its limit, a data set other than a C-STORE
request's past the identifier limit, or a fragment on
another presentation context than its message's ends the association as a
PDU that does not decode does (Evt19: A-ABORT), with a warning, before
anyone buffers it. On the listener's associations the guard refuses these
on the socket, before the lane sees a byte, and the lane's follower checks
only the framing as it splits the values.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from io import BytesIO
from typing import Any

from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION, evt
from pynetdicom.dimse_primitives import C_ECHO, C_FIND, C_GET, C_MOVE, C_STORE
from pynetdicom.pdu_primitives import P_DATA

from qrscope.core.dicom.encoding import command_set_values, file_meta_bytes, store_response_bytes
from qrscope.core.dicom.messages import MessageFollower, MessageLimits, Refused

__all__ = ["DATA_TRANSFER_STATES", "DataLane", "lane_ready"]

_LOGGER = logging.getLogger(__name__)

DATA_TRANSFER_STATES = ("Sta6", "Sta7")
"""States whose only action on a P-DATA-TF PDU is to hand its data to DIMSE
(DT-2 and AR-6 in PS3.8 9.2); the lane may take it there."""

OWN_ASSOCIATION_LIMITS = MessageLimits(max_identifier_length=64 << 20)
"""Message limits on associations we requested (searches and retrieves).

A C-GET or C-MOVE response's Failed SOP Instance UID List (0008,0058) names
every instance that failed: 65 bytes each, about 6.5 MB for 100,000; 64 MiB
leaves room and still bounds what a broken PACS can make us hold."""

_REQUIRED = ("MessageID", "AffectedSOPClassUID", "AffectedSOPInstanceUID", "Priority")
_SKIPPED_EVENTS = (evt.EVT_DATA_RECV, evt.EVT_FSM_TRANSITION)
_MARKED_EVENTS = (evt.EVT_PDU_RECV, evt.EVT_PDU_SENT, evt.EVT_DIMSE_RECV, evt.EVT_DIMSE_SENT)
# The responses the lane delivers as primitives: command field -> (primitive, message name).
_RESPONSES: dict[int, tuple[type, str]] = {
    0x8001: (C_STORE, "C_STORE_RSP"),
    0x8010: (C_GET, "C_GET_RSP"),
    0x8020: (C_FIND, "C_FIND_RSP"),
    0x8021: (C_MOVE, "C_MOVE_RSP"),
    0x8030: (C_ECHO, "C_ECHO_RSP"),
}
_STATUS_HANDLER_FAILED = 0xC211  # as pynetdicom answers when the handler raises
_STATUS_INVALID = 0xC002  # ... and when it returns something that is no status
_STATUS_NO_STATUS = 0xC001  # ... a data set without a Status


def lane_ready(when: Callable[[Any], bool] | None = None) -> Callable[[Any], Any]:
    """Mark a handler of PDU or DIMSE events that the lane may pass by.

    A DIMSE handler so marked gets, for the messages the lane serves, a
    message with only ``command_set`` (its values by keyword), ``context_id``
    and an empty ``data_set``; a PDU handler gets no event for the lane's
    PDUs. *when*, given the handler's object, says whether that holds now
    (the association log records PDUs only when asked to).
    """

    def mark(handler: Any) -> Any:
        handler.data_lane_ready = when if when is not None else True
        return handler

    return mark


def _is_ready(handler: Any) -> bool:
    mark = getattr(handler, "data_lane_ready", False)
    if callable(mark):
        return bool(mark(getattr(handler, "__self__", None)))
    return bool(mark)


class CommandValues:
    """A command set's values by keyword, as the lane's messages carry them."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def get(self, name: str, default: Any = None) -> Any:
        """As ``Dataset.get`` by keyword."""
        return self._values.get(name, default)


class _LaneMessage:
    """A message the lane served, as its DIMSE event handlers see it."""

    def __init__(self, values: dict[str, Any], context_id: int,
                 data_set: BytesIO | None = None) -> None:
        self.command_set = CommandValues(values)
        self.context_id = context_id
        self.data_set = data_set


_MESSAGE_CLASSES: dict[str, type[_LaneMessage]] = {}


def _message_class(name: str) -> type[_LaneMessage]:
    """A message class named as pynetdicom's (``C_STORE_RQ``): the association log
    names a message by its class."""
    found = _MESSAGE_CLASSES.get(name)
    if found is None:
        found = _MESSAGE_CLASSES[name] = type(name, (_LaneMessage,), {})
    return found


class _Response:
    """A response whose identifier (if any) is arriving."""

    def __init__(self, values: dict[str, Any], context_id: int, primitive: type, name: str,
                 has_data: bool) -> None:
        self.values = values
        self.context_id = context_id
        self.primitive = primitive
        self.name = name
        self.data = BytesIO() if has_data else None


class StoreRequest:
    """A C-STORE request the lane received, as ``event.request`` for the handler.

    The attributes pynetdicom's ``C_STORE`` primitive has for a request,
    and the incoming file the data set was written to (``event.dataset_path``).
    """

    def __init__(self, values: dict[str, Any], context_id: int, incoming: Any) -> None:
        self.MessageID: int = values["MessageID"]
        self.AffectedSOPClassUID: str = values["AffectedSOPClassUID"]
        self.AffectedSOPInstanceUID: str = values["AffectedSOPInstanceUID"]
        self.Priority: int = values["Priority"]
        self.MoveOriginatorApplicationEntityTitle: str | None = values.get(
            "MoveOriginatorApplicationEntityTitle")
        self.MoveOriginatorMessageID: int | None = values.get("MoveOriginatorMessageID")
        self._context_id = context_id
        self._dataset_file = incoming
        self._dataset_path = incoming.name
        self.values = values


class _Broken(Exception):
    """The PDU's presentation data values do not add up."""


class DataLane:
    """Serves one association's P-DATA of data transfer from its DUL thread (see the module)."""

    def __init__(self, dul: Any) -> None:
        self.dul = dul
        # Limits by role at the first P-DATA (admits); only the framing where the
        # listener's guard already follows every byte of the association
        # (leave_checks_to_guard). The same follower splits the values it serves.
        self._messages = MessageFollower(MessageLimits(), responses=True)
        self._limits_chosen = False
        self._command = bytearray()
        self._store: tuple[StoreRequest, Any] | None = None
        """The request whose data set is arriving, and its presentation context."""
        self._response: _Response | None = None
        """The response whose identifier is arriving."""
        self._contexts: dict[int, Any] | None = None

    def wants(self) -> bool:
        """Whether the next P-DATA-TF PDU should come here rather than to pynetdicom.

        Not while a handler would miss the events pynetdicom fires for every
        PDU; always while the lane is inside a message, which pynetdicom has
        not seen the start of.
        """
        if self._store is not None or self._response is not None or self._command:
            return True
        assoc = self.dul.assoc
        if any(assoc.get_handlers(event) for event in _SKIPPED_EVENTS):
            return False
        return all(_is_ready(handler) for handler, _args in assoc.get_handlers(evt.EVT_PDU_RECV))

    def leave_checks_to_guard(self) -> None:
        """The listener's guard follows this association's messages on its socket,
        with the listener's limits, before the lane sees a byte: following them
        again here would decode every command set twice: only the framing is left
        to check, as the values are split."""
        self._messages = MessageFollower(None)

    def _choose_limits(self, follower: MessageFollower) -> None:
        """On an association we requested, a response may list every failed instance."""
        self._limits_chosen = True
        if follower.limits is not None and getattr(self.dul.assoc, "is_requestor", False):
            follower.limits = OWN_ASSOCIATION_LIMITS

    def admits(self, body: bytearray, serve: bool = False) -> bool:
        """Whether the messages of this P-DATA-TF body (after its header) keep the limits.

        Called for every P-DATA-TF PDU, whoever serves it, so that the
        messages are followed from their first fragment; with *serve*, the
        lane serves each value as it passes (one pass over the body, through
        the one parser of presentation data values,
        :class:`~qrscope.core.dicom.messages.MessageFollower`). If the body
        breaks a limit, or its values do not add up, the association ends as
        pynetdicom ends one it cannot decode (Evt19: A-ABORT) and nothing of
        it is kept.
        """
        follower = self._messages
        if not self._limits_chosen:
            self._choose_limits(follower)
        try:
            if serve and not body:
                raise _Broken  # PS3.8 9.3.5: one or more values
            follower.follow(memoryview(body), len(body), self._value if serve else None)
            follower.pdu_complete()
        except Refused as refused:
            _LOGGER.warning("ending the association: %s", refused.words)
            self._command.clear()
            self._response = None
            self.dul.event_queue.put("Evt19")
            return False
        except _Broken:
            _LOGGER.error("Unable to decode the received P-DATA-TF PDU")
            self.dul.event_queue.put("Evt19")
            return False
        return True

    # -- reading ----------------------------------------------------------------------
    def _value(self, context_id: int, control: int, fragment: memoryview) -> None:
        is_command, is_last = control & 1, control & 2
        if self._store is not None or self._response is not None:
            if is_command:
                raise _Broken  # a command inside a data set: the peer lost its place
            if self._response is not None:
                self._response.data.write(fragment)  # type: ignore[union-attr]
                if is_last:
                    response, self._response = self._response, None
                    self._deliver(response)
                return
            self._store[0]._dataset_file.write(fragment)  # type: ignore[index]
            if is_last:
                request, context = self._store  # type: ignore[misc]
                self._store = None
                # The handler reads the file by its name (and copies it where the
                # storage is on another filesystem): what is buffered must be in it.
                # pynetdicom flushes after every fragment; once is enough.
                request._dataset_file.file.flush()
                self._complete(request, context)
            return
        if not is_command or self.dul.assoc.dimse.message is not None:
            self._to_pynetdicom(context_id, control, fragment)
            return
        self._command += fragment
        if not is_last:
            return
        command = bytes(self._command)
        self._command.clear()
        values = _command_values(command)
        started = None if values is None else self._start(context_id, values)
        if started is not None:
            self._store = started
            return
        response = None if values is None else self._response_to(context_id, values)
        if response is None:
            self._to_pynetdicom(context_id, 0x03, memoryview(command))
        elif response.data is None:
            self._deliver(response)
        else:
            self._response = response

    def _to_pynetdicom(self, context_id: int, control: int, fragment: memoryview) -> None:
        """Hand one value to pynetdicom's DIMSE provider, as its DT-2 action does."""
        primitive = P_DATA()
        primitive.presentation_data_value_list = [[context_id, bytes((control,)) + fragment]]
        self.dul.assoc.dimse.receive_primitive(primitive)

    # -- a request ----------------------------------------------------------------------
    def _start(self, context_id: int, values: dict[str, Any]) -> tuple[StoreRequest, Any] | None:
        """Open the incoming file for a C-STORE request the lane serves (None: it does not)."""
        if values.get("CommandField") != 0x0001 or values.get("CommandDataSetType") == 0x0101 \
                or any(name not in values for name in _REQUIRED):
            return None
        context = self._context(context_id)
        assoc = self.dul.assoc
        if context is None or str(context.abstract_syntax) != values["AffectedSOPClassUID"] \
                or not context.as_scp or getattr(assoc, "_sent_release", False) \
                or not self._handlers_allow(assoc):
            return None
        meta = file_meta_bytes(values["AffectedSOPClassUID"], values["AffectedSOPInstanceUID"],
                               context.transfer_syntax[0], PYNETDICOM_IMPLEMENTATION_UID,
                               PYNETDICOM_IMPLEMENTATION_VERSION)
        if meta is None:
            return None
        from pynetdicom import dimse_messages  # the incoming-file factory installed there

        incoming = dimse_messages.NamedTemporaryFile(delete=False, mode="wb", suffix=".dcm")
        incoming.write(meta)
        return StoreRequest(values, context_id, incoming), context

    # -- a response to one of our requests ---------------------------------------------
    def _response_to(self, context_id: int, values: dict[str, Any]) -> _Response | None:
        """A response the lane delivers as a primitive (None: pynetdicom decodes it)."""
        kind = _RESPONSES.get(values.get("CommandField"))  # type: ignore[arg-type]
        assoc = self.dul.assoc
        if kind is None or self._context(context_id) is None or not all(
                _is_ready(handler) for handler, _args in assoc.get_handlers(evt.EVT_DIMSE_RECV)):
            return None
        has_data = values.get("CommandDataSetType", 0x0101) != 0x0101
        if has_data and kind[0] in (C_STORE, C_ECHO):
            return None  # a response with a data set pynetdicom has nowhere to put
        return _Response(values, context_id, kind[0], kind[1], has_data)

    def _deliver(self, response: _Response) -> None:
        """Hand a complete response to whoever waits for it, as pynetdicom's DIMSE does.

        The same steps as ``DIMSEServiceProvider.receive_primitive`` for a
        response: ``EVT_DIMSE_RECV``, then the primitive, its values set
        through the primitive's own validating setters, on the message
        queue; a value they refuse ends the association (Evt19), as there.
        """
        assoc = self.dul.assoc
        evt.trigger(assoc, evt.EVT_DIMSE_RECV, {"message": _message_class(response.name)(
            response.values, response.context_id, response.data)})
        primitive = response.primitive()
        try:
            for keyword, value in response.values.items():
                if hasattr(primitive, keyword):
                    setattr(primitive, keyword, value)
            if response.data is not None:
                primitive.Identifier = response.data
        except Exception as exc:
            _LOGGER.error("Received an invalid DIMSE message")
            _LOGGER.exception(exc)
            self.dul.event_queue.put("Evt19")
            return
        primitive._context_id = response.context_id
        primitive._dataset_path = None
        primitive._dataset_file = None
        assoc.dimse.msg_queue.put((response.context_id, primitive))

    def _context(self, context_id: int) -> Any:
        if self._contexts is None:
            self._contexts = {cx.context_id: cx for cx in self.dul.assoc.accepted_contexts}
        return self._contexts.get(context_id)

    @staticmethod
    def _handlers_allow(assoc: Any) -> bool:
        store_handler = assoc.get_handlers(evt.EVT_C_STORE)
        if not store_handler or not getattr(store_handler[0], "reads_held_data", False):
            return False
        return all(_is_ready(handler) for event in _MARKED_EVENTS
                   for handler, _args in assoc.get_handlers(event))

    def _complete(self, request: StoreRequest, context: Any) -> None:
        """The data set is in: the handler files it, and the response goes out."""
        assoc = self.dul.assoc
        evt.trigger(assoc, evt.EVT_DIMSE_RECV,
                    {"message": _message_class("C_STORE_RQ")(
                        request.values, request._context_id)})
        result: Any
        try:
            result = evt.trigger(assoc, evt.EVT_C_STORE,
                                 {"request": request, "context": context.as_tuple})
        except Exception:
            _LOGGER.exception("Exception in the handler bound to 'evt.EVT_C_STORE'")
            result = _STATUS_HANDLER_FAILED
        finally:
            # As pynetdicom after any C-STORE handler: the incoming name goes.
            request._dataset_file.close()
            if getattr(request._dataset_file, "on_disk", True):
                with contextlib.suppress(OSError):
                    os.unlink(request._dataset_path)
        if assoc.is_acceptor and not assoc.is_established:
            return  # the handler released or aborted, as pynetdicom then sends nothing
        if isinstance(result, Dataset) and "Status" in result:
            # Other elements (an error comment) too: pynetdicom writes those.
            self._respond_through_pynetdicom(request, context, result)
        else:
            self._respond(request, context, _status_of(result))

    def _respond(self, request: StoreRequest, context: Any, status: int) -> None:
        assoc = self.dul.assoc
        command = store_response_bytes(request.AffectedSOPClassUID, request.MessageID, status,
                                       request.AffectedSOPInstanceUID)
        peer = assoc.acceptor if assoc.is_requestor else assoc.requestor
        limit = peer.maximum_length or 0
        if command is None or (limit and len(command) + 6 > limit):
            self._respond_through_pynetdicom(request, context, status)
            return
        evt.trigger(assoc, evt.EVT_DIMSE_SENT, {"message": _message_class("C_STORE_RSP")({
            "AffectedSOPClassUID": request.AffectedSOPClassUID,
            "CommandField": 0x8001,
            "MessageIDBeingRespondedTo": request.MessageID,
            "CommandDataSetType": 0x0101,
            "Status": status,
            "AffectedSOPInstanceUID": request.AffectedSOPInstanceUID,
        }, context.context_id)})
        value = len(command) + 2
        pdu = b"".join((b"\x04\x00", (value + 4).to_bytes(4, "big"), value.to_bytes(4, "big"),
                        bytes((context.context_id, 0x03)), command))
        self.dul.socket.send(pdu)

    def _respond_through_pynetdicom(self, request: StoreRequest, context: Any,
                                    status: int | Dataset) -> None:
        """A response the lane does not write: non-ASCII UIDs, a tiny maximum PDU, or a
        handler's status data set, whose elements pynetdicom copies into the response."""
        rsp = C_STORE()
        rsp.MessageID = request.MessageID
        rsp.MessageIDBeingRespondedTo = request.MessageID
        rsp.AffectedSOPInstanceUID = request.AffectedSOPInstanceUID
        rsp.AffectedSOPClassUID = request.AffectedSOPClassUID
        if isinstance(status, Dataset):
            for elem in status:
                if hasattr(rsp, elem.keyword):
                    setattr(rsp, elem.keyword, elem.value)
        else:
            rsp.Status = status
        self.dul.assoc.dimse.send_msg(rsp, context.context_id)


def _status_of(result: Any) -> int:
    """The response status for what a handler returned other than a status data set,
    as pynetdicom decides it."""
    if isinstance(result, Dataset):
        _LOGGER.error("The EVT_C_STORE handler returned a Dataset without a 'Status' element")
        return _STATUS_NO_STATUS
    if isinstance(result, int):
        return result
    _LOGGER.error("Invalid status returned by the EVT_C_STORE handler")
    return _STATUS_INVALID


def _command_values(command: bytes) -> dict[str, Any] | None:
    """A plain command set's values by keyword (None: pynetdicom decodes it)."""
    decoded = command_set_values(command)
    if decoded is None:
        return None
    return {_keyword(element): value for element, _vr, value in decoded}


_KEYWORDS: dict[int, str] = {}


def _keyword(element: int) -> str:
    """The keyword of command element (0000,*element*)."""
    found = _KEYWORDS.get(element)
    if found is None:
        found = _KEYWORDS[element] = keyword_for_tag(element) or f"(0000,{element:04X})"
    return found
