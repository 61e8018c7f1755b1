"""One zip a user can attach to a ticket: the log, the settings, the doctor, the picture.

Patient identifiers in the log are always masked here, whatever the log's own
setting: the bundle leaves the hospital. Settings carry no secrets: a
node's passcode is in the system keyring, and TLS settings are file paths
(never the key itself). As a second line of defence, the node's passcode,
where the keyring has one, is replaced by ``[hidden]`` in every file of the
bundle, should any message ever have quoted it.
"""

from __future__ import annotations

import json
import platform
import zipfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydicom
import pynetdicom

from qrscope import __version__
from qrscope.core.net import secrets
from qrscope.core.net.association_log import AssociationLog, mask_identifiers
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.diagnosis.doctor import DoctorReport
from qrscope.diagnosis.hints import Hint
from qrscope.diagnosis.sequence import build_sequence

__all__ = ["versions", "write_support_bundle"]


def versions(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"qrscope": __version__, "pynetdicom": pynetdicom.__version__,
            "pydicom": pydicom.__version__, "python": platform.python_version(),
            "platform": platform.platform(), **(extra or {})}


def write_support_bundle(path: Path, log: AssociationLog, local: LocalAE,
                         node: RemoteNode | None = None, *, doctor: DoctorReport | None = None,
                         job_id: str | None = None, hints: list[Hint] | None = None,
                         extra_versions: dict[str, str] | None = None) -> Path:
    """Write the bundle to *path* (a .zip) and return it."""
    events = [replace(e, detail=mask_identifiers(e.detail)) for e in log.events()]
    settings: dict[str, Any] = {"local": local.to_dict()}
    if node is not None:
        settings["node"] = node.to_dict()
    readme = [f"qrscope support bundle, {datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
              "association-log.jsonl  every association event (patient identifiers masked)",
              "settings.json          the node and our AE",
              "versions.json          qrscope, pynetdicom, pydicom, Qt, Python"]
    path.parent.mkdir(parents=True, exist_ok=True)
    hidden = _known_passcode(node)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as raw:
        bundle = _Redacting(raw, hidden)
        bundle.writestr("association-log.jsonl", AssociationLog.to_json_lines(events))
        bundle.writestr("settings.json", json.dumps(settings, indent=2, default=str))
        bundle.writestr("versions.json", json.dumps(versions(extra_versions), indent=2))
        if doctor is not None:
            bundle.writestr("doctor.json", json.dumps(doctor.to_dict(), indent=2, default=str))
            readme.append("doctor.json            the C-MOVE doctor's steps and verdict")
        if hints:
            bundle.writestr("hints.json", json.dumps([h.to_dict() for h in hints], indent=2,
                                                     default=str))
            readme.append("hints.json             what qrscope concluded")
        if job_id is not None:
            diagram = build_sequence(log, job_id)
            bundle.writestr("sequence.svg", diagram.svg())
            bundle.writestr("sequence.mmd", diagram.mermaid())
            readme.append("sequence.svg/.mmd      both associations of the retrieve")
        bundle.writestr("README.txt", "\n".join(readme) + "\n")
    return path


def _known_passcode(node: RemoteNode | None) -> str:
    if node is None:
        return ""
    try:
        return secrets.passcode_for(node.name) or ""
    except secrets.SecretStoreError:
        return ""


class _Redacting:
    """Writes text into the zip with the passcode (if any) replaced."""

    def __init__(self, bundle: zipfile.ZipFile, passcode: str) -> None:
        self.bundle = bundle
        self.passcode = passcode

    def writestr(self, name: str, text: str) -> None:
        if self.passcode:
            text = text.replace(self.passcode, "[hidden]")
        self.bundle.writestr(name, text)
