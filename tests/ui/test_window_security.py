"""The profile editor's TLS and identity fields, and Verify over TLS from the window."""

from __future__ import annotations

import json
import os
from pathlib import Path

import keyring
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from tests.demo_site import free_port
from tests.memory_keyring import memory_keyring  # noqa: F401  (the fixture)
from tests.tls_certs import Pki, make_pki
from tests.window_site import close_window, make_window

from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.receive.listener import StorageListener
from qrscope.core.security import IdentityKind, TlsSettings

pytestmark = pytest.mark.usefixtures("memory_keyring")

PASSCODE = "Harbour-Lantern-2290"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_listener(pki, tmp_path):
    tls = TlsSettings(enabled=True, cert_file=str(pki.server.cert), key_file=str(pki.server.key))
    local = LocalAE(ae_title="SECURE", listener_port=free_port(), bind_address="127.0.0.1",
                    storage_folder=tmp_path / "secure-in", listener_tls=tls)
    listener = StorageListener(local, AssociationLog())
    listener.start()
    yield listener
    listener.stop()


@pytest.fixture
def secure_window(qtbot, qt_loop, tmp_path, tls_listener):
    node = RemoteNode(name="Secure", ae_title="SECURE", host="127.0.0.1",
                      port=tls_listener.port)
    window = make_window(qtbot, tmp_path, nodes=[node])
    window.editor.select_node("Secure")
    yield window
    close_window(qtbot, window)


def _verify(qtbot, editor) -> None:
    button = next(b for b in editor.window().findChildren(QPushButton)
                  if b.text() == "Verify (C-ECHO)")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_verify_uses_the_tls_set_in_the_editor(qtbot, secure_window, pki):
    editor = secure_window.editor
    tls = editor.f_tls.widget
    tls.enabled.click()
    tls.ca[1].setText(str(pki.ca))
    tls.ca[1].textEdited.emit(str(pki.ca))
    assert editor.current_node().tls == TlsSettings(enabled=True, ca_file=str(pki.ca))
    _verify(qtbot, editor)
    qtbot.waitUntil(lambda: "OK" in editor.verify_result.text(), timeout=10000)


def test_verify_without_tls_to_a_tls_port_shows_the_tls_hint(qtbot, secure_window):
    _verify(qtbot, secure_window.editor)
    qtbot.waitUntil(lambda: secure_window.hints.isVisible(), timeout=10000)
    assert secure_window.hints.hint.id == "tls-required"
    fix = next(b for b in secure_window.hints.findChildren(QPushButton)
               if b.text() == "Switch TLS on for this node")
    qtbot.mouseClick(fix, Qt.MouseButton.LeftButton)
    assert secure_window.editor.f_tls.widget.enabled.isChecked()
    assert secure_window.editor.current_node().tls.enabled
    assert "TLS switched on for Secure" in secure_window.hints.confirmation.text()


def test_passcode_goes_to_the_keyring_not_the_profiles_file(qtbot, secure_window, tmp_path):
    editor = secure_window.editor
    identity = editor.f_identity.widget
    identity.kind.setCurrentIndex(2)
    identity.username.setText("alice")
    identity.username.textEdited.emit("alice")
    qtbot.keyClicks(identity.passcode, PASSCODE)
    qtbot.keyClick(identity.passcode, Qt.Key.Key_Return)
    assert keyring.get_password("qrscope", "node:Secure") == PASSCODE
    assert identity.passcode.text() == ""
    assert identity.passcode.placeholderText() == "stored in the system keyring"
    node = editor.current_node()
    assert node.identity.kind is IdentityKind.USERNAME_PASSCODE
    assert node.identity.username == "alice"
    path = secure_window.session.store.path
    qtbot.waitUntil(lambda: '"alice"' in path.read_text(), timeout=3000)
    assert PASSCODE not in path.read_text()
    assert json.loads(path.read_text())["nodes"][0]["identity"]["kind"] == "username-passcode"
    # Renaming the node takes its passcode along.
    editor.f_name.widget.selectAll()
    qtbot.keyClicks(editor.f_name.widget, "Vault")
    assert keyring.get_password("qrscope", "node:Vault") == PASSCODE
    assert keyring.get_password("qrscope", "node:Secure") is None


def test_listener_tls_is_applied_with_the_local_settings(qtbot, secure_window, pki):
    editor = secure_window.editor
    tls = editor.l_tls.widget
    tls.enabled.click()
    tls.cert[1].setText(str(pki.server.cert))
    tls.key[1].setText(str(pki.server.key))
    local = editor.apply_local()
    assert local is not None and local.listener_tls.enabled
    assert local.listener_tls.cert_file == str(pki.server.cert)


def test_screenshot_of_the_editor(qtbot, secure_window, pki):
    editor = secure_window.editor
    editor.f_tls.widget.set_tls(TlsSettings(enabled=True, ca_file=str(pki.ca)))
    editor.f_identity.widget.kind.setCurrentIndex(2)
    editor.f_identity.widget.username.setText("alice")
    editor.resize(520, 1250)
    target = Path(os.environ.get("QRSCOPE_SCREENSHOT_DIR", secure_window.session.store.path
                                 .parent)) / "profile-editor-security.png"
    assert editor.grab().save(str(target))
