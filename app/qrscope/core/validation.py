"""Checks for the values a user types or a hand-edited file holds.

Each check raises :class:`InvalidValue` naming the field and saying what is
wrong and what would be right, so the CLI and the GUI can show the message
as it is, next to the field it concerns. :class:`FieldReader` reads stored
settings with the same care: nothing is coerced into a type it is not.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import tempfile
from collections.abc import Callable, Mapping
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "FieldReader",
    "InvalidValue",
    "check_ae_title",
    "check_date_range",
    "check_folder",
    "check_host",
    "check_port",
    "check_seconds",
    "check_writable_file",
    "check_writable_folder",
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


_Choice = TypeVar("_Choice", bound=StrEnum)
_Value = TypeVar("_Value")
_REQUIRED: Any = object()


def _as_written(value: Any) -> str:
    """*value* as the file spells it (``null``, ``"false"``, ``Infinity``), shortened."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


class FieldReader:
    """Reads the fields of one stored JSON object, strictly.

    A missing field takes its default. A field of the wrong type is a
    problem named by its field (``listener_tls.verify``) and also takes the
    default, so the caller decides whether to use the rest or to keep the
    object as it was written. Nothing is coerced: ``"false"`` is not false,
    ``null`` is not text, ``true`` is not a port and ``1e999`` is not a
    number.
    """

    def __init__(self, data: Mapping[str, Any], prefix: str = "",
                 problems: list[InvalidValue] | None = None) -> None:
        self.data = data
        self.prefix = prefix
        self.problems: list[InvalidValue] = [] if problems is None else problems

    @classmethod
    def strictly(cls, data: Any, read: Callable[[FieldReader], _Value]) -> _Value:
        """``read(reader)`` over *data* (``None``: all defaults); raise the first problem."""
        if data is not None and not isinstance(data, Mapping):
            raise InvalidValue("settings", f"{_as_written(data)} is not an object")
        reader = cls(data or {})
        value = read(reader)
        if reader.problems:
            raise reader.problems[0]
        return value

    def problem(self, name: str, message: str) -> None:
        self.problems.append(InvalidValue(self.prefix + name, message))

    def _get(self, name: str, default: Any, fits: Callable[[Any], bool], wanted: str) -> Any:
        if name not in self.data:
            if default is _REQUIRED:
                self.problem(name, "is missing")
            return default
        value = self.data[name]
        if fits(value):
            return value
        self.problem(name, f"{_as_written(value)} is not {wanted}")
        return default

    def text(self, name: str, default: str = _REQUIRED) -> str:
        return str(self._get(name, default, lambda v: isinstance(v, str), "text"))

    def whole_number(self, name: str, default: int) -> int:
        return int(self._get(
            name, default, lambda v: isinstance(v, int) and not isinstance(v, bool),
            "a whole number"))

    def number(self, name: str, default: float) -> float:
        return float(self._get(
            name, default,
            lambda v: isinstance(v, int | float) and not isinstance(v, bool)
            and math.isfinite(v),
            "a finite number"))

    def flag(self, name: str, default: bool) -> bool:
        return bool(self._get(name, default, lambda v: isinstance(v, bool), "true or false"))

    def choice(self, name: str, kind: type[_Choice], default: _Choice) -> _Choice:
        allowed = [member.value for member in kind]
        value = self._get(name, default.value, lambda v: v in allowed and isinstance(v, str),
                          "one of " + ", ".join(allowed))
        return kind(value)

    def section(self, name: str) -> FieldReader:
        """A reader over the object under *name*; problems are reported with this one's."""
        value = self._get(name, {}, lambda v: isinstance(v, Mapping), "an object")
        return FieldReader(value, f"{self.prefix}{name}.", self.problems)


def check_port(value: int | str, field: str = "port") -> int:
    """Return the TCP port as an int in 1-65535, or raise :class:`InvalidValue`."""
    text = str(value).strip()
    # Digits only: int() would also take "1_04", "+104" and "١٠٤".
    if isinstance(value, bool) or not re.fullmatch(r"[0-9]{1,6}", text):
        raise InvalidValue(field, f"'{value}' is not a number (1-65535)")
    port = int(text)
    if not 1 <= port <= 65535:
        raise InvalidValue(field, f"{port} is outside 1-65535")
    return port


def check_seconds(value: float | str, field: str = "timeout", *, maximum: float) -> float:
    """Return a duration in seconds, more than 0 and at most *maximum*.

    ``float()`` takes ``inf``, ``nan`` and ``1e999``; no wait can use them.
    """
    try:
        seconds = float(str(value).strip())
    except ValueError:
        raise InvalidValue(field, f"'{value}' is not a number of seconds") from None
    if not math.isfinite(seconds) or not 0 < seconds <= maximum:
        raise InvalidValue(field, f"'{value}' is not a number of seconds more than 0 "
                           f"and at most {maximum:g}")
    return seconds


def check_folder(value: str | Path, field: str = "folder") -> Path:
    """Return *value* as a folder that exists, or raise :class:`InvalidValue`."""
    folder = Path(value).expanduser()
    if not folder.exists():
        raise InvalidValue(field, f"{folder} does not exist")
    if not folder.is_dir():
        raise InvalidValue(field, f"{folder} is not a folder")
    return folder


def check_writable_folder(value: str | Path, field: str = "folder") -> Path:
    """Return *value* as a folder we can write files in, creating it if needed.

    Writes and removes a temporary file, because only that is a true answer
    (``os.access`` says yes to root on a read-only mount).
    """
    folder = Path(value).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except FileExistsError:
        raise InvalidValue(field, f"{folder} is not a folder") from None
    except OSError as exc:
        raise InvalidValue(field, f"cannot write in {folder} "
                           f"({exc.strerror or exc})") from None
    return folder


def check_writable_file(value: str | Path, field: str = "file") -> Path:
    """Return *value* as a file that can be written: its folder exists and takes files."""
    path = Path(value).expanduser()
    if path.is_dir():
        raise InvalidValue(field, f"{path} is a folder, not a file")
    if not path.parent.is_dir():
        raise InvalidValue(field, f"the folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise InvalidValue(field, f"cannot write in {path.parent}")
    return path


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
