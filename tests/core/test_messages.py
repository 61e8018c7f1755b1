"""The one parser of presentation data values (core/dicom/messages.py): what it hands on,
and what it refuses, whether it checks the limits or only the framing."""

from __future__ import annotations

import struct

import pytest

from qrscope.core.dicom.messages import MessageFollower, MessageLimits, Refused


def _value(context: int, control: int, fragment: bytes) -> bytes:
    return struct.pack(">LBB", len(fragment) + 2, context, control) + fragment


def _follow(follower: MessageFollower, body: bytes) -> list[tuple[int, int, bytes]]:
    got: list[tuple[int, int, bytes]] = []
    follower.follow(memoryview(body), len(body),
                    lambda cx, control, fragment: got.append((cx, control, bytes(fragment))))
    follower.pdu_complete()
    return got


def test_values_are_handed_on_whole_and_in_order_with_the_framing_only():
    body = _value(1, 0x00, b"abc") + _value(1, 0x02, b"") + _value(3, 0x03, b"de")
    assert _follow(MessageFollower(None), body) == [
        (1, 0x00, b"abc"), (1, 0x02, b""), (3, 0x03, b"de")]


@pytest.mark.parametrize("limits", [None, MessageLimits()], ids=["framing", "limits"])
def test_a_value_that_does_not_fit_its_pdu_is_refused_before_it_is_handed_on(limits):
    body = _value(1, 0x00, b"abc")[:-1]  # one byte short of its announced length
    got: list[bytes] = []
    with pytest.raises(Refused, match="does not fit"):
        MessageFollower(limits).follow(memoryview(body), len(body),
                                       lambda *value: got.append(value[2]))
    assert got == []


def test_a_body_that_ends_inside_a_value_header_is_refused():
    body = _value(1, 0x00, b"abc") + b"\0\0"
    with pytest.raises(Refused, match="ends inside"):
        _follow(MessageFollower(None), body)


def test_with_limits_a_data_fragment_no_command_announced_is_refused():
    with pytest.raises(Refused, match="no command announced"):
        _follow(MessageFollower(MessageLimits()), _value(1, 0x00, b"data"))
