"""The PACS's own time per C-MOVE, read off the wire on loopback.

From the moment a C-MOVE request has fully arrived at the PACS's port (its
command and its identifier, PS3.7 9.3.4.1) to the moment the PACS sends its
final C-MOVE response (a status other than Pending, PS3.7 9.3.4.2): what the
PACS takes to find the instances, open its sub-association to the
destination and send them (the destination's storing included, as in any
C-MOVE), and nothing of the client's own work before or after.

Why the wire and not Orthanc's log: Orthanc 1.10.1 logs a C-MOVE's arrival
(``MoveScp.cpp] Received C-MOVE Request`` with ``--trace-dicom``,
``Move-SCU request received`` with ``--verbose-dicom``) and each
sub-operation's store response, but no line when it sends the final
response; the next line it writes is the client's release request, which is
the client's time again. Orthanc's verbose log also slows Orthanc.

``tcpdump`` (root, or ``cap_net_raw``) captures the PACS's port on ``lo``;
the PDU stream of each direction of each connection is put together again
from the TCP segments, and the DIMSE command sets are read from the P-DATA-TF
PDUs (PS3.8 9.3.5; command sets are Implicit VR Little Endian, PS3.7 6.3.1).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

C_MOVE_RQ = 0x0021
C_MOVE_RSP = 0x8021
PENDING = (0xFF00, 0xFF01)
P_DATA_TF = 0x04
_LINK_HEADER = {1: 14, 113: 16, 276: 20}
"""Bytes before the IP header per pcap link type (Ethernet, Linux SLL, SLL2)."""


@dataclass(frozen=True)
class Move:
    """One C-MOVE as the PACS saw it: request complete, final response sent (epoch s)."""

    requested: float
    answered: float
    status: int

    @property
    def seconds(self) -> float:
        return self.answered - self.requested


@contextlib.contextmanager
def capture(port: int, path: Path) -> Iterator[Path]:
    """``tcpdump`` on ``lo`` for TCP *port* into *path* until the block ends."""
    binary = shutil.which("tcpdump")
    if binary is None:
        raise RuntimeError("tcpdump is not installed (the PACS's own time needs it)")
    command = [binary, "-i", "lo", "-s", "0", "-B", "16384", "-n", "--immediate-mode", "-U",
               "-w", str(path),
               f"tcp port {port}"]
    log = path.with_suffix(".log")
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while "listening on" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tcpdump did not start; see {log}")
            time.sleep(0.02)
        yield path
    finally:
        _settled(path)
        process.send_signal(signal.SIGINT)  # tcpdump writes what it buffered, then exits
        process.wait(timeout=30)
    if not re.search(r"^0 packets dropped by kernel", log.read_text(errors="replace"), re.M):
        raise RuntimeError(f"tcpdump dropped packets; the times would miss some: see {log}")


def _settled(path: Path) -> None:
    """Wait until tcpdump has written what the kernel holds (the file stops growing):
    on SIGINT it exits without reading what is still in its buffer."""
    size = -1
    while size != path.stat().st_size:
        size = path.stat().st_size
        time.sleep(0.2)


def _segments(path: Path) -> Iterator[tuple[float, int, int, int, bytes]]:
    """(time, source port, destination port, sequence number, payload) of each
    TCP/IPv4 segment with data in a classic pcap file."""
    data = path.read_bytes()
    magic, _, _, _, _, _, link = struct.unpack_from("<IHHiIII", data, 0)
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        raise ValueError(f"{path}: not a little-endian pcap file")
    fraction = 1e-6 if magic == 0xA1B2C3D4 else 1e-9
    skip, offset = _LINK_HEADER[link], 24
    while offset + 16 <= len(data):
        seconds, part, captured, _ = struct.unpack_from("<IIII", data, offset)
        packet = data[offset + 16: offset + 16 + captured]
        offset += 16 + captured
        ip = packet[skip:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        total = struct.unpack_from(">H", ip, 2)[0]
        tcp = ip[(ip[0] & 0x0F) * 4: total]
        source, destination, sequence = struct.unpack_from(">HHI", tcp, 0)
        payload = tcp[(tcp[12] >> 4) * 4:]
        if payload:
            yield seconds + part * fraction, source, destination, sequence, payload


@dataclass
class _Stream:
    """One direction of one connection: its bytes in order, and the DIMSE messages."""

    next_sequence: int | None = None
    buffer: bytes = b""
    command: bytes = b""
    messages: list[tuple[float, int, int, bool]] = field(default_factory=list)
    """(time the message was complete, command field, status, data set follows)."""

    def feed(self, when: float, sequence: int, payload: bytes) -> None:
        if self.next_sequence is not None:
            behind = (self.next_sequence - sequence) & 0xFFFFFFFF
            if behind >= 0x80000000:
                raise ValueError("a TCP segment is missing from the capture")
            if behind >= len(payload):
                return  # a retransmission of what is already here
            payload = payload[behind:]
        self.next_sequence = (sequence + len(payload)) & 0xFFFFFFFF
        self.buffer += payload
        while len(self.buffer) >= 6:
            kind, length = self.buffer[0], struct.unpack_from(">I", self.buffer, 2)[0]
            if len(self.buffer) < 6 + length:
                return
            pdu, self.buffer = self.buffer[6: 6 + length], self.buffer[6 + length:]
            if kind == P_DATA_TF:
                self._pdvs(when, pdu)

    def _pdvs(self, when: float, pdu: bytes) -> None:
        offset = 0
        while offset + 6 <= len(pdu):
            length = struct.unpack_from(">I", pdu, offset)[0]
            header, value = pdu[offset + 5], pdu[offset + 6: offset + 4 + length]
            offset += 4 + length
            if header & 0x01:  # a command fragment
                self.command += value
                if header & 0x02:
                    field_, status, has_data = _command(self.command)
                    self.command = b""
                    self.messages.append((when, field_, status, has_data))
            elif header & 0x02 and self.messages:  # the last fragment of a data set
                _, field_, status, _ = self.messages[-1]
                self.messages[-1] = (when, field_, status, False)


def _command(command: bytes) -> tuple[int, int, bool]:
    """Command Field, Status (0 where none) and whether a data set follows."""
    values: dict[int, int] = {}
    offset = 0
    while offset + 8 <= len(command):
        _, element, length = struct.unpack_from("<HHI", command, offset)
        if length == 2 and element in (0x0100, 0x0800, 0x0900):
            values[element] = struct.unpack_from("<H", command, offset + 8)[0]
        offset += 8 + length
    return values.get(0x0100, 0), values.get(0x0900, 0), values.get(0x0800, 0x0101) != 0x0101


def moves(path: Path, pacs_port: int) -> list[Move]:
    """Every C-MOVE in the capture: its request complete at the PACS, its final response."""
    streams: dict[tuple[int, int], _Stream] = {}
    for when, source, destination, sequence, payload in _segments(path):
        streams.setdefault((source, destination), _Stream()).feed(when, sequence, payload)
    found = []
    for (source, destination), requests in streams.items():
        if destination != pacs_port:
            continue
        answers = streams.get((destination, source), _Stream()).messages
        finals = [(t, s) for t, f, s, _ in answers if f == C_MOVE_RSP and s not in PENDING]
        asked = [t for t, f, _, _ in requests.messages if f == C_MOVE_RQ]
        if len(asked) != len(finals):
            raise ValueError(f"connection from port {source}: {len(asked)} C-MOVE requests "
                             f"but {len(finals)} final responses")
        found += [Move(start, end, status)
                  for start, (end, status) in zip(asked, finals, strict=True)]
    return sorted(found, key=lambda m: m.requested)
