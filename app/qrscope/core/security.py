"""Who may talk to us, and how we prove who we are: accept policy, TLS, user identity.

Plain settings, kept with the local AE and each node
(:mod:`qrscope.core.profiles`). Secrets (passcodes, key passphrases) are
never part of them: they live in the system keyring, looked up by node name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from qrscope.core.validation import FieldReader

__all__ = ["AcceptPolicy", "IdentityKind", "TlsSettings", "UserIdentity"]


class AcceptPolicy(StrEnum):
    """Which callers the listener stores instances from.

    ``known``: a configured node (AE title, and host where the node names
    one) or the node a running retrieve is talking to, like Orthanc's
    ``DicomAlwaysAllowStore: false`` and dcm4chee's accepted callers.
    ``any``: every caller, as a test receiver would.
    """

    KNOWN = "known"
    ANY = "any"


class IdentityKind(StrEnum):
    """PS3.7 D.3.3.7 User Identity Negotiation: what we send at association time."""

    NONE = "none"
    USERNAME = "username"
    USERNAME_PASSCODE = "username-passcode"


@dataclass(frozen=True)
class TlsSettings:
    """DICOM over TLS (PS3.15 B.1): for a node we call, or for our listener.

    ``ca_file``: the certificates we trust (PEM; empty: the system's);
    ``cert_file``/``key_file``: our own certificate and key (required for
    the listener, optional for calling a node that asks for one);
    ``verify``: check the peer's certificate (and, calling a node, that it
    names the host); on by default, off only for a test bench.
    """

    enabled: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    verify: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def read(cls, reader: FieldReader) -> TlsSettings:
        """From a stored object; fields of the wrong type are reported by *reader*."""
        default = cls()
        return cls(enabled=reader.flag("enabled", default.enabled),
                   ca_file=reader.text("ca_file", default.ca_file),
                   cert_file=reader.text("cert_file", default.cert_file),
                   key_file=reader.text("key_file", default.key_file),
                   verify=reader.flag("verify", default.verify))

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TlsSettings:
        """From a stored object (``None``: defaults); raises ``InvalidValue`` on a wrong type."""
        return FieldReader.strictly(data, cls.read)


@dataclass(frozen=True)
class UserIdentity:
    """The user identity sent to a node; the passcode is in the keyring, never here."""

    kind: IdentityKind = IdentityKind.NONE
    username: str = ""
    ask_for_response: bool = False
    """Ask the node to confirm it accepted the identity (Positive Response Requested)."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "username": self.username,
                "ask_for_response": self.ask_for_response}

    @classmethod
    def read(cls, reader: FieldReader) -> UserIdentity:
        """From a stored object; fields of the wrong type are reported by *reader*."""
        default = cls()
        return cls(kind=reader.choice("kind", IdentityKind, default.kind),
                   username=reader.text("username", default.username),
                   ask_for_response=reader.flag("ask_for_response", default.ask_for_response))

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> UserIdentity:
        """From a stored object (``None``: defaults); raises ``InvalidValue`` on a wrong type."""
        return FieldReader.strictly(data, cls.read)
