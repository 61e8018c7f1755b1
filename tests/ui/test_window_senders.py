"""The listener refuses a caller it does not know; the window says so and offers to add it."""

from __future__ import annotations

import pydicom
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton


def _ct(window):
    pacs = window.session.demo_pacs
    return next(i for i in pacs.instances if i.sop_class_uid == CTImageStorage
                and not i.transfer_syntax.is_compressed)


def _associate(window, ae_title: str):
    sender = AE(ae_title=ae_title)
    sender.add_requested_context(CTImageStorage)
    listener = window.session.listener
    return sender.associate("127.0.0.1", listener.port, ae_title=window.session.local.ae_title)


def test_a_refused_modality_is_shown_and_added_as_a_node_in_one_click(qtbot, window):
    started = window.start_listener()
    qtbot.waitUntil(started.done, timeout=10000)
    assert started.result()
    label = window.jobs.listener_label.text()
    assert "storing from known nodes" in label
    refused = _associate(window, "MODALITY9")
    assert refused.is_rejected
    qtbot.waitUntil(lambda: window.hints.isVisible() and window.hints.hint is not None
                    and window.hints.hint.id == "unexpected-sender", timeout=5000)
    assert "MODALITY9" in window.hints.hint.title
    button = next(b for b in window.hints.findChildren(QPushButton)
                  if b.text().startswith("Add 'MODALITY9'"))
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    added = [n for n in window.session.profiles.nodes if n.ae_title == "MODALITY9"]
    assert added and added[0].host == "127.0.0.1"
    again = _associate(window, "MODALITY9")
    assert again.is_established
    status = again.send_c_store(pydicom.dcmread(_ct(window).path))
    again.release()
    assert status.Status == 0x0000
