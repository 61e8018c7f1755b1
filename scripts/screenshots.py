"""Take the README's screenshots of the real window (run by make-screenshots.sh under Xvfb).

Drives the window as a user would against the built-in demo PACS and saves
what the screen shows, so the pictures in docs/ are of the current code.

The window is not sized here: it opens as on a user's first start, fitted
to the X screen make-screenshots.sh gives it (1400x900 for the README's
pictures, 1024x768, 1920x1080). ``QRSCOPE_SHOT_SUFFIX`` is added to each
file name, and with a suffix only the main window's pictures are taken
(browser, retrieve, local, viewer, batch review and run, log, hint), for the
1024x768, 1920x1080 and 2x variants.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import qasync
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from qrscope.core.archive.importer import ImportMode, import_paths
from qrscope.core.dicom.records import QueryLevel
from qrscope.core.profile_store import ProfileStore
from qrscope.demo_pacs.clinical import build_clinical_studies
from qrscope.ui.app import build_window
from qrscope.ui.main_window import MainWindow

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


async def until(condition: Callable[[], bool], seconds: float = 20) -> None:
    for _ in range(int(seconds * 20)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("the window did not get there in time")


SUFFIX = os.environ.get("QRSCOPE_SHOT_SUFFIX", "")


def shoot(name: str) -> None:
    """The X screen as the user sees it (window decorations aside)."""
    QApplication.processEvents()
    stem, ext = name.rsplit(".", 1)
    target = OUT / f"{stem}{SUFFIX}.{ext}"
    # The whole X screen (the root window), dialogs included, at device pixels.
    if not QApplication.primaryScreen().grabWindow(0).save(str(target)):
        raise OSError(f"could not save {target}")
    print(f"saved {target}")


async def tour(app: QApplication, home: Path) -> None:
    store = ProfileStore(home / "profiles.json")
    window = build_window(store, QSettings(str(home / "s.ini"), QSettings.Format.IniFormat))
    window.show()
    await until(lambda: window.isVisible() and window.windowHandle().isExposed())
    # The listener and the demo PACS start in workers on a first start.
    await until(lambda: not window.demo_switching and window.listener.state == "running")
    await asyncio.sleep(0.5)
    search = window.search
    search.search()
    await until(lambda: search.form.search.isEnabled()
                and search.models[QueryLevel.STUDY].rowCount() > 0)
    search.views[QueryLevel.STUDY].selectRow(1)
    await until(lambda: search.models[QueryLevel.SERIES].rowCount() > 0)
    search.views[QueryLevel.SERIES].selectRow(0)
    await until(lambda: search.models[QueryLevel.IMAGE].rowCount() > 0)
    await asyncio.sleep(0.3)
    shoot("browser.png")

    search.views[QueryLevel.STUDY].selectRow(1)
    search.views[QueryLevel.STUDY].setFocus()
    search._set_active(QueryLevel.STUDY)  # as a click on the study row does
    search.retrieve_selection("move")
    search.views[QueryLevel.STUDY].selectRow(2)
    search.retrieve_selection("get")
    rows = window.jobs.model.rows
    await until(lambda: len(rows) == 2 and all(r.state.is_final for r in rows))
    window.jobs.view.selectRow(0)
    await asyncio.sleep(0.3)
    shoot("retrieve.png")
    if not SUFFIX:
        sequence = window.show_sequence(rows[0].job_id)
        sequence.export("png", str(OUT / "sequence.png"))
        sequence.close()

    await local_archive(window)
    await batch(window)

    window.bottom.setCurrentIndex(1)
    log = window.log_panel
    await asyncio.sleep(0.3)
    incoming = next(r for r in range(log.model.rowCount())
                    if "C-STORE-RQ received" in log.visible_events()[r].summary)
    log.follow.setChecked(False)
    log.view.selectRow(incoming)
    log.view.scrollTo(log.model.index(incoming, 0))
    await asyncio.sleep(0.3)
    shoot("log.png")

    editor = window.editor
    editor.add_node()
    editor.f_name.widget.setText("Hospital PACS")
    editor.f_aet.widget.setText("HOSPACS")
    editor.f_host.widget.setText("127.0.0.1")
    editor.f_port.widget.setValue(1)  # nothing listens on port 1
    editor._node_edited()
    editor.request_verify()
    await until(lambda: window.hints.isVisible())
    await asyncio.sleep(0.3)
    shoot("hint.png")
    if SUFFIX:
        window.close()
        app.quit()
        return
    window.hints.clear()
    editor.select_node("Demo PACS (built in)")
    window.fault_actions["unknown-destination"].trigger()
    await until(lambda: not window.demo_switching)
    dialog = window.open_doctor()
    assert dialog is not None
    dialog.move(250, 150)
    await until(lambda: dialog.report is not None, 60)
    await asyncio.sleep(0.5)
    shoot("doctor.png")
    dialog.close()
    window.close()
    app.quit()


async def local_archive(window: MainWindow) -> None:
    """The Local archive tab with thumbnails (the two retrieved studies and the
    clinical set: SR, PDF, ECG, RT beside the images), then the viewer."""
    root = Path(window.session.local.storage_folder)
    with tempfile.TemporaryDirectory() as sources:
        await asyncio.to_thread(lambda: import_paths(
            build_clinical_studies(Path(sources)), root, ImportMode.COPY))
    window.show_place(1)
    place = window.local
    view = place.view
    view.refresh()
    await until(lambda: view.models["studies"].rowCount() > 2)
    studies = view.models["studies"]
    view.views["studies"].selectRow(next(
        n for n, row in enumerate(studies.rows) if len(row["modalities"]) > 1))
    series = view.models["series"]
    await until(lambda: series.rowCount() > 0
                and {r["series_uid"] for r in series.rows} <= set(place.thumbnails.shown), 60)
    await asyncio.sleep(0.3)
    shoot("local.png")
    view.views["studies"].clearSelection()
    await until(lambda: any(r["modality"] == "MR" for r in series.rows))
    place.open_viewer(next(r for r in series.rows if r["modality"] == "MR"))
    await until(lambda: bool(place.viewers) and place.viewers[-1].rendered is not None)
    viewer = place.viewers[-1]
    viewer.go(len(viewer.positions) // 2)
    await until(lambda: not viewer._busy and viewer.rendered is not None)
    await asyncio.sleep(0.3)
    shoot("viewer.png")
    viewer.close()
    window.show_place(0)


async def batch(window: MainWindow) -> None:
    """The Batches place: the demo PACS's seven studies and one it does not have,
    reviewed; then fetched three at once from a demo PACS that answers A702 above
    one retrieve at once ('busy:1'), until the pace has backed off."""
    node = await window.bridge.start_demo_pacs("busy:1")
    window.editor.refresh(select=node.name)
    window.show_place(2)
    place = window.batches
    page = place.view.input
    page.paste.setPlainText("\n".join([*(f"ACC{n}" for n in range(1001, 1008)),
                                       "ACC9999"]) + "\n")
    place.read(page.paste.toPlainText())
    await until(page.review.isEnabled)
    page.parallel.setValue(3)
    place.review()
    review = place.view.review
    await until(lambda: review.retrieve.isEnabled(), 60)
    review.table.selectRow(7)
    await asyncio.sleep(0.3)
    shoot("batch-review.png")
    place.submit()
    run = place.view.run
    await until(lambda: run.changes.count() > 0 and "backing off" in run.pace.text(), 60)
    run.table.selectRow(0)
    await asyncio.sleep(0.3)
    shoot("batch-run.png")
    await until(lambda: run.new.isVisible(), 180)
    node = await window.bridge.start_demo_pacs(None)
    window.editor.refresh(select=node.name)
    window.show_place(0)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as home, loop:
        loop.run_until_complete(tour(app, Path(home)))
    sys.stdout.flush()
    from qrscope.core.imaging import apart

    apart.shut_down()  # the thumbnail processes' semaphores would outlive os._exit
    # The pictures are saved; skip the interpreter's final garbage collection,
    # where PySide6 6.12 can abort after a window was driven from a coroutine.
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())
