"""The Local view's other paths: a failed send's hint and its retry, a send to a node that
refuses the association, a large delete's progress, Open folder, the context menus."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from PySide6.QtCore import QUrl
from tests.core.send_peers import StoreSCP

from qrscope.core.archive.importer import ImportMode, import_paths
from qrscope.core.archive.index import ArchiveFilter, ArchiveLevel, open_index
from qrscope.core.profiles import RemoteNode
from qrscope.demo_pacs.clinical import build_clinical_studies
from qrscope.ui.local.listing import DELETE_BATCH


def _root(window) -> Path:
    return Path(window.session.local.storage_folder)


def _listed(qtbot, window, files: list[Path]):
    """*files* imported into the window's archive, the Local tab showing them."""
    results = import_paths(files, _root(window), ImportMode.COPY)
    assert all(r.outcome != "failed" for r in results)
    window.show_place(1)
    view = window.local.view
    qtbot.waitUntil(lambda: view.models["studies"].rowCount() > 0, timeout=10000)
    return view


def _send_all_to(qtbot, window, node: RemoteNode):
    """Every study selected, sent to *node* with the Send… button and dialog; the job row."""
    view = window.local.view
    window.session.profiles.nodes.append(node)
    view.views["studies"].selectAll()
    before = len(window.jobs.model.rows)
    view.buttons["send"].click()
    dialog = window.local.commands.send_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=5000)
    dialog.node.setCurrentIndex(next(i for i, n in enumerate(dialog.nodes)
                                     if n.name == node.name))
    dialog.send.click()
    rows = window.jobs.model.rows
    qtbot.waitUntil(lambda: len(rows) > before and rows[-1].send_outcome is not None,
                    timeout=60000)
    return rows[-1]


def test_a_refused_class_shows_its_hint_and_retry_sends_exactly_what_failed(
        qtbot, window, tmp_path):
    _listed(qtbot, window, build_clinical_studies(tmp_path / "clinical"))
    instances = open_index(_root(window)).select(ArchiveLevel.INSTANCE)
    accepts: dict[str, set[str]] = {}
    for row in instances:
        accepts.setdefault(row["sop_class_uid"], set()).add(row["transfer_syntax"])
    refused = next(c for c in accepts if c == "1.2.840.10008.5.1.4.1.1.88.22"
                   or c.startswith("1.2.840.10008.5.1.4.1.1.88"))
    picky = StoreSCP({c: sorted(s) for c, s in accepts.items() if c != refused})
    port = picky.start()
    try:
        node = RemoteNode(name="Workstation", ae_title=picky.ae_title, host="127.0.0.1",
                          port=port)
        job = _send_all_to(qtbot, window, node)
    finally:
        picky.stop()
    failed = {r["sop_instance_uid"] for r in instances if r["sop_class_uid"] == refused}
    assert set(job.send_outcome.failed_uids) == failed
    assert set(picky.received) == {r["sop_instance_uid"] for r in instances} - failed
    hint = window.hints.hint
    assert hint is not None and hint.id == "send-class-not-accepted"
    assert window.hints.isVisible() and window.hints.job_id == job.job_id
    shown = window.hints.title.text() + window.hints.summary.text()
    for value in ("Workstation", picky.ae_title, f"127.0.0.1:{port}", refused,
                  f"{len(failed)} instance(s)", window.session.local.ae_title):
        assert value in shown, value

    willing = StoreSCP({c: sorted(s) for c, s in accepts.items()})
    nodes = window.session.profiles.nodes
    nodes[nodes.index(node)] = replace(node, port=willing.start())  # the node, moved
    try:
        jobs = window.jobs
        jobs.view.selectRow(jobs.model.row_of(job.job_id))
        assert jobs.retry.isEnabled()
        before = len(jobs.model.rows)
        jobs.retry.click()
        rows = jobs.model.rows
        qtbot.waitUntil(lambda: len(rows) > before and rows[-1].send_outcome is not None,
                        timeout=60000)
        assert rows[-1].state_text == "success", rows[-1].why
        assert set(willing.received) == failed
        assert all(n == 1 for n in willing.counts.values())
    finally:
        willing.stop()


def test_a_node_that_refuses_the_association_gets_its_hint(qtbot, window, tmp_path):
    _listed(qtbot, window, build_clinical_studies(tmp_path / "clinical"))
    scp = StoreSCP({CTImageStorage: [ExplicitVRLittleEndian]}, ae_title="REALTITLE")
    port = scp.start()
    try:
        job = _send_all_to(qtbot, window, RemoteNode(
            name="Router", ae_title="WRONGTITLE", host="127.0.0.1", port=port))
    finally:
        scp.stop()
    assert job.send_outcome.failure is not None and not scp.received
    hint = window.hints.hint
    assert hint is not None and hint.id == "association-rejected-called-aet"
    shown = window.hints.title.text() + window.hints.summary.text()
    for value in ("WRONGTITLE", f"127.0.0.1:{port}"):
        assert value in shown, value
    assert window.hints.isVisible()


def _many(folder: Path, count: int) -> list[Path]:
    """*count* tiny CT images of one series."""
    folder.mkdir(parents=True)
    study, series = generate_uid(), generate_uid()
    paths = []
    for number in range(count):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.PatientName, ds.PatientID, ds.Modality = "MANY^IMAGES", "MANY", "CT"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SeriesNumber, ds.InstanceNumber = 1, number + 1
        path = folder / f"{number:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def test_a_large_delete_shows_its_progress_and_the_view_follows(qtbot, window, tmp_path):
    total = DELETE_BATCH * 3 + 17
    view = _listed(qtbot, window, _many(tmp_path / "many", total))
    seen: list[tuple[int, bool, int]] = []
    view.progress.valueChanged.connect(
        lambda v: seen.append((v, view.progress.isVisible(), view.progress.maximum())))
    view.views["studies"].selectRow(0)
    view.buttons["delete"].click()
    commands = window.local.commands
    qtbot.waitUntil(lambda: commands.question is not None and commands.question.isVisible(),
                    timeout=10000)
    assert f"{total} images" in commands.question.informativeText()
    delete = next(b for b in commands.question.buttons() if b.text().replace("&", "") == "Delete")
    delete.click()
    qtbot.waitUntil(lambda: view.models["studies"].rowCount() == 0 and not commands.deleting,
                    timeout=30000)
    steps = [v for v, visible, maximum in seen if visible and maximum == total and v > 0]
    assert steps[:3] == [DELETE_BATCH, 2 * DELETE_BATCH, 3 * DELETE_BATCH]
    assert steps[-1] == total
    assert not view.progress.isVisible()
    assert open_index(_root(window)).select(ArchiveLevel.INSTANCE) == []
    assert not any(p.suffix == ".dcm" for p in _root(window).rglob("*"))
    assert view.models["series"].rowCount() == 0


def _series_folder(root: Path, series_uid: str) -> Path:
    index = open_index(root)
    rows = index.select(ArchiveLevel.INSTANCE, ArchiveFilter(series_uid=series_uid))
    return Path(os.path.commonpath([str(index.path_of(r["path"]).parent) for r in rows]))


@pytest.fixture
def opened(window, monkeypatch) -> list[QUrl]:
    """What the Local view and its viewers asked the desktop to open."""
    urls: list[QUrl] = []
    monkeypatch.setattr(window.local.commands, "open_url", lambda url: urls.append(url) or True)
    return urls


def test_open_folder_opens_the_study_or_series_folder(qtbot, window, tmp_path, opened):
    view = _listed(qtbot, window, build_clinical_studies(tmp_path / "clinical"))
    root = _root(window)
    view.views["studies"].selectRow(0)
    study = view.models["studies"].rows[0]
    series_folders = [_series_folder(root, s["series_uid"]) for s in view.listing.series
                      if s["study_uid"] == study["study_uid"]]
    view.buttons["folder"].click()
    qtbot.waitUntil(lambda: len(opened) == 1, timeout=10000)
    assert Path(opened[0].toLocalFile()) == Path(os.path.commonpath(series_folders))
    assert Path(opened[0].toLocalFile()) != root
    view.views["series"].selectRow(0)
    series = view.models["series"].rows[0]
    view.buttons["folder"].click()
    qtbot.waitUntil(lambda: len(opened) == 2, timeout=10000)
    assert Path(opened[1].toLocalFile()) == _series_folder(root, series["series_uid"])


def _menu_texts(menu) -> list[str]:
    return [a.text() for a in menu.actions() if not a.isSeparator()]


def test_each_context_menu_offers_what_the_buttons_do_and_each_action_works(
        qtbot, window, tmp_path, opened):
    view = _listed(qtbot, window, build_clinical_studies(tmp_path / "clinical"))
    commands, place = window.local.commands, window.local
    window.session.profiles.nodes.append(
        RemoteNode(name="Workstation", ae_title="WS", host="127.0.0.1", port=1))
    buttons = {"View", "Open folder", "Send to…", "Delete…"}
    for name in ("studies", "patients", "series"):
        if name == "patients":
            view.upper.setCurrentIndex(1)
        table = view.views[name]
        table.selectRow(0)
        pos = table.visualRect(view.models[name].index(0, 1)).center()
        menu = commands.context_menu(name, pos)
        assert menu is not None and set(_menu_texts(menu)) == buttons, name
        actions = {a.text(): a for a in menu.actions()}
        menu.close()
        asked = len(opened)
        actions["Open folder"].trigger()
        qtbot.waitUntil(lambda a=asked: len(opened) == a + 1, timeout=10000)
        before = len(place.viewers)
        actions["View"].trigger()
        qtbot.waitUntil(lambda b=before: len(place.viewers) == b + 1, timeout=10000)
        place.viewers[-1].close()
        actions["Send to…"].trigger()
        qtbot.waitUntil(lambda: commands.send_dialog is not None
                        and commands.send_dialog.isVisible(), timeout=5000)
        commands.send_dialog.reject()
        actions["Delete…"].trigger()
        qtbot.waitUntil(lambda: commands.question is not None
                        and commands.question.isVisible(), timeout=10000)
        commands.question.reject()
        qtbot.waitUntil(lambda: not commands.question.isVisible(), timeout=5000)
        commands.question = None
    assert len(opened) == 3
    assert view.models["studies"].rowCount() > 0
