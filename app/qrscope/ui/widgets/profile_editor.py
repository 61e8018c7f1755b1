"""The connection-profile editor: remote nodes and our own AE, validated as you type."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from qrscope.core.net import secrets
from qrscope.core.profile_store import Profiles, ProfileStore
from qrscope.core.profiles import LocalAE, QueryModel, RemoteNode, RetrieveMethod
from qrscope.core.security import IdentityKind
from qrscope.core.validation import InvalidValue
from qrscope.ui.widgets.fields import ERROR_STYLE, Field, TimeoutsEditor, line_field, port_field
from qrscope.ui.widgets.pace_fields import PACE_TIP, PaceEditor
from qrscope.ui.widgets.security_fields import IdentityEditor, TlsEditor

__all__ = ["FIELD_WORDS", "ProfileEditor", "message_area"]

FIELD_WORDS = {"name": "name", "ae_title": "AE title", "host": "host", "port": "port",
               "move_destination": "move destination", "timeouts": "timeouts",
               "max_parallel_retrieves": "parallel retrieves",
               "availability_window": "availability window"}
"""How the form names a node field in its messages (never the internal name)."""
LOCAL_WORDS = {"ae_title": "our AE title", "listener_port": "listener port",
               "bind_address": "bind address", "storage_folder": "storage folder"}


def message_area(fields: list[Field], *notes: QLabel) -> QWidget:
    """The form's messages, one per field, below its fields: a message appearing
    or going away never moves a field the user is typing in. Each message
    wraps at the panel's width and the area grows to show all of it (a box
    of fixed height cut two-line messages and laid them over each other)."""
    area = QWidget()
    column = QVBoxLayout(area)
    column.setContentsMargins(0, 0, 0, 0)
    column.setSpacing(2)
    for label in [*(field.message for field in fields), *notes]:
        column.addWidget(label)
    return area


class ProfileEditor(QWidget):
    """Node list with add/duplicate/delete/reorder/import/export, a node form, our AE.

    Signals: ``nodes_changed`` (list edited), ``local_changed(LocalAE)``,
    ``verify_requested(RemoteNode)``, ``current_node_changed(RemoteNode or None)``.
    """

    nodes_changed = Signal()
    local_changed = Signal(object)
    verify_requested = Signal(object)
    current_node_changed = Signal(object)

    def __init__(self, profiles: Profiles, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.profiles = profiles
        self.list = QListWidget()
        self.list.setToolTip("Remote nodes (PACS). Drag or use the arrows to reorder.")
        self.list.currentRowChanged.connect(self._show_node)
        self.form_problems: dict[str, str] = {}
        self._run_key = ""
        """The field the user is typing in now (a run of edits to one field)."""
        self._run_base: object = None
        """That field's value before the run: what an invalid run leaves in the node."""
        self.not_saved = QLabel()
        self.not_saved.setWordWrap(True)
        self.not_saved.setStyleSheet(ERROR_STYLE)
        self.not_saved.hide()
        self.verify_result = QLabel()
        self.verify_result.setWordWrap(True)
        # Room for two lines: a form row does not grow with a wrapped label.
        self.verify_result.setMinimumHeight(2 * self.fontMetrics().lineSpacing() + 4)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Remote nodes</b>"))
        # A fixed height (six names, then it scrolls): a list that gives way
        # when a message grows below would move every field under it.
        self.list.setFixedHeight(6 * (self.fontMetrics().lineSpacing() + 4)
                                 + 2 * self.list.frameWidth())
        layout.addWidget(self.list)
        layout.addLayout(self._list_buttons())
        layout.addWidget(self._node_form())
        layout.addWidget(self._local_form())
        # Spare height goes below the forms: a message growing there never
        # moves a field above it (a stretching list would give way and shift them).
        layout.addStretch(1)
        self.refresh()

    # -- building ------------------------------------------------------------
    def _list_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        for text, tip, slot in (
            ("Add", "Add a new node", self.add_node),
            ("Duplicate", "Copy the selected node", self.duplicate_node),
            ("Delete", "Delete the selected node (asks first)", self.delete_node),
            ("▲", "Move up", lambda: self.move_node(-1)),
            ("▼", "Move down", lambda: self.move_node(1)),
        ):  # Import and Export are in the File menu: the row fits a narrow panel
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            row.addWidget(button)
        row.addStretch(1)
        return row

    def _node_form(self) -> QGroupBox:
        box = QGroupBox("Node")
        form = QFormLayout(box)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.f_name = line_field("A name you recognise, e.g. 'Hospital PACS'")
        self.f_aet = line_field("The PACS's AE title (case-sensitive, at most 16 characters)",
                           "e.g. ORTHANC")
        self.f_host = line_field("Host name or IP address of the PACS", "e.g. pacs.example.org")
        self.f_port = port_field("DICOM port of the PACS (often 104, 4242 or 11112)")
        self.f_model = Field(QComboBox(), "Query/Retrieve information model the PACS offers")
        self.f_model.widget.addItems(["Study Root", "Patient Root"])
        self.f_method = Field(QComboBox(), "C-MOVE: the PACS connects back to our listener. "
                               "C-GET: images come back on the same connection.")
        self.f_method.widget.addItems(["C-MOVE", "C-GET"])
        self.f_dest = line_field("AE title sent as move destination; empty means our own AE title",
                            "our AE title")
        for label, field in (("Name", self.f_name), ("AE title", self.f_aet),
                             ("Host", self.f_host), ("Port", self.f_port),
                             ("Model", self.f_model), ("Retrieve with", self.f_method),
                             ("Move destination", self.f_dest)):
            form.addRow(label, field.widget)
        self.f_timeouts = Field(TimeoutsEditor(), "Seconds to wait: connect, association, "
                                "each response, and a retrieve without any progress")
        form.addRow("Timeouts (s)", self.f_timeouts.widget)
        self.f_timeouts.widget.changed.connect(self._node_edited)
        self.f_pace = Field(PaceEditor(), PACE_TIP)
        form.addRow("Batches", self.f_pace.widget)
        self.f_pace.widget.changed.connect(self._node_edited)
        self.f_pace.widget.window_edited.connect(
            lambda: self._field_edited("availability_window"))
        self.f_pace.widget.window.editingFinished.connect(self._end_run)
        self.f_tls = Field(TlsEditor(), "DICOM over TLS to this node")
        self.f_identity = Field(IdentityEditor(), "The user identity sent to this node")
        for label, field in (("TLS", self.f_tls), ("Identity", self.f_identity)):
            form.addRow(label, field.widget)
            field.widget.changed.connect(self._node_edited)
        form.addRow(message_area([self.f_name, self.f_aet, self.f_host, self.f_port,
                                  self.f_dest, self.f_timeouts, self.f_pace, self.f_tls,
                                  self.f_identity],
                                 self.not_saved))
        self.f_identity.widget.passcode_entered.connect(self._store_passcode)
        for key, field in (("name", self.f_name), ("ae_title", self.f_aet),
                           ("host", self.f_host), ("move_destination", self.f_dest)):
            field.widget.textEdited.connect(lambda _text, k=key: self._field_edited(k))
        self.f_port.widget.valueChanged.connect(lambda _value: self._field_edited("port"))
        for field in (self.f_name, self.f_aet, self.f_host, self.f_dest, self.f_port):
            field.widget.editingFinished.connect(self._end_run)
        for field in (self.f_model, self.f_method):
            field.widget.currentIndexChanged.connect(self._node_edited)
        # Verify and the C-MOVE doctor sit in the window's bar under this
        # scrolled editor, always in view (MainWindow._nodes_panel); what
        # Verify found shows here, with the node's values it used.
        form.addRow(self.verify_result)
        self.node_box = box
        return box

    def _local_form(self) -> QGroupBox:
        box = QGroupBox("This workstation (our AE and listener)")
        form = QFormLayout(box)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.l_aet = line_field("Our AE title: the PACS must know it, with our IP and "
                                "listener port")
        self.l_port = port_field("Port of our storage listener (the C-MOVE destination)")
        self.l_bind = line_field("Address to listen on; 0.0.0.0 means every interface")
        self.l_folder = line_field("Where received images are stored")
        self.l_confirm = QSpinBox()
        self.l_confirm.setRange(0, 1_000_000)
        self.l_confirm.setToolTip("Retrieving more studies than this at once asks first")
        self.l_mask = QCheckBox("Mask patient data in the log")
        self.l_mask.setToolTip("Hide names, IDs and birth dates in the association log and "
                               "its exports")
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Choose the storage folder")
        browse.clicked.connect(self._browse_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.l_folder.widget)
        folder_row.addWidget(browse)
        for label, field in (("AE title", self.l_aet), ("Listener port", self.l_port),
                             ("Bind address", self.l_bind)):
            form.addRow(label, field.widget)
        form.addRow("Storage folder", folder_row)
        form.addRow("Ask above (studies)", self.l_confirm)
        form.addRow("", self.l_mask)
        self.l_tls = Field(TlsEditor(for_listener=True), "DICOM over TLS for callers of our "
                           "listener (a PACS sending C-MOVE results)")
        form.addRow("Listener TLS", self.l_tls.widget)
        form.addRow(message_area([self.l_aet, self.l_port, self.l_bind, self.l_folder,
                                  self.l_tls]))
        apply = QPushButton("Apply")
        apply.setToolTip("Use these settings (restarts the listener if it runs)")
        apply.clicked.connect(self.apply_local)
        form.addRow("", apply)
        self._load_local(self.profiles.local)
        return box

    # -- nodes -----------------------------------------------------------------
    def refresh(self, select: str | None = None) -> None:
        current = select or (self.current_node().name if self.current_node() else None)
        self.list.blockSignals(True)
        self.list.clear()
        for node in self.profiles.nodes:
            self.list.addItem(node.name)
        self.list.blockSignals(False)
        names = [n.name for n in self.profiles.nodes]
        self.list.setCurrentRow(names.index(current) if current in names else
                                (0 if names else -1))
        self._show_node(self.list.currentRow())

    def _current_index(self) -> int:
        """The selected node's index in the profiles, found by its name: the demo
        PACS may be put in the list by a worker before the list is redrawn."""
        item = self.list.currentItem() if hasattr(self, "list") else None
        if item is None:
            return -1
        return next((i for i, n in enumerate(self.profiles.nodes) if n.name == item.text()),
                    -1)

    def current_node(self) -> RemoteNode | None:
        row = self._current_index()
        return self.profiles.nodes[row] if row >= 0 else None

    def select_node(self, name: str) -> None:
        """Select the node called *name*, by the list's own rows: a worker may have put
        the demo PACS into the profiles before the list is redrawn, so an index in
        the profiles is not a row of the list."""
        matches = self.list.findItems(name, Qt.MatchFlag.MatchExactly)
        if matches:
            self.list.setCurrentItem(matches[0])
        elif name in (n.name for n in self.profiles.nodes):
            self.refresh(select=name)

    def _show_node(self, row: int) -> None:
        node = self.current_node()
        self._run_key = ""
        self.node_box.setEnabled(node is not None)
        self.verify_result.clear()
        if node is None:
            self.current_node_changed.emit(None)
            return
        widgets = [f.widget for f in (self.f_name, self.f_aet, self.f_host, self.f_port,
                                      self.f_model, self.f_method, self.f_dest,
                                      self.f_timeouts, self.f_pace, self.f_tls,
                                      self.f_identity)]
        for widget in widgets:
            widget.blockSignals(True)
        self.f_name.widget.setText(node.name)
        self.f_aet.widget.setText(node.ae_title)
        self.f_host.widget.setText(node.host)
        self.f_port.widget.setValue(node.port)
        self.f_model.widget.setCurrentIndex(
            1 if node.query_model is QueryModel.PATIENT_ROOT else 0)
        self.f_method.widget.setCurrentIndex(
            1 if node.retrieve_method is RetrieveMethod.GET else 0)
        self.f_dest.widget.setText(node.move_destination)
        self.f_timeouts.widget.set_timeouts(node.timeouts)
        self.f_pace.widget.set_pace(node)
        self.f_tls.widget.set_tls(node.tls)
        self.f_identity.widget.set_identity(node.identity, self._passcode_state(node))
        self.f_identity.show_error("")
        for widget in widgets:
            widget.blockSignals(False)
        self._say_not_saved(self._show_problems(node))
        self.current_node_changed.emit(node)

    def _form_node(self, base: RemoteNode) -> RemoteNode:
        return replace(
            base,
            name=self.f_name.widget.text(),
            ae_title=self.f_aet.widget.text(),
            host=self.f_host.widget.text(),
            port=self.f_port.widget.value(),
            query_model=(QueryModel.PATIENT_ROOT if self.f_model.widget.currentIndex()
                         else QueryModel.STUDY_ROOT),
            retrieve_method=(RetrieveMethod.GET if self.f_method.widget.currentIndex()
                             else RetrieveMethod.MOVE),
            move_destination=self.f_dest.widget.text(),
            timeouts=self.f_timeouts.widget.timeouts(base.timeouts),
            **self.f_pace.widget.values(),
            tls=self.f_tls.widget.tls(),
            identity=self.f_identity.widget.identity(),
        )

    def _field_edited(self, key: str) -> None:
        """A keystroke (or step) in the field *key*: a run of them starts from its value."""
        node = self.current_node()
        if key != self._run_key and node is not None:
            self._run_key, self._run_base = key, getattr(node, key)
        self._node_edited()

    def _end_run(self) -> None:
        """The user left the field (or pressed Return): the next keystroke starts anew."""
        self._run_key = ""

    def _node_edited(self, *_args: object) -> None:
        """Keep the edit in the profiles only when every field is valid.

        A field in error stays in the form (red, with its message) and is
        not saved: the profiles, and so the saved file and every search or
        retrieve, keep the value the field had before the user started
        typing in it, never a prefix that happened to be valid on the way
        (typing a 17-character AE title passes through 16 valid ones).
        """
        row = self._current_index()
        node = self.current_node()
        if node is None:
            return
        edited = self._form_node(node)
        self.verify_result.clear()  # a Verify result is about the values it used
        problems = self._show_problems(edited)
        self._say_not_saved(problems)
        if problems:
            edited = self._kept_while_invalid(node, edited, problems)
            if edited is None or edited == node:
                return
        edited = edited.validated()
        if edited.name != node.name:
            self._keyring(secrets.rename_passcode, node.name, edited.name)
        self.profiles.nodes[row] = edited
        if edited.identity != node.identity:
            self.f_identity.widget.show_passcode_state(self._passcode_state(edited))
        self.list.currentItem().setText(edited.name)
        self.nodes_changed.emit()
        self.current_node_changed.emit(edited)

    def _kept_while_invalid(self, node: RemoteNode, edited: RemoteNode,
                            problems: dict[str, str]) -> RemoteNode | None:
        """The node to keep while the form has *problems*: its valid fields as
        typed, each field in error as it was before the user typed in it."""
        kept = {key: (self._run_base if key == self._run_key else getattr(node, key))
                for key in problems if key in FIELD_WORDS}
        candidate = replace(edited, **kept)
        return None if candidate.problems() else candidate

    def _say_not_saved(self, problems: dict[str, str]) -> None:
        node = self.current_node()
        words = " and ".join(FIELD_WORDS.get(key, key) for key in problems)
        self.not_saved.setText(f"Not saved: fix the {words} above; until then "
                               f"'{node.name if node else ''}' keeps its last valid "
                               f"{words}." if problems else "")
        self.not_saved.setVisible(bool(problems))

    def _show_problems(self, node: RemoteNode) -> dict[str, str]:
        """Show each field's problem at the field; returns them, by field."""
        problems = {p.field.split(".")[0]: p.message for p in node.problems()}
        names = [n.name for i, n in enumerate(self.profiles.nodes)
                 if i != self._current_index()]
        if node.name.strip() in names:
            problems["name"] = "another node already has this name"
        for key, field in (("name", self.f_name), ("ae_title", self.f_aet),
                           ("host", self.f_host), ("port", self.f_port),
                           ("move_destination", self.f_dest), ("timeouts", self.f_timeouts)):
            field.show_error(f"{FIELD_WORDS[key]}: {problems[key]}" if key in problems else "")
        pace = [f"{FIELD_WORDS[k]}: {problems[k]}" for k in ("max_parallel_retrieves",
                                                            "availability_window") if k in problems]
        self.f_pace.show_error("; ".join(pace))
        self.f_pace.widget.show_error("; ".join(pace))
        self.form_problems = problems
        return problems

    # -- passcodes (system keyring, or memory until quit) ----------------------------
    def _keyring(self, action, *args: str) -> object:
        """Run a keyring call; a store that cannot be used now is said under the
        field, in words, and only for a node that sends a passcode."""
        try:
            return action(*args)
        except secrets.SecretStoreError as exc:
            node = self.current_node()
            if node is not None and node.identity.kind is IdentityKind.USERNAME_PASSCODE:
                self.f_identity.show_error(str(exc))
                self.f_identity.message.setToolTip(exc.detail)
            return None

    @staticmethod
    def _passcode_state(node: RemoteNode) -> str:
        """Where the node's passcode is kept; "" for a node that sends none
        (the keyring is not even asked)."""
        if node.identity.kind is not IdentityKind.USERNAME_PASSCODE:
            return ""
        try:
            return secrets.passcode_kept(node.name) or "not-set"
        except secrets.SecretStoreError:
            return "unreadable"

    def _store_passcode(self, passcode: str) -> None:
        """Keep the typed passcode (keyring, else memory until quit); never in profiles."""
        node = self.current_node()
        if node is None:
            return
        self.f_identity.show_error("")
        self._keyring(secrets.store_passcode, node.name, passcode)
        self.f_identity.widget.show_passcode_state(self._passcode_state(node))

    def focus_field(self, name: str) -> None:
        """Put the cursor in the node field a hint says to change."""
        fields = {"name": self.f_name, "ae_title": self.f_aet, "host": self.f_host,
                  "port": self.f_port, "query_model": self.f_model,
                  "retrieve_method": self.f_method, "move_destination": self.f_dest,
                  "timeouts": self.f_timeouts, "tls": self.f_tls, "pace": self.f_pace,
                  "identity": self.f_identity, "listener_tls": self.l_tls,
                  "listener_port": self.l_port, "local_ae_title": self.l_aet,
                  "bind_address": self.l_bind, "storage_folder": self.l_folder}
        field = fields.get(name)
        if field is not None:
            field.widget.setFocus(Qt.FocusReason.OtherFocusReason)

    def replace_node(self, name: str, node: RemoteNode) -> None:
        """Put *node* in place of the node *name* (a hint's change), shown if selected."""
        index = next((i for i, n in enumerate(self.profiles.nodes) if n.name == name), -1)
        if index < 0:
            return
        self.profiles.nodes[index] = node.validated()
        if index == self._current_index():
            self._show_node(index)
        self.nodes_changed.emit()

    def set_retrieve_method(self, method: RetrieveMethod) -> RemoteNode | None:
        """Change the selected node's method as if chosen in the form (saved too)."""
        if self.current_node() is None:
            return None
        self.f_method.widget.setCurrentIndex(1 if method is RetrieveMethod.GET else 0)
        self.f_method.widget.setFocus()
        return self.current_node()

    def add_node(self) -> None:
        node = RemoteNode(name=self.profiles.unique_name("New node"), ae_title="PACS",
                          host="localhost", port=104)
        self.profiles.nodes.append(node)
        self.refresh(select=node.name)
        self.f_name.widget.setFocus()
        self.nodes_changed.emit()

    def duplicate_node(self) -> None:
        node = self.current_node()
        if node is None:
            return
        copy = replace(node, name=self.profiles.unique_name(f"{node.name} copy"))
        self.profiles.nodes.insert(self.list.currentRow() + 1, copy)
        self.refresh(select=copy.name)
        self.nodes_changed.emit()

    def delete_node(self, confirm: bool = True) -> None:
        node = self.current_node()
        if node is None:
            return
        if confirm and QMessageBox.question(
                self, "Delete node", f"Delete the node '{node.name}'?") != \
                QMessageBox.StandardButton.Yes:
            return
        del self.profiles.nodes[self.list.currentRow()]
        if all(n.name != node.name for n in self.profiles.nodes):
            self._keyring(secrets.forget_passcode, node.name)
        self.refresh()
        self.nodes_changed.emit()

    def move_node(self, step: int) -> None:
        row = self.list.currentRow()
        target = row + step
        if row < 0 or not 0 <= target < len(self.profiles.nodes):
            return
        nodes = self.profiles.nodes
        nodes[row], nodes[target] = nodes[target], nodes[row]
        self.refresh(select=nodes[target].name)
        self.nodes_changed.emit()

    def import_nodes(self, path: str = "") -> list[str]:
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Import nodes", "", "Nodes (*.json)")
        if not path:
            return []
        added, problems = ProfileStore.import_nodes(Path(path), self.profiles)
        if problems:
            QMessageBox.warning(self, "Import nodes", "\n".join(problems))
        if added:
            self.refresh(select=added[0].name)
            self.nodes_changed.emit()
        return [n.name for n in added]

    def export_nodes(self, path: str = "") -> None:
        node = self.current_node()
        if node is None:
            return
        if not path:
            path, _ = QFileDialog.getSaveFileName(self, "Export node", f"{node.name}.json",
                                                  "Nodes (*.json)")
        if path:
            ProfileStore.export_nodes([node], Path(path))

    def request_verify(self) -> None:
        node = self.current_node()
        if node is None:
            return
        problems = self._show_problems(self._form_node(node))
        if problems:
            words = ", ".join(FIELD_WORDS[key] for key in problems)
            self.verify_result.setText(f"<span style='{ERROR_STYLE}'>Fix the {words} "
                                       "first (in red above)</span>")
            return
        self.verify_result.setText("Verifying…")
        self.verify_requested.emit(node.validated())

    def show_verify_result(self, text: str, ok: bool) -> None:
        colour = "#2e7d32" if ok else "#c62828"
        self.verify_result.setText(f"<span style='color:{colour}'>{text}</span>")

    # -- local AE --------------------------------------------------------------
    def show_local(self, local: LocalAE) -> None:
        """Show settings changed elsewhere (e.g. by a hint's action)."""
        self._load_local(local)

    def _load_local(self, local: LocalAE) -> None:
        self.l_aet.widget.setText(local.ae_title)
        self.l_port.widget.setValue(max(1, local.listener_port))
        self.l_bind.widget.setText(local.bind_address)
        self.l_folder.widget.setText(str(local.storage_folder))
        self.l_mask.setChecked(local.mask_patient_identifiers)
        self.l_confirm.setValue(local.confirm_retrieves_above)
        self.l_tls.widget.set_tls(local.listener_tls)

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Storage folder",
                                                  self.l_folder.widget.text())
        if folder:
            self.l_folder.widget.setText(folder)

    def apply_local(self) -> LocalAE | None:
        # replace(): settings this form does not show (the accept policy) are kept.
        local = replace(
            self.profiles.local,
            ae_title=self.l_aet.widget.text(),
            listener_port=self.l_port.widget.value(),
            bind_address=self.l_bind.widget.text(),
            storage_folder=Path(self.l_folder.widget.text()),
            mask_patient_identifiers=self.l_mask.isChecked(),
            listener_tls=self.l_tls.widget.tls(),
            confirm_retrieves_above=self.l_confirm.value(),
        )
        problems = {p.field: p.message for p in local.problems()}
        for key, field in (("ae_title", self.l_aet), ("listener_port", self.l_port),
                           ("bind_address", self.l_bind), ("storage_folder", self.l_folder)):
            field.show_error(f"{LOCAL_WORDS[key]}: {problems[key]}" if key in problems else "")
        if problems:
            return None
        try:
            local = local.validated()
        except InvalidValue:
            return None
        self.local_changed.emit(local)
        return local
