"""The picture of a retrieve: both associations on one time axis, exportable."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSize
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtSvgWidgets import QSvgWidget
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from qrscope.diagnosis.sequence import SequenceDiagram

__all__ = ["SequenceDialog", "svg_to_png"]


def svg_to_png(svg: str, path: Path) -> None:
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    size = renderer.defaultSize()
    image = QImage(size, QImage.Format.Format_ARGB32)
    image.fill(0xFFFFFFFF)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    image.save(str(path))


class SequenceDialog(QDialog):
    def __init__(self, diagram: SequenceDiagram, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.diagram = diagram
        self.setWindowTitle(f"Sequence: {diagram.title}")
        self.svg = diagram.svg()
        view = QSvgWidget()
        view.load(QByteArray(self.svg.encode("utf-8")))
        size = view.renderer().defaultSize()
        view.setFixedSize(size)
        scroll = QScrollArea()
        scroll.setWidget(view)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        for text, tip, slot in (
            ("Copy as Mermaid", "Text for a support ticket or a wiki", self.copy_mermaid),
            ("Export SVG…", "Save the picture as SVG", lambda: self.export("svg")),
            ("Export PNG…", "Save the picture as PNG", lambda: self.export("png")),
        ):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(buttons)
        self.resize(QSize(min(size.width() + 40, 920), min(size.height() + 80, 760)))

    def copy_mermaid(self) -> None:
        QGuiApplication.clipboard().setText(self.diagram.mermaid())

    def export(self, kind: str, path: str = "") -> None:
        if not path:
            path, _ = QFileDialog.getSaveFileName(self, "Export the sequence",
                                                  f"qrscope-sequence.{kind}", f"*.{kind}")
        if not path:
            return
        if kind == "svg":
            Path(path).write_text(self.svg, encoding="utf-8")
        else:
            svg_to_png(self.svg, Path(path))
