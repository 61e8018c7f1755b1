"""The profile editor's TLS and user identity fields (settings from core/security.py)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QWidget,
)

from qrscope.core.net.secrets import NO_STORE, has_password_store
from qrscope.core.security import IdentityKind, TlsSettings, UserIdentity

__all__ = ["IdentityEditor", "TlsEditor"]

_KINDS = [(IdentityKind.NONE, "None"), (IdentityKind.USERNAME, "User name"),
          (IdentityKind.USERNAME_PASSCODE, "User name and passcode")]


class TlsEditor(QWidget):
    """DICOM over TLS: on/off, CA file, our certificate and key, verification.

    For a node, *verify* checks the node's certificate chain and host name;
    for the listener, it asks callers for a certificate signed by the CA.
    """

    changed = Signal()

    def __init__(self, for_listener: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.enabled = QCheckBox("Use DICOM over TLS")
        self.enabled.setToolTip("Encrypt the connection (PS3.15 B.1); the other side must "
                                "have TLS on its port too")
        self.ca = (self._path("CA certificates (PEM) that sign our callers' certificates; "
                              "empty: callers need none", "none: callers need no certificate")
                   if for_listener else
                   self._path("CA certificates (PEM) to trust; empty: the system's",
                              "system CAs"))
        self.cert = self._path("Our certificate (PEM)" + ("" if for_listener else
                               ", if the node asks for one"), "none")
        self.key = self._path("The private key of our certificate (PEM)", "none")
        # Short labels (the tooltip says the rest): a checkbox does not wrap,
        # and the nodes panel must fit beside the browser on a 1024-pixel screen.
        self.verify = QCheckBox("Require client certificates" if for_listener
                                else "Check certificate and host")
        self.verify.setToolTip(("Require client certificates signed by the CA. " if for_listener
                                else "Check the certificate and host name. ")
                               + "Switch off only on a test bench: without the check anyone "
                               "can pose as the other side")
        form.addRow(self.enabled)
        for label, (row, _edit) in (("CA file", self.ca), ("Certificate", self.cert),
                                    ("Key", self.key)):
            form.addRow(label, row)
        form.addRow(self.verify)
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #b26a00;")
        form.addRow(self.warning)
        self.enabled.toggled.connect(self._update)
        self.verify.toggled.connect(self._update)
        for box in (self.enabled, self.verify):
            box.toggled.connect(self.changed)
        self._update()

    def _path(self, tip: str, placeholder: str) -> tuple[QWidget, QLineEdit]:
        edit = QLineEdit()
        edit.setToolTip(tip)
        edit.setPlaceholderText(placeholder)
        edit.textEdited.connect(self.changed)
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Choose the file")
        browse.clicked.connect(lambda: self._browse(edit))
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(edit)
        layout.addWidget(browse)
        return row, edit

    def _browse(self, edit: QLineEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a PEM file", edit.text(),
                                              "PEM files (*.pem *.crt *.key);;All files (*)")
        if path:
            edit.setText(path)
            self.changed.emit()

    def _update(self) -> None:
        on = self.enabled.isChecked()
        for row, _edit in (self.ca, self.cert, self.key):
            row.setEnabled(on)
        self.verify.setEnabled(on)
        self.warning.setText("Certificates are not checked: use only on a test bench."
                             if on and not self.verify.isChecked() else "")
        self.warning.setVisible(bool(self.warning.text()))

    def set_tls(self, tls: TlsSettings) -> None:
        for box, value in ((self.enabled, tls.enabled), (self.verify, tls.verify)):
            box.blockSignals(True)
            box.setChecked(value)
            box.blockSignals(False)
        for (_row, edit), value in ((self.ca, tls.ca_file), (self.cert, tls.cert_file),
                                    (self.key, tls.key_file)):
            edit.setText(value)
        self._update()

    def tls(self) -> TlsSettings:
        return TlsSettings(enabled=self.enabled.isChecked(), ca_file=self.ca[1].text().strip(),
                           cert_file=self.cert[1].text().strip(),
                           key_file=self.key[1].text().strip(), verify=self.verify.isChecked())

    def setFocus(self, *args: object) -> None:
        self.enabled.setFocus()


class IdentityEditor(QWidget):
    """User identity (PS3.7 D.3.3.7): kind, user name, passcode (to the keyring), confirmation.

    ``changed`` fires for the settings; ``passcode_entered(str)`` when the
    user has finished typing a passcode, which the editor then stores in the
    keyring and clears from the field.
    """

    changed = Signal()
    passcode_entered = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.kind = QComboBox()
        self.kind.addItems([label for _kind, label in _KINDS])
        self.kind.setToolTip("What we send to prove who we are when the association opens")
        self.username = QLineEdit()
        self.username.setToolTip("The user name the node knows")
        self.passcode = QLineEdit()
        self.passcode.setEchoMode(QLineEdit.EchoMode.Password)
        self.passcode.setToolTip("Kept in the system keyring (without one, in memory until "
                                 "you quit), never in qrscope's files")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #b26a00;")
        self.note.hide()
        self.confirm = QCheckBox("Ask for confirmation")
        self.confirm.setToolTip("Ask the node to confirm it accepted the identity")
        form.addRow("User identity", self.kind)
        form.addRow("User name", self.username)
        form.addRow("Passcode", self.passcode)
        form.addRow(self.note)
        form.addRow(self.confirm)
        self.kind.currentIndexChanged.connect(self._update)
        self.kind.currentIndexChanged.connect(self.changed)
        self.username.textEdited.connect(self.changed)
        self.confirm.toggled.connect(self.changed)
        self.passcode.editingFinished.connect(self._passcode_done)
        self._update()

    def _passcode_done(self) -> None:
        text = self.passcode.text()
        if text:
            self.passcode.clear()
            self.passcode_entered.emit(text)

    def _update(self) -> None:
        kind = _KINDS[max(0, self.kind.currentIndex())][0]
        self.username.setEnabled(kind is not IdentityKind.NONE)
        self.passcode.setEnabled(kind is IdentityKind.USERNAME_PASSCODE)
        self.confirm.setEnabled(kind is not IdentityKind.NONE)

    def set_identity(self, identity: UserIdentity, passcode_state: str) -> None:
        for widget in (self.kind, self.username, self.confirm):
            widget.blockSignals(True)
        self.kind.setCurrentIndex([k for k, _label in _KINDS].index(identity.kind))
        self.username.setText(identity.username)
        self.confirm.setChecked(identity.ask_for_response)
        for widget in (self.kind, self.username, self.confirm):
            widget.blockSignals(False)
        self.passcode.clear()
        self.show_passcode_state(passcode_state)
        self._update()

    def show_passcode_state(self, state: str) -> None:
        """Say where the passcode is: "keyring", "session" (memory until quit),
        "not-set", "unreadable"; "" for a node that sends none (nothing said)."""
        self.passcode.setPlaceholderText({
            "keyring": "stored in the system keyring", "session": "kept until you quit",
            "not-set": "not set", "unreadable": "the password store cannot be read",
        }.get(state, ""))
        store = has_password_store()
        self.note.setText(
            NO_STORE if state == "session" and not store else
            "The password store did not take the passcode; qrscope will keep it until you "
            "quit" if state == "session" else
            "This computer has no password store; a passcode typed here is kept until you "
            "quit" if state == "not-set" and not store else "")
        self.note.setVisible(bool(self.note.text()))

    def identity(self) -> UserIdentity:
        return UserIdentity(kind=_KINDS[max(0, self.kind.currentIndex())][0],
                            username=self.username.text().strip(),
                            ask_for_response=self.confirm.isChecked())

    def setFocus(self, *args: object) -> None:
        self.username.setFocus() if self.username.isEnabled() else self.kind.setFocus()
