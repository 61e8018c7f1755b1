"""PS3.8 framing, followed as the bytes arrive: PDUs, presentation data values, DIMSE messages.

The one parser of presentation data values. The listener's guard follows
every byte a peer sends before pynetdicom reads it (the PDU headers it
reads with :data:`PDU_HEADER`, the P-DATA-TF bodies with
:class:`MessageFollower`); the tuned engine's DUL reads whole PDUs with the
same header and types, and its data lane has the same follower check each
P-DATA-TF body and split it into the values it serves, in one pass.
:class:`MessageFollower` holds the messages to :class:`MessageLimits` and
raises :class:`Refused` at the first value header that breaks a rule,
before that value's bytes are read."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from typing import Protocol

from pynetdicom.dsutils import decode

from qrscope.core.dicom.encoding import command_set_values

__all__ = [
    "A_ABORT",
    "A_ASSOCIATE_RJ",
    "A_ASSOCIATE_RQ",
    "INVALID_PARAMETER_VALUE",
    "MAX_PDU_LENGTH",
    "PDU_HEADER",
    "PDU_TYPES",
    "P_DATA_TF",
    "UNEXPECTED_PARAMETER",
    "UNEXPECTED_PDU",
    "UNRECOGNIZED_PDU",
    "Deliver",
    "MessageBounds",
    "MessageFollower",
    "MessageLimits",
    "Refused",
    "size_words",
]

# PS3.8 9.3.1 Table 9-1's PDU types this package names.
A_ASSOCIATE_RQ, A_ASSOCIATE_RJ, P_DATA_TF, A_ABORT = 0x01, 0x03, 0x04, 0x07
PDU_TYPES = range(0x01, 0x08)  # PS3.8 9.3.1: A-ASSOCIATE-RQ (1) ... A-ABORT (7)

PDU_HEADER = struct.Struct(">BBL")  # PS3.8 9.3.1: type, reserved, length

# A-ABORT reasons, PS3.8 Table 9-26 (source 2: the service provider).
UNRECOGNIZED_PDU, UNEXPECTED_PDU, UNEXPECTED_PARAMETER, INVALID_PARAMETER_VALUE = \
    0x01, 0x02, 0x05, 0x06

# DIMSE command fields (PS3.7 E.1, E.2): bit 15 set marks a response.
C_STORE_RQ, RESPONSE_BIT, NO_DATA_SET = 0x0001, 0x8000, 0x0101
_SERVICES = {0x0001: "C-STORE", 0x0010: "C-GET", 0x0020: "C-FIND", 0x0021: "C-MOVE",
             0x0030: "C-ECHO", 0x0FFF: "C-CANCEL", 0x0100: "N-EVENT-REPORT", 0x0110: "N-GET",
             0x0120: "N-SET", 0x0130: "N-ACTION", 0x0140: "N-CREATE", 0x0150: "N-DELETE"}


# The Maximum Length we announce (PS3.8 D.1) and the largest P-DATA-TF we
# accept: see ListenerLimits.max_pdu_length in core/receive/guard.py.
MAX_PDU_LENGTH = 256 * 1024


Deliver = Callable[[int, int, memoryview], None]
"""Takes one presentation data value: context ID, message control header, fragment."""


class MessageBounds(Protocol):
    """What :class:`MessageFollower` needs to know of its limits."""

    @property
    def max_command_length(self) -> int: ...

    @property
    def max_identifier_length(self) -> int: ...


@dataclass(frozen=True)
class MessageLimits:
    """The most a command set, and a data set of any message but a C-STORE-RQ, may hold.

    The listener's defaults (:class:`~qrscope.core.receive.guard.ListenerLimits`
    explains them): 64 KiB, 1 MiB.
    """

    max_command_length: int = 64 * 1024
    max_identifier_length: int = 1024 * 1024


class Refused(Exception):
    """A peer broke a rule: the A-ABORT reason, a short kind to count, and what it did.

    ``kind`` is the key of :attr:`ListenerGuard.refused`; ``words`` says in
    plain words what the peer did, for the logs.
    """

    def __init__(self, reason: int, kind: str, words: str) -> None:
        super().__init__(words)
        self.reason, self.kind, self.words = reason, kind, words


def size_words(length: int) -> str:
    """*length* as the limits are written: 64 KiB, 1 MiB."""
    if length % (1 << 20) == 0:
        return f"{length >> 20} MiB"
    return f"{length >> 10} KiB" if length % 1024 == 0 else f"{length} bytes"


def _message_name(field: int) -> str:
    """C-FIND-RSP for command field 0x8020 (PS3.7 E.1)."""
    service = _SERVICES.get(field & ~RESPONSE_BIT)
    if service is None:
        return f"message with command field 0x{field:04X}"
    return f"{service}-{'RSP' if field & RESPONSE_BIT else 'RQ'}"


class MessageFollower:
    """Follows the presentation data values of P-DATA-TF bodies and the DIMSE messages they form.

    Fed the bodies' bytes as they pass (:meth:`follow`, in any pieces), it
    raises :class:`Refused` at the first value header that breaks a rule,
    before that value's bytes are read:

    * a value must fit its PDU (PS3.8 9.3.5: a 4-byte item length, the
      presentation context ID, the message control header);
    * every fragment of a message, its command set and its data set, is on
      the message's presentation context (PS3.8 9.3.5, E.2), and a data
      fragment follows a command that announced a data set;
    * a command set is at most ``max_command_length`` bytes; once complete,
      its Command Field (0000,0100) and Command Data Set Type (0000,0800)
      decide what follows (PS3.7 E.1): with *responses* false (the
      listener's associations, where nothing of ours is outstanding) a
      response is refused; a data set is at most ``max_identifier_length``
      bytes unless the message is a C-STORE request, whose data set
      streams to disk.

    Only the command set being read is held (at most its limit); a data set
    is only counted.
    """

    def __init__(self, limits: MessageBounds | None, responses: bool = False) -> None:
        self.limits = limits  # None: only the framing is followed (see follow)
        self._responses = responses
        self._header = bytearray()  # of the value being read: length, context ID, control
        self._left = 0  # bytes of the value's fragment still to come
        self._is_command = False
        self._is_last = False
        self._context: int | None = None  # the presentation context of the current message
        self._command = bytearray()
        self._message = ""  # the message whose data set is arriving ("" while none is)
        self._data_limit = 0.0
        self._data_seen = 0
        self._value_context = self._control = self._start = 0  # of the value being read

    def follow(self, body: memoryview, pdu_left: int,
               deliver: Deliver | None = None) -> None:
        """Follow *body*, the next bytes of a P-DATA-TF body of which *pdu_left* remain.

        With *deliver*, each value is handed on, whole, once it has passed
        the checks: ``deliver(context_id, control, fragment)``. Values are
        whole only in whole bodies, so *deliver* takes one body at a time
        (the tuned engine's data lane; the guard follows socket reads and
        delivers nothing). With no limits only the framing is checked: every
        value fits its PDU.
        """
        pos, size = 0, len(body)
        while pos < size:
            if self._left:
                step = min(self._left, size - pos)
                if self._is_command and self.limits is not None:
                    self._command += body[pos:pos + step]
                self._left -= step
                pos += step
                if not self._left:
                    self._value_complete()
                    if deliver is not None:
                        deliver(self._value_context, self._control, body[self._start:pos])
                continue
            step = min(6 - len(self._header), size - pos)
            self._header += body[pos:pos + step]
            pos += step
            if len(self._header) == 6:
                length, context, control = struct.unpack(">LBB", self._header)
                self._header.clear()
                self._value_context, self._control, self._start = context, control, pos
                self._begin_value(length, context, control, pdu_left - pos)
                if deliver is not None and pos + self._left > size:
                    raise ValueError("deliver takes whole P-DATA-TF bodies")
                if not length - 2 and deliver is not None:
                    deliver(context, control, body[pos:pos])

    def pdu_complete(self) -> None:
        """The P-DATA-TF body ended: it must not end inside a value's header."""
        if self._header:
            self._header.clear()
            raise Refused(INVALID_PARAMETER_VALUE, "broken presentation data value",
                          "the peer sent a P-DATA-TF PDU that ends inside a presentation "
                          "data value's header")

    def _begin_value(self, length: int, context: int, control: int, room: int) -> None:
        if length < 2 or length - 2 > room:
            raise Refused(INVALID_PARAMETER_VALUE, "broken presentation data value",
                          "the peer sent a presentation data value that does not fit its "
                          "P-DATA-TF PDU")
        if self.limits is not None and self._context is not None and context != self._context:
            raise Refused(UNEXPECTED_PARAMETER, "fragment on another presentation context",
                          f"the peer sent a fragment on presentation context {context} in "
                          f"the middle of a message on presentation context {self._context}")
        self._is_command, self._is_last = bool(control & 1), bool(control & 2)
        fragment = length - 2
        if self.limits is None:  # the framing only
            self._left = fragment
            return
        if self._is_command:
            self._check_command(fragment)
        else:
            self._check_data(fragment)
        self._context, self._left = context, fragment
        if not fragment:
            self._value_complete()

    def _check_command(self, fragment: int) -> None:
        if self._message:
            raise Refused(UNEXPECTED_PARAMETER, "command inside a data set",
                          f"the peer sent a command fragment inside the {self._message}'s "
                          "data set")
        assert self.limits is not None  # checks run only with limits
        limit = self.limits.max_command_length
        if len(self._command) + fragment > limit:
            raise Refused(INVALID_PARAMETER_VALUE, "command set too long",
                          f"the peer's command set passed {size_words(limit)} without its last "
                          "fragment")

    def _check_data(self, fragment: int) -> None:
        if not self._message:
            raise Refused(UNEXPECTED_PARAMETER, "data set without a command",
                          "the peer sent a data set fragment that no command announced")
        if self._data_seen + fragment > self._data_limit:
            raise Refused(INVALID_PARAMETER_VALUE, "data set too long",
                          f"the peer's {self._message}'s data set passed "
                          f"{size_words(int(self._data_limit))}, the most for any message but a "
                          "C-STORE-RQ")
        self._data_seen += fragment

    def _value_complete(self) -> None:
        if not self._is_last or self.limits is None:
            return
        if self._is_command:
            self._command_complete()
        else:
            self._message, self._context = "", None

    def _command_complete(self) -> None:
        command = bytes(self._command)
        self._command.clear()
        field, data_set_type = _command_field(command)
        name = _message_name(field)
        if field & RESPONSE_BIT and not self._responses:
            raise Refused(UNEXPECTED_PARAMETER, "response to no request",
                          f"the peer sent a {name}, but the listener sends no requests that "
                          "it could answer")
        if data_set_type == NO_DATA_SET:
            self._context = None
            return
        self._message, self._data_seen = name, 0
        self._data_limit = math.inf if field == C_STORE_RQ else \
            self.limits.max_identifier_length


def _command_field(command: bytes) -> tuple[int, int]:
    """Command Field and Command Data Set Type of a command set (PS3.7 E.1).

    Read by :func:`~qrscope.core.dicom.encoding.command_set_values`, or by
    pydicom for what that leaves to it (as pynetdicom would decode it);
    :class:`Refused` when neither finds a Command Field. A missing Command
    Data Set Type counts as "no data set".
    """
    decoded = command_set_values(command)
    if decoded is not None:
        values = {element: value for element, _vr, value in decoded}
        field, data_set_type = values.get(0x0100), values.get(0x0800, NO_DATA_SET)
    else:
        try:
            ds = decode(BytesIO(command), True, True, False)
            field, data_set_type = ds.get("CommandField"), ds.get("CommandDataSetType",
                                                                   NO_DATA_SET)
        except Exception:
            field = data_set_type = None
    if not isinstance(field, int) or not isinstance(data_set_type, int):
        raise Refused(INVALID_PARAMETER_VALUE, "unreadable command set",
                      "the peer sent a command set without a readable Command Field")
    return field, data_set_type
