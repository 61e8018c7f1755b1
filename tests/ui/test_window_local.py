"""The Local view: the archive listed with a search's filters, deleted (asked first), sent on."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from tests.core.send_peers import StoreSCP
from tests.window_site import retrieve_first_study, search_studies

from qrscope.core.archive.index import ArchiveLevel, open_index
from qrscope.core.profiles import RemoteNode


def _files(window) -> list[Path]:
    root = Path(window.session.local.storage_folder)
    return sorted(p for p in root.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def _retrieved_and_listed(qtbot, window):
    """Retrieve the demo's first study, then show the Local archive tab with it."""
    search_studies(qtbot, window)
    row = retrieve_first_study(qtbot, window, "move")
    assert row.outcome.status == "success"
    window.show_place(1)
    view = window.local.view
    qtbot.waitUntil(lambda: view.models["studies"].rowCount() == 1, timeout=10000)
    return view, row


def _show(qtbot, view, **fields) -> None:
    """Fill the Local view's form and press Show; wait for the listing."""
    for name, text in fields.items():
        getattr(view.form, name).setText(text)
    with qtbot.waitSignal(view.listed, timeout=10000):
        qtbot.mouseClick(view.form.search, Qt.MouseButton.LeftButton)


def test_a_retrieved_study_is_listed_with_counts_sizes_and_the_search_filters(qtbot, window):
    view, row = _retrieved_and_listed(qtbot, window)
    study = view.models["studies"].rows[0]
    received = len(row.outcome.stored)
    assert study["instances"] == received
    assert study["bytes"] == sum(p.stat().st_size for p in _files(window))
    size_column = [c.header for c in view.models["studies"].columns].index("Size")
    assert view.models["studies"].cell_text(0, size_column).endswith("KB")
    assert sum(s["instances"] for s in view.models["series"].rows) == received
    name = study["patient_name"]
    _show(qtbot, view, patient_name="NOBODY*")
    assert view.models["studies"].rowCount() == 0
    assert view.models["series"].rowCount() == 0
    _show(qtbot, view, patient_name=name[:3] + "*")
    assert view.models["studies"].rowCount() == 1
    modality = view.models["series"].rows[0]["modality"]
    _show(qtbot, view, modalities="XA" if modality != "XA" else "MR")
    assert view.models["studies"].rowCount() == 0
    _show(qtbot, view, modalities=modality)
    assert view.models["studies"].rowCount() == 1
    view.form.preset.setCurrentText("Custom range")
    view.form.date_from.setDate(view.form.date_from.date().fromString("1900-01-01",
                                                                      "yyyy-MM-dd"))
    view.form.date_to.setDate(view.form.date_to.date().fromString("1900-01-02", "yyyy-MM-dd"))
    _show(qtbot, view)
    assert view.models["studies"].rowCount() == 0
    assert "0 studies" in view.count.text()


def test_the_view_follows_instances_the_listener_files(qtbot, window):
    """A retrieve while the Local tab is open shows up there without a click."""
    window.show_place(1)
    view = window.local.view
    qtbot.waitUntil(lambda: view.listing is not None, timeout=10000)
    assert view.models["studies"].rowCount() == 0
    window.show_place(0)
    search_studies(qtbot, window)
    window.show_place(1)
    retrieve_first_study(qtbot, window, "move")
    qtbot.waitUntil(lambda: view.models["studies"].rowCount() == 1, timeout=10000)


def _answer_delete(qtbot, window, text: str) -> QMessageBox:
    commands = window.local.commands
    qtbot.waitUntil(lambda: commands.question is not None and commands.question.isVisible(),
                    timeout=10000)
    box = commands.question
    button = next(b for b in box.buttons() if b.text().replace("&", "") == text)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    return box


def test_delete_asks_first_and_cancel_keeps_everything(qtbot, window):
    view, _row = _retrieved_and_listed(qtbot, window)
    files = _files(window)
    view.views["studies"].selectRow(0)
    qtbot.mouseClick(view.buttons["delete"], Qt.MouseButton.LeftButton)
    box = _answer_delete(qtbot, window, "Cancel")
    assert f"{len(files)} images" in box.informativeText()
    assert "Delete 1 study of" in box.text()
    assert _files(window) == files
    assert view.models["studies"].rowCount() == 1


def test_delete_removes_the_files_and_rows_and_the_view_follows(qtbot, window):
    view, _row = _retrieved_and_listed(qtbot, window)
    view.views["studies"].selectRow(0)
    qtbot.mouseClick(view.buttons["delete"], Qt.MouseButton.LeftButton)
    _answer_delete(qtbot, window, "Delete")
    qtbot.waitUntil(lambda: view.models["studies"].rowCount() == 0, timeout=10000)
    assert _files(window) == []
    index = open_index(Path(window.session.local.storage_folder))
    assert index.select(ArchiveLevel.INSTANCE) == []
    assert view.models["series"].rowCount() == 0
    assert "Deleted" in window.statusBar().currentMessage()


def test_send_to_a_node_stores_every_instance_and_shows_as_a_job(qtbot, window):
    view, _row = _retrieved_and_listed(qtbot, window)
    root = Path(window.session.local.storage_folder)
    instances = open_index(root).select(ArchiveLevel.INSTANCE)
    accepts: dict[str, list[str]] = {}
    for instance in instances:
        accepts.setdefault(instance["sop_class_uid"], []).append(instance["transfer_syntax"])
    scp = StoreSCP({sop_class: sorted(set(syntaxes)) for sop_class, syntaxes in accepts.items()})
    port = scp.start()
    try:
        window.session.profiles.nodes.append(
            RemoteNode(name="Workstation", ae_title=scp.ae_title, host="127.0.0.1", port=port))
        view.views["studies"].selectRow(0)
        qtbot.mouseClick(view.buttons["send"], Qt.MouseButton.LeftButton)
        dialog = window.local.commands.send_dialog
        qtbot.waitUntil(lambda: dialog.isVisible(), timeout=5000)
        dialog.node.setCurrentIndex(next(i for i, n in enumerate(dialog.nodes)
                                         if n.name == "Workstation"))
        qtbot.mouseClick(dialog.send, Qt.MouseButton.LeftButton)
        rows = window.jobs.model.rows
        qtbot.waitUntil(lambda: rows[-1].send_outcome is not None, timeout=30000)
        job = rows[-1]
        assert job.method == "C-STORE" and job.node == "Workstation"
        assert job.state_text == "success", job.why
        assert set(scp.received) == {r["sop_instance_uid"] for r in instances}
        model = window.jobs.model
        number = model.row_of(job.job_id)
        assert model.data(model.index(number, 5)) == f"{len(instances)}/{len(instances)} sent"
        assert window.jobs.view.isVisible()
    finally:
        scp.stop()
