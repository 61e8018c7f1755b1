"""Connection profiles: the remote nodes we talk to and our own AE.

A C-MOVE works only if both sides agree on names: the PACS must know our AE
title, address and listener port, and we must send the AE title the PACS knows
us by as move destination. These classes hold those settings, validate them
with messages a user can act on, and are persisted by
:mod:`qrscope.core.profile_store`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import platformdirs

from qrscope.core.batch.window import AvailabilityWindow, WindowError
from qrscope.core.dicom.qr_models import QueryModel
from qrscope.core.security import AcceptPolicy, TlsSettings, UserIdentity
from qrscope.core.validation import (
    FieldReader,
    InvalidValue,
    check_ae_title,
    check_host,
    check_port,
    resolve_host,
)

__all__ = [
    "DEFAULT_AE_TITLE",
    "DEFAULT_LISTENER_PORT",
    "MAX_PARALLEL_RETRIEVES",
    "MAX_TIMEOUT",
    "LocalAE",
    "QueryModel",
    "RemoteNode",
    "RetrieveMethod",
    "Timeouts",
    "check_parallel",
    "check_window",
]

DEFAULT_AE_TITLE = "QRSCOPE"
DEFAULT_LISTENER_PORT = 11112
MAX_TIMEOUT = 7 * 24 * 3600.0
"""A week: longer than any retrieve, and short enough for every wait (sockets,
``threading``) to accept; ``inf`` would make them raise ``OverflowError``."""


MAX_PARALLEL_RETRIEVES = 32
"""More retrieves at once than any PACS we know of serves to one caller."""


class RetrieveMethod(StrEnum):
    MOVE = "move"
    GET = "get"


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait at each stage of talking to a node.

    ``retrieve_idle`` is reset by every pending C-MOVE/C-GET response and by
    every instance our listener receives for the job, so a large study that
    streams for an hour is never cut off while it progresses; a PACS that
    fetches from a slow archive may stay silent for minutes before the first
    image, hence the generous default. ``retrieve_total`` (0 = no limit)
    caps the whole retrieve when a user wants that.
    """

    connect: float = 10.0
    association: float = 30.0
    response: float = 60.0
    retrieve_idle: float = 300.0
    retrieve_total: float = 0.0
    cancel_grace: float = 10.0

    def validated(self) -> Timeouts:
        for f in fields(self):
            value = getattr(self, f.name)
            if (not isinstance(value, int | float) or isinstance(value, bool)
                    or not math.isfinite(value) or value < 0):
                raise InvalidValue(f"timeouts.{f.name}", f"{value!r} is not a positive number")
            if value > MAX_TIMEOUT:
                raise InvalidValue(f"timeouts.{f.name}",
                                   f"{value:g} seconds is more than a week ({MAX_TIMEOUT:g})")
        for name in ("connect", "association", "response", "retrieve_idle", "cancel_grace"):
            if getattr(self, name) == 0:
                raise InvalidValue(f"timeouts.{name}", "must be more than 0 seconds")
        return self

    @classmethod
    def read(cls, reader: FieldReader) -> Timeouts:
        """From a stored object; fields of the wrong type are reported by *reader*."""
        default = cls()
        return cls(**{f.name: reader.number(f.name, getattr(default, f.name))
                      for f in fields(cls)})


@dataclass(frozen=True)
class RemoteNode:
    """A PACS or other Q/R SCP as the user configured it.

    ``move_destination`` is the AE title sent in C-MOVE requests; empty means
    our own AE title (the usual case: the PACS sends to our listener).
    """

    name: str
    ae_title: str
    host: str
    port: int = 104
    query_model: QueryModel = QueryModel.STUDY_ROOT
    retrieve_method: RetrieveMethod = RetrieveMethod.MOVE
    move_destination: str = ""
    timeouts: Timeouts = field(default_factory=Timeouts)
    tls: TlsSettings = field(default_factory=TlsSettings)
    identity: UserIdentity = field(default_factory=UserIdentity)
    max_parallel_retrieves: int = 0
    """Retrieves run at once on this node, at most (0: no limit of its own, the job
    queue's default); a batch's pace starts here and backs off from it."""
    availability_window: str = ""
    """When batch retrieves may run, e.g. 'Mon-Fri 20:00-07:00' (empty: any time);
    single retrieves are never held back by it."""

    @property
    def window(self) -> AvailabilityWindow | None:
        """The availability window read, None when there is none (or it cannot be read)."""
        try:
            return AvailabilityWindow.parse(self.availability_window) \
                if self.availability_window.strip() else None
        except WindowError:
            return None

    def problems(self, resolve: bool = False) -> list[InvalidValue]:
        """Every problem with this node, each naming its field; empty when usable."""
        found: list[InvalidValue] = []
        checks = [
            ("name", lambda: self.name.strip() or _raise("name", "must not be empty")),
            ("ae_title", lambda: check_ae_title(self.ae_title, "ae_title")),
            ("host", lambda: check_host(self.host, "host")),
            ("port", lambda: check_port(self.port, "port")),
            ("timeouts", self.timeouts.validated),
            ("max_parallel_retrieves", lambda: check_parallel(self.max_parallel_retrieves)),
            ("availability_window", lambda: check_window(self.availability_window)),
        ]
        if self.move_destination:
            checks.append(
                ("move_destination",
                 lambda: check_ae_title(self.move_destination, "move_destination"))
            )
        for _name, check in checks:
            try:
                check()
            except InvalidValue as exc:
                found.append(exc)
        if resolve and not any(p.field == "host" for p in found):
            try:
                resolve_host(self.host, "host")
            except InvalidValue as exc:
                found.append(exc)
        return found

    def validated(self, resolve: bool = False) -> RemoteNode:
        """This node with normalised values, or raise the first problem."""
        problems = self.problems(resolve=resolve)
        if problems:
            raise problems[0]
        return replace(
            self,
            name=self.name.strip(),
            ae_title=check_ae_title(self.ae_title),
            host=check_host(self.host),
            port=check_port(self.port),
            move_destination=self.move_destination.strip(),
            availability_window=check_window(self.availability_window),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["query_model"] = self.query_model.value
        data["retrieve_method"] = self.retrieve_method.value
        data["tls"] = self.tls.to_dict()
        data["identity"] = self.identity.to_dict()
        return data

    @classmethod
    def read(cls, reader: FieldReader) -> RemoteNode:
        """From a stored object; missing and wrongly typed fields are reported by *reader*.

        ``name``, ``ae_title`` and ``host`` are required; with problems, the
        node returned only stands in for one that could not be read.
        """
        return cls(
            name=reader.text("name"),
            ae_title=reader.text("ae_title"),
            host=reader.text("host"),
            port=reader.whole_number("port", 104),
            query_model=reader.choice("query_model", QueryModel, QueryModel.STUDY_ROOT),
            retrieve_method=reader.choice("retrieve_method", RetrieveMethod,
                                          RetrieveMethod.MOVE),
            move_destination=reader.text("move_destination", ""),
            timeouts=Timeouts.read(reader.section("timeouts")),
            tls=TlsSettings.read(reader.section("tls")),
            identity=UserIdentity.read(reader.section("identity")),
            max_parallel_retrieves=reader.whole_number("max_parallel_retrieves", 0),
            availability_window=reader.text("availability_window", ""),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RemoteNode:
        """From a stored object; raises ``InvalidValue`` naming the first unreadable field."""
        return FieldReader.strictly(data, cls.read)


DEFAULT_CONFIRM_RETRIEVES_ABOVE = 50


def default_storage_folder() -> Path:
    return platformdirs.user_data_path("qrscope", appauthor=False) / "received"


@dataclass(frozen=True)
class LocalAE:
    """Our own application entity: the AE title we call with and listen as.

    The listener binds to all interfaces by default because the PACS calls
    back from another host; ``127.0.0.1`` is only right when the PACS runs
    on this machine.
    """

    ae_title: str = DEFAULT_AE_TITLE
    listener_port: int = DEFAULT_LISTENER_PORT
    bind_address: str = "0.0.0.0"
    storage_folder: Path = field(default_factory=default_storage_folder)
    mask_patient_identifiers: bool = False
    accept: AcceptPolicy = AcceptPolicy.KNOWN
    """Which callers the listener stores from (see :class:`AcceptPolicy`)."""
    listener_tls: TlsSettings = field(default_factory=TlsSettings)
    confirm_retrieves_above: int = DEFAULT_CONFIRM_RETRIEVES_ABOVE
    """Retrieving more studies than this at once is asked about first: a select-all
    of a large search should not queue thousands of C-MOVEs without a word."""

    def problems(self) -> list[InvalidValue]:
        found: list[InvalidValue] = []
        for check in (
            lambda: check_ae_title(self.ae_title, "ae_title"),
            lambda: check_port(self.listener_port, "listener_port"),
            lambda: check_host(self.bind_address, "bind_address"),
            lambda: str(self.storage_folder).strip() or _raise(
                "storage_folder", "must not be empty"),
        ):
            try:
                check()
            except InvalidValue as exc:
                found.append(exc)
        return found

    def validated(self) -> LocalAE:
        problems = self.problems()
        if problems:
            raise problems[0]
        return replace(
            self,
            ae_title=check_ae_title(self.ae_title),
            listener_port=check_port(self.listener_port),
            bind_address=check_host(self.bind_address),
            storage_folder=Path(self.storage_folder).expanduser(),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["storage_folder"] = str(self.storage_folder)
        data["accept"] = self.accept.value
        data["listener_tls"] = self.listener_tls.to_dict()
        return data

    @classmethod
    def read(cls, reader: FieldReader) -> LocalAE:
        """From a stored object; a field of the wrong type is reported and takes its default."""
        default = cls()
        folder = reader.text("storage_folder", str(default.storage_folder))
        if not folder.strip():
            # Path("") is the current directory: never store there by accident.
            reader.problem("storage_folder", "must not be empty")
            folder = str(default.storage_folder)
        return cls(
            ae_title=reader.text("ae_title", default.ae_title),
            listener_port=reader.whole_number("listener_port", default.listener_port),
            bind_address=reader.text("bind_address", default.bind_address),
            storage_folder=Path(folder),
            mask_patient_identifiers=reader.flag("mask_patient_identifiers",
                                                 default.mask_patient_identifiers),
            accept=reader.choice("accept", AcceptPolicy, default.accept),
            listener_tls=TlsSettings.read(reader.section("listener_tls")),
            confirm_retrieves_above=max(0, reader.whole_number(
                "confirm_retrieves_above", default.confirm_retrieves_above)),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LocalAE:
        """From a stored object; raises ``InvalidValue`` naming the first unreadable field."""
        return FieldReader.strictly(data, cls.read)


def check_parallel(value: int, field_name: str = "max_parallel_retrieves") -> int:
    """0 (no limit of the node's own) or 1 to :data:`MAX_PARALLEL_RETRIEVES`."""
    if isinstance(value, bool) or not isinstance(value, int) or not (
            0 <= value <= MAX_PARALLEL_RETRIEVES):
        raise InvalidValue(field_name, f"{value!r} is not a number of retrieves from 1 to "
                                       f"{MAX_PARALLEL_RETRIEVES} (0: no limit of its own)")
    return value


def check_window(text: str, field_name: str = "availability_window") -> str:
    """The window as stored (spaces tidied; empty: any time), or what is wrong with it."""
    if not text.strip():
        return ""
    try:
        return AvailabilityWindow.parse(text).text
    except WindowError as exc:
        raise InvalidValue(field_name, str(exc)) from exc


def _raise(field_name: str, message: str) -> str:
    raise InvalidValue(field_name, message)
