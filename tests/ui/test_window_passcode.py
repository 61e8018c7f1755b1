"""A passcode on a computer without a password store: kept until quit, said in words."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import keyring
import pytest
from keyring.backends import fail
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from tests.window_site import close_window, make_window

from qrscope.core.net import secrets
from qrscope.core.profiles import RemoteNode

PASSCODE = "Copper-Lagoon-5512"
RAW = ("No recommended backend", "keyrings.alt", "keyring")


@pytest.fixture
def no_password_store() -> Iterator[None]:
    """keyring's own back end for a computer where it found no store."""
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)
        secrets._session.clear()


@pytest.fixture
def identity_scp() -> Iterator[tuple[int, list[bytes | None]]]:
    """Accepts user 'alice' with PASSCODE only; records the passcodes it was sent."""
    seen: list[bytes | None] = []

    def check(event) -> tuple[bool, None]:
        seen.append(event.secondary_field)
        return event.primary_field == b"alice" and event.secondary_field == \
            PASSCODE.encode(), None

    ae = AE("VAULT")
    ae.add_supported_context(Verification)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ae.start_server(("127.0.0.1", port), block=False,
                             evt_handlers=[(evt.EVT_USER_ID, check)])
    try:
        yield port, seen
    finally:
        server.shutdown()


@pytest.fixture
def vault_window(qtbot, qt_loop, tmp_path, no_password_store, identity_scp):
    port, _seen = identity_scp
    nodes = [RemoteNode(name="Plain", ae_title="PLAIN", host="127.0.0.1", port=port),
             RemoteNode(name="Vault", ae_title="VAULT", host="127.0.0.1", port=port)]
    window = make_window(qtbot, tmp_path, nodes=nodes)
    yield window
    close_window(qtbot, window)


def _verify(qtbot, editor) -> None:
    button = next(b for b in editor.window().findChildren(QPushButton)
                  if b.text() == "Verify (C-ECHO)")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _use_passcode(qtbot, editor) -> None:
    identity = editor.f_identity.widget
    identity.kind.setCurrentIndex(2)
    identity.username.setText("alice")
    identity.username.textEdited.emit("alice")


def _shown_words(editor) -> str:
    identity = editor.f_identity
    return " ".join(label.text() for label in (identity.message, identity.widget.note,
                                               editor.verify_result) if label.isVisible())


def test_no_password_store_keeps_the_passcode_until_quit_and_verify_uses_it(
        qtbot, vault_window, identity_scp, tmp_path):
    _port, seen = identity_scp
    editor = vault_window.editor
    editor.select_node("Vault")
    _use_passcode(qtbot, editor)
    identity = editor.f_identity.widget
    qtbot.keyClicks(identity.passcode, PASSCODE)
    qtbot.keyClick(identity.passcode, Qt.Key.Key_Return)
    assert identity.note.isVisible()
    assert identity.note.text() == ("This computer has no password store; qrscope will keep "
                                    "the passcode until you quit")
    assert identity.passcode.placeholderText() == "kept until you quit"
    assert not editor.f_identity.message.isVisible()
    _verify(qtbot, editor)
    qtbot.waitUntil(lambda: "OK" in editor.verify_result.text(), timeout=10000)
    assert seen and seen[-1] == PASSCODE.encode()
    assert not any(word in _shown_words(editor) for word in RAW[:2])
    vault_window.save_profiles()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert PASSCODE.encode() not in path.read_bytes(), path


def test_without_a_passcode_verify_says_why_in_words_and_the_button_leads_to_it(
        qtbot, vault_window):
    editor = vault_window.editor
    editor.select_node("Vault")
    _use_passcode(qtbot, editor)
    _verify(qtbot, editor)
    hints = vault_window.hints
    qtbot.waitUntil(hints.isVisible, timeout=10000)
    assert hints.hint.id == "user-identity-passcode-missing"
    said = f"{hints.summary.text()} {hints.causes.text()} {editor.verify_result.text()}"
    assert "no password store" in said and "until you quit" in said
    assert not any(word in said for word in RAW[:2])
    button = next(b for b in hints.findChildren(QPushButton)
                  if b.text() == "Edit the node's passcode (kept until you quit)")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert editor.f_identity.widget.username.hasFocus()


def test_a_node_without_a_passcode_says_nothing_of_password_stores(qtbot, vault_window):
    editor = vault_window.editor
    editor.select_node("Plain")
    editor.f_name.widget.selectAll()
    qtbot.keyClicks(editor.f_name.widget, "Plain2")  # a rename moves no passcode
    identity = editor.f_identity
    assert not identity.message.isVisible() and not identity.widget.note.isVisible()
    assert identity.widget.passcode.placeholderText() == ""
    editor.select_node("Vault")
    assert not identity.message.isVisible()
