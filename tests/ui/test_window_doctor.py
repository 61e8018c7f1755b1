"""The C-MOVE doctor dialog: steps appear as they run, the verdict reaches the hint bar."""

from __future__ import annotations

from tests.window_site import use_fault


def test_doctor_dialog_on_a_healthy_demo(qtbot, window):
    dialog = window.open_doctor()
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=30000)
    statuses = [dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())]
    assert statuses and set(statuses) == {"pass"}
    assert "works" in dialog.verdict.text()
    assert "C-MOVE to our listener" in dialog.report_text()
    dialog.close()


def test_doctor_dialog_names_an_unknown_destination(qtbot, window):
    use_fault(qtbot, window, "unknown-destination")
    dialog = window.open_doctor()
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=30000)
    assert "move-destination-unknown" in dialog.verdict.text()
    assert window.hints.hint.id == "move-destination-unknown"
    dialog.close()


def test_support_bundle_from_the_window(qtbot, window, tmp_path):
    import zipfile

    dialog = window.open_doctor()
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=30000)
    dialog.close()
    path = window.save_support_bundle(str(tmp_path / "bundle.zip"))
    with zipfile.ZipFile(path) as archive:
        versions = archive.read("versions.json").decode()
        assert "doctor.json" in archive.namelist()
    assert '"Qt"' in versions and '"pynetdicom"' in versions


def test_admin_card_names_our_ae_address_and_port(qtbot, window):
    window.open_admin_card()
    qtbot.waitUntil(lambda: window.admin_card is not None, timeout=5000)
    dialog = window.admin_card
    text = dialog.current_text()
    port = window.session.listener.port
    assert "QRSCOPE" in text and "127.0.0.1" in text and str(port) in text
    assert dialog.tabs.count() == 6  # the card and five products
    assert "DicomModalities" in dialog.html() and "HostTable" in dialog.html()
    dialog.close()
