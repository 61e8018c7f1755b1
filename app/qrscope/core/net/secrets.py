"""Passcodes for user identity: in the system keyring, or in memory until the program ends.

A node's passcode is stored under the service ``qrscope`` with the node's
name as the user name (the macOS Keychain, Windows Credential Manager or the
Secret Service on Linux, whichever :mod:`keyring` finds). A computer without
any of them (keyring's ``fail`` back end), or a store that refuses it, still
gets a working passcode: it is kept in memory for this session only, never
on disk, and the user is told so. A passcode typed for one session
(``--passcode-prompt``) is kept the same way. The profiles file, the
association log and support bundles never hold it.

pynetdicom writes a username-and-passcode identity in clear text to its debug
log; :class:`PasscodeRedaction` is installed on that logger when this module
is imported.
"""

from __future__ import annotations

import logging
import threading

import keyring
import keyring.errors
from keyring.backends import fail

__all__ = ["NO_STORE", "SERVICE", "PasscodeRedaction", "SecretStoreError", "forget_passcode",
           "has_password_store", "missing_passcode", "passcode_for", "passcode_kept",
           "remember_for_session", "rename_passcode", "store_passcode"]

SERVICE = "qrscope"
NO_STORE = "This computer has no password store; qrscope will keep the passcode until you quit"
"""What the user is told when a passcode can only be kept in memory."""

_session: dict[str, str] = {}
_session_lock = threading.Lock()


class SecretStoreError(RuntimeError):
    """The system keyring is there but cannot be used now (locked, refused).

    ``str()`` is the user's words; ``detail`` the keyring library's own.
    """

    def __init__(self, words: str, detail: str = "") -> None:
        super().__init__(words)
        self.detail = detail


def has_password_store() -> bool:
    """Whether :mod:`keyring` found a store on this computer (no I/O: its choice of back end)."""
    return not isinstance(keyring.get_keyring(), fail.Keyring)


def _account(node_name: str) -> str:
    return f"node:{node_name}"


def remember_for_session(node_name: str, passcode: str) -> None:
    """Use *passcode* for *node_name* until the program ends, without storing it."""
    with _session_lock:
        _session[node_name] = passcode


def passcode_kept(node_name: str) -> str:
    """Where the node's passcode is: "session" (memory), "keyring", or "" (none).

    Raises :class:`SecretStoreError` when the keyring cannot be read.
    """
    with _session_lock:
        if node_name in _session:
            return "session"
    return "keyring" if passcode_for(node_name) is not None else ""


def passcode_for(node_name: str) -> str | None:
    """The node's passcode: kept this session, else from the keyring; None if neither."""
    with _session_lock:
        if node_name in _session:
            return _session[node_name]
    if not has_password_store():
        return None
    try:
        return keyring.get_password(SERVICE, _account(node_name))
    except keyring.errors.KeyringError as exc:
        raise SecretStoreError("the system password store could not be opened (it may be "
                               "locked)", str(exc)) from exc


def store_passcode(node_name: str, passcode: str) -> bool:
    """Keep *passcode* for *node_name*; an empty one forgets it.

    ``True``: in the system keyring. ``False``: there is no store, or it
    refused: the passcode is kept in memory until the program ends
    (:data:`NO_STORE` says so to the user).
    """
    if not passcode:
        forget_passcode(node_name)
        return True
    if has_password_store():
        try:
            keyring.set_password(SERVICE, _account(node_name), passcode)
        except keyring.errors.KeyringError:
            pass  # kept in memory below: a passcode that works beats a dead end
        else:
            with _session_lock:
                _session.pop(node_name, None)
            return True
    remember_for_session(node_name, passcode)
    return False


def forget_passcode(node_name: str) -> None:
    with _session_lock:
        _session.pop(node_name, None)
    if not has_password_store():
        return
    try:
        keyring.delete_password(SERVICE, _account(node_name))
    except keyring.errors.PasswordDeleteError:
        pass  # there was none
    except keyring.errors.KeyringError as exc:
        raise SecretStoreError("the system password store could not be changed (it may be "
                               "locked)", str(exc)) from exc


def rename_passcode(old_name: str, new_name: str) -> None:
    """Move a node's passcode when the node is renamed (from memory or the keyring)."""
    if old_name == new_name:
        return
    with _session_lock:
        kept = _session.pop(old_name, None)
    if kept is not None:
        remember_for_session(new_name, kept)
        return
    passcode = passcode_for(old_name)
    if passcode is not None:
        store_passcode(new_name, passcode)
        forget_passcode(old_name)


def missing_passcode(node_name: str, username: str) -> str:
    """Why there is no passcode to send, in the user's words."""
    if has_password_store():
        return f"no passcode for '{node_name}' in the system keyring (user '{username}')"
    return (f"no passcode for '{node_name}' (user '{username}'): this computer has no "
            "password store, so qrscope keeps a passcode only until you quit; enter it in "
            "the node's settings")


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
