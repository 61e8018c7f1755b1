"""Passcodes for user identity, kept in the system keyring and nowhere else.

A node's passcode is stored under the service ``qrscope`` with the node's
name as the user name (the macOS Keychain, Windows Credential Manager or the
Secret Service on Linux, whichever :mod:`keyring` finds). The profiles file,
the association log and support bundles never hold it. A passcode typed for
one session (``--passcode-prompt``) is kept in memory only, for this process.

pynetdicom writes a username-and-passcode identity in clear text to its debug
log; :class:`PasscodeRedaction` is installed on that logger when this module
is imported.
"""

from __future__ import annotations

import logging
import threading

import keyring
import keyring.errors

__all__ = ["SERVICE", "PasscodeRedaction", "SecretStoreError", "forget_passcode",
           "passcode_for", "remember_for_session", "rename_passcode", "store_passcode"]

SERVICE = "qrscope"

_session: dict[str, str] = {}
_session_lock = threading.Lock()


class SecretStoreError(RuntimeError):
    """The system keyring cannot be used (none installed, locked, refused)."""


def _account(node_name: str) -> str:
    return f"node:{node_name}"


def remember_for_session(node_name: str, passcode: str) -> None:
    """Use *passcode* for *node_name* until the program ends, without storing it."""
    with _session_lock:
        _session[node_name] = passcode


def passcode_for(node_name: str) -> str | None:
    """The node's passcode: typed this session, else from the keyring; None if neither."""
    with _session_lock:
        if node_name in _session:
            return _session[node_name]
    try:
        return keyring.get_password(SERVICE, _account(node_name))
    except keyring.errors.KeyringError as exc:
        raise SecretStoreError(f"the system keyring cannot be read: {exc}") from exc


def store_passcode(node_name: str, passcode: str) -> None:
    """Keep *passcode* for *node_name* in the system keyring (an empty one forgets it)."""
    if not passcode:
        forget_passcode(node_name)
        return
    try:
        keyring.set_password(SERVICE, _account(node_name), passcode)
    except keyring.errors.KeyringError as exc:
        raise SecretStoreError(f"the system keyring cannot store the passcode: {exc}") from exc


def forget_passcode(node_name: str) -> None:
    with _session_lock:
        _session.pop(node_name, None)
    try:
        keyring.delete_password(SERVICE, _account(node_name))
    except keyring.errors.PasswordDeleteError:
        pass  # there was none
    except keyring.errors.KeyringError as exc:
        raise SecretStoreError(f"the system keyring cannot be changed: {exc}") from exc


def rename_passcode(old_name: str, new_name: str) -> None:
    """Move a node's passcode when the node is renamed."""
    if old_name == new_name:
        return
    passcode = passcode_for(old_name)
    if passcode is not None:
        store_passcode(new_name, passcode)
        forget_passcode(old_name)


class PasscodeRedaction(logging.Filter):
    """Hides the passcode line of pynetdicom's A-ASSOCIATE-RQ dump ("  Password: [...]")."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.lstrip().startswith("Password: ["):
            record.msg = message.split("[", 1)[0] + "[hidden]"
            record.args = ()
        return True


_REDACTION = PasscodeRedaction()
logging.getLogger("pynetdicom._handlers").addFilter(_REDACTION)
