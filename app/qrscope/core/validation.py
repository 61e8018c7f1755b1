"""Checks for the values a user types: AE titles, ports, hosts, dates.

Each check raises :class:`InvalidValue` naming the field and saying what is
wrong and what would be right, so the CLI and the GUI can show the message
as it is, next to the field it concerns.
"""

from __future__ import annotations

import re
import socket
from datetime import date

__all__ = [
    "InvalidValue",
    "check_ae_title",
    "check_date_range",
    "check_host",
    "check_port",
    "resolve_host",
]


class InvalidValue(ValueError):
    """A user-supplied value that cannot be used, with the field it belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def check_ae_title(value: str, field: str = "AE title") -> str:
    """Return the AE title without padding, or raise :class:`InvalidValue`.

    PS3.5 6.2 (VR AE): at most 16 characters of the Default Character
    Repertoire, no backslash and no control characters; leading and trailing
    spaces are not significant, so a title of only spaces is empty.
    """
    if not isinstance(value, str):
        raise InvalidValue(field, "must be text")
    stripped = value.strip(" ")
    if not stripped:
        raise InvalidValue(field, "must not be empty (1 to 16 characters)")
    if len(stripped) > 16:
        raise InvalidValue(
            field, f"'{stripped}' has {len(stripped)} characters; DICOM allows at most 16"
        )
    for char in stripped:
        if char == "\\":
            raise InvalidValue(field, f"'{stripped}' contains a backslash, which DICOM forbids")
        if ord(char) < 0x20 or ord(char) == 0x7F:
            raise InvalidValue(field, f"'{stripped}' contains a control character")
        if ord(char) > 0x7E:
            raise InvalidValue(
                field,
                f"'{stripped}' contains '{char}'; only plain ASCII letters, digits, "
                "spaces and punctuation are allowed",
            )
    return stripped


def check_port(value: int | str, field: str = "port") -> int:
    """Return the TCP port as an int in 1-65535, or raise :class:`InvalidValue`."""
    try:
        port = int(str(value).strip())
    except ValueError:
        raise InvalidValue(field, f"'{value}' is not a number (1-65535)") from None
    if not 1 <= port <= 65535:
        raise InvalidValue(field, f"{port} is outside 1-65535")
    return port


_HOST_CHARS = re.compile(r"^[A-Za-z0-9.\-:_%\[\]]+$")


def check_host(value: str, field: str = "host") -> str:
    """Return the host name or address if it is well formed (it is not resolved)."""
    host = (value or "").strip()
    if not host:
        raise InvalidValue(field, "must not be empty (a host name or IP address)")
    if not _HOST_CHARS.match(host) or len(host) > 253:
        raise InvalidValue(field, f"'{host}' is not a valid host name or IP address")
    return host.strip("[]")


def resolve_host(host: str, field: str = "host") -> str:
    """Resolve *host* to an IP address, or raise :class:`InvalidValue` saying it did not."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidValue(field, f"'{host}' cannot be resolved ({exc})") from None
    return str(infos[0][4][0])


_DA = re.compile(r"^\d{8}$")


def _check_da(text: str, field: str) -> date:
    if not _DA.match(text):
        raise InvalidValue(field, f"'{text}' is not a date; use YYYYMMDD")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise InvalidValue(field, f"'{text}' is not a real calendar date") from None


def check_date_range(value: str, field: str = "date") -> str:
    """Return a DICOM DA match value: ``YYYYMMDD``, ``A-B``, ``-B``, ``A-`` or empty.

    Accepts ``YYYY-MM-DD`` too, since that is what people type, and rejects
    reversed ranges, which a PACS would silently answer with nothing.
    """
    text = (value or "").strip()
    if not text:
        return ""
    iso = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
    if iso:
        text = "".join(iso.groups())
    if "-" not in text:
        _check_da(text, field)
        return text
    if text.count("-") != 1:
        text = "-".join(part.replace("-", "") for part in _split_iso_range(text, field))
    start, end = text.split("-")
    first = _check_da(start, field) if start else None
    last = _check_da(end, field) if end else None
    if first is None and last is None:
        raise InvalidValue(field, "a range needs at least one date")
    if first and last and first > last:
        raise InvalidValue(field, f"the range {start}-{end} ends before it starts")
    return f"{start}-{end}"


def _split_iso_range(text: str, field: str) -> tuple[str, str]:
    """Split ``2024-01-01-2024-01-31`` (ISO dates in a range) at the middle dash."""
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})?-(\d{4}-\d{2}-\d{2})?", text)
    if not match:
        raise InvalidValue(field, f"'{text}' is not a date range; use YYYYMMDD-YYYYMMDD")
    return match.group(1) or "", match.group(2) or ""
