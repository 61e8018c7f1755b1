"""A simple viewer of one series: its instances and frames, window/level, attributes, file.

Every decode runs in the bridge's pixel worker (:func:`render_frame`, and a
new window over the frame's values); the GUI thread only draws the 8-bit
image it gets back. Requests made while one runs are coalesced: the last
position and window asked for is what is decoded next, so holding a key or
dragging never queues up work. A frame that cannot be decoded shows why;
an object without pixels its typed placeholder and its text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import UID
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QImage, QKeyEvent, QMouseEvent, QPainter, QWheelEvent
from PySide6.QtWidgets import (
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from qrscope.core.imaging import (
    CannotDecode,
    NoPixels,
    ObjectSummary,
    RenderedFrame,
    Window,
    describe_object,
    render_frame,
)
from qrscope.ui.bridge import CoreBridge, spawn
from qrscope.ui.local.listing import human_bytes
from qrscope.ui.models.result_columns import person_name
from qrscope.ui.screen_fit import fit_dialog

__all__ = ["Shown", "ViewerDialog", "to_qimage"]


def to_qimage(pixels: np.ndarray) -> QImage:
    """An 8-bit gray or RGB array as a QImage owning its bytes (made in the worker)."""
    array = np.ascontiguousarray(pixels)
    height, width = array.shape[:2]
    fmt = QImage.Format.Format_RGB888 if array.ndim == 3 else QImage.Format.Format_Grayscale8
    return QImage(array.data, width, height, array.strides[0], fmt).copy()


@dataclass(frozen=True)
class Shown:
    """What the pixel worker made for one position: an image, an object's text, or why not."""

    image: QImage | None = None
    frame: RenderedFrame | None = None
    summary: ObjectSummary | None = None
    reason: str = ""


def _show(path: Path, frame: int, window: Window | None) -> Shown:
    try:
        rendered = render_frame(path, frame, window)
    except NoPixels:
        try:
            return Shown(summary=describe_object(path))
        except CannotDecode as exc:
            return Shown(reason=str(exc))
    except (CannotDecode, IndexError, OSError) as exc:
        return Shown(reason=str(exc))
    return Shown(to_qimage(rendered.pixels), rendered)


def _rewindow(rendered: RenderedFrame, window: Window) -> Shown:
    again = rendered.with_window(window)
    return Shown(to_qimage(again.pixels), again)


class Canvas(QWidget):
    """The image, fitted; the wheel steps, a drag with either button changes the window."""

    step = Signal(int)
    dragged = Signal(float, float)  # dx, dy in pixels since the press
    pressed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.image: QImage | None = None
        self.text = ""
        self._press: QPointF | None = None
        self.setMinimumSize(200, 200)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAutoFillBackground(True)
        self.setStyleSheet("background: black; color: #eceff1;")

    def show_image(self, image: QImage | None, text: str = "") -> None:
        self.image, self.text = image, text
        self.update()

    def paintEvent(self, _event: object) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), Qt.GlobalColor.black)
        if self.image is not None and not self.image.isNull():
            size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
            left, top = (self.width() - size.width()) / 2, (self.height() - size.height()) / 2
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(QRectF(left, top, size.width(), size.height()), self.image)
        if self.text:
            painter.setPen(Qt.GlobalColor.white)
            painter.drawText(self.rect().adjusted(12, 12, -12, -12),
                             int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap),
                             self.text)
        painter.end()

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.step.emit(-1 if event.angleDelta().y() > 0 else 1)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._press = event.position()
        self.pressed.emit()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._press is not None:
            delta = event.position() - self._press
            self.dragged.emit(delta.x(), delta.y())

    def mouseReleaseEvent(self, _event: QMouseEvent) -> None:
        self._press = None


class ViewerDialog(QDialog):
    """One series, from its instance rows (:func:`series_instances`), in a window of its own."""

    shown = Signal()  # a position has been drawn (image, text or reason)

    def __init__(self, bridge: CoreBridge, series: dict[str, Any],
                 instances: list[dict[str, Any]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.series = series
        self.instances = instances
        self.positions = [(n, f) for n, row in enumerate(instances)
                          for f in range(max(1, int(row["frames"] or 1)))]
        self.position = 0
        self.rendered: RenderedFrame | None = None
        self._wanted: tuple[int, Window | None] | None = None
        self._busy = False
        self._drag_from: Window | None = None
        self._rendered_at = -1
        """The position :attr:`rendered` shows (a new window over it needs no decode)."""
        self.setWindowTitle(f"{person_name(series.get('patient_name') or '')} · "
                            f"{series.get('modality') or ''} {series.get('description') or ''}")
        self._build()
        self.go(0)

    def _build(self) -> None:
        self.canvas = Canvas()
        self.canvas.step.connect(lambda delta: self.go(self.position + delta))
        self.canvas.pressed.connect(self._drag_started)
        self.canvas.dragged.connect(self._drag)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, max(0, len(self.positions) - 1))
        self.slider.valueChanged.connect(self.go)
        self.where = QLabel()
        self.window_center, self.window_width = QDoubleSpinBox(), QDoubleSpinBox()
        for box, tip in ((self.window_center, "Window centre (level)"),
                         (self.window_width, "Window width")):
            box.setRange(-1e6, 1e6)
            box.setDecimals(0)
            box.setToolTip(tip + "; or drag over the image")
            box.setKeyboardTracking(False)
            box.valueChanged.connect(self._fields_changed)
        self.reset = QPushButton("Reset")
        self.reset.setToolTip("The window the file gives (or the data's range)")
        self.reset.clicked.connect(self._reset)
        self.fields = {name: _value_field() for name in ATTRIBUTES}
        """One read-only field per attribute: a long UID is cut there, never
        widening the panel (at 1024x768 it took half the image's width), and
        stays whole in its text (select, copy) and its tooltip."""
        self.path = QLineEdit()
        self.path.setReadOnly(True)
        self.open_folder = QPushButton("Open folder")
        self.open_folder.clicked.connect(self._open_folder)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.hide()
        side = QWidget()
        form = QFormLayout(side)
        for name, field in self.fields.items():
            form.addRow(name, field)
        # One control a row: side by side they set the panel's width as the UIDs did.
        form.addRow("Window centre", self.window_center)
        form.addRow("Window width", self.window_width)
        form.addRow("", self.reset)
        form.addRow("File", self.path)
        form.addRow("", self.open_folder)
        form.addRow(self.text)
        image = QWidget()
        column = QVBoxLayout(image)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.canvas, 1)
        row = QHBoxLayout()
        row.addWidget(self.slider, 1)
        row.addWidget(self.where)
        column.addLayout(row)
        splitter = QSplitter()
        splitter.addWidget(image)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        fit_dialog(self, QSize(1000, 680))
        splitter.setSizes([self.width() * 2 // 3, self.width() // 3])  # the image first

    # -- moving ------------------------------------------------------------------------
    def go(self, position: int) -> None:
        """Show position *position* (an instance's frame), clamped to the series."""
        position = min(max(0, position), len(self.positions) - 1)
        if position < 0:
            return
        self.position = position
        self.slider.blockSignals(True)
        self.slider.setValue(position)
        self.slider.blockSignals(False)
        number, frame = self.positions[position]
        row = self.instances[number]
        self.where.setText(f"{number + 1}/{len(self.instances)}"
                           + (f" · frame {frame + 1}/{row['frames']}"
                              if int(row["frames"] or 1) > 1 else ""))
        self._show_attributes(row)
        self._ask(position, self.rendered.window if self.rendered else None)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        steps = {Qt.Key.Key_Right: 1, Qt.Key.Key_Down: 1, Qt.Key.Key_Left: -1,
                 Qt.Key.Key_Up: -1, Qt.Key.Key_PageDown: 10, Qt.Key.Key_PageUp: -10}
        key = Qt.Key(event.key())
        if key in steps:
            self.go(self.position + steps[key])
        elif key == Qt.Key.Key_Home:
            self.go(0)
        elif key == Qt.Key.Key_End:
            self.go(len(self.positions) - 1)
        else:
            super().keyPressEvent(event)

    def _show_attributes(self, row: dict[str, Any]) -> None:
        series = self.series
        sop, syntax = UID(row["sop_class_uid"] or ""), UID(row["transfer_syntax"] or "")
        values = {"Patient": f"{person_name(row.get('patient_name') or '')} "
                             f"({row.get('patient_id') or ''})",
                  "Study date": _date(series.get("study_date")),
                  "Study UID": row["study_uid"],
                  "Series": f"{series.get('series_number') or ''} "
                            f"{series.get('modality') or ''} {series.get('description') or ''}",
                  "Series UID": series.get("series_uid") or row.get("series_uid") or "",
                  "Instance": str(row.get("instance_number") or ""),
                  "SOP Instance UID": row.get("sop_instance_uid") or "",
                  "SOP class": sop.name or str(sop),
                  "Transfer syntax": syntax.name or str(syntax),
                  "Size": human_bytes(row.get("bytes"))}
        for name, field in self.fields.items():
            text = str(values[name] or "").strip()
            field.setText(text)
            field.setCursorPosition(0)  # the start of a long value, not its end
            field.setToolTip(text)
        self.path.setText(str(row["file"]))
        self.path.setToolTip(str(row["file"]))

    # -- decoding in the pixel worker --------------------------------------------------
    def _ask(self, position: int, window: Window | None) -> None:
        self._wanted = (position, window)
        if not self._busy:
            self._busy = True
            spawn(self._decode())

    async def _decode(self) -> None:
        try:
            while self._wanted is not None:
                position, window = self._wanted
                self._wanted = None
                rendered = self.rendered
                same = rendered is not None and self._rendered_at == position
                if same and window is not None and rendered is not None:
                    shown = await self.bridge.in_pixel_worker(
                        lambda r=rendered, w=window: _rewindow(r, w))
                else:
                    row, frame = self.positions[position]
                    path = Path(self.instances[row]["file"])
                    shown = await self.bridge.in_pixel_worker(
                        lambda p=path, f=frame, w=window: _show(p, f, w))
                self._rendered_at = position
                self._display(shown)
        finally:
            self._busy = False

    def _display(self, shown: Shown) -> None:
        self.rendered = shown.frame
        self.text.setVisible(shown.summary is not None)
        if shown.summary is not None:
            self.canvas.show_image(None, f"{shown.summary.kind.upper()}\n{shown.summary.title}")
            self.text.setPlainText("\n".join(shown.summary.lines))
        elif shown.image is None:
            self.canvas.show_image(None, f"This frame cannot be shown:\n{shown.reason}")
        else:
            self.canvas.show_image(shown.image)
        window = shown.frame.window if shown.frame is not None else None
        for box, value in ((self.window_center, window.center if window else 0),
                           (self.window_width, window.width if window else 0)):
            box.blockSignals(True)
            box.setValue(value)
            box.setEnabled(window is not None)
            box.blockSignals(False)
        self.reset.setEnabled(window is not None)
        self.shown.emit()

    # -- window / level ------------------------------------------------------------------
    def set_window(self, window: Window) -> None:
        if self.rendered is not None and self.rendered.window is not None:
            self._ask(self.position, Window(window.center, max(1.0, window.width)))

    def _fields_changed(self) -> None:
        self.set_window(Window(self.window_center.value(), self.window_width.value()))

    def _reset(self) -> None:
        if self.rendered is not None and self.rendered.default_window is not None:
            self.set_window(self.rendered.default_window)

    def _drag_started(self) -> None:
        self._drag_from = self.rendered.window if self.rendered is not None else None

    def _drag(self, dx: float, dy: float) -> None:
        """Right: wider; down: a higher centre (darker), as most viewers do."""
        start = self._drag_from
        if start is None:
            return
        scale = max(1.0, start.width / 256)
        self.set_window(Window(start.center + dy * scale, start.width + dx * scale))

    def _open_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(self.path.text()).parent)))


ATTRIBUTES = ("Patient", "Study date", "Study UID", "Series", "Series UID", "Instance",
              "SOP Instance UID", "SOP class", "Transfer syntax", "Size")
"""The attributes beside the image, in this order."""


def _value_field() -> QLineEdit:
    """A value as text, not an input: no frame, selectable, as narrow as the panel."""
    field = QLineEdit()
    field.setReadOnly(True)
    field.setFrame(False)
    field.setMinimumWidth(40)
    field.setStyleSheet("QLineEdit { background: transparent; }")
    return field


def _date(value: object) -> str:
    text = str(value or "")
    return f"{text[:4]}-{text[4:6]}-{text[6:]}" if len(text) == 8 and text.isdigit() else text

