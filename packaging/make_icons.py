"""Draw build/icons/qrscope.png (1024x1024) from the SVG icon, for the Windows and
macOS bundles: their executables need a raster icon, which PyInstaller converts to
.ico or .icns with Pillow. Linux uses the SVG itself (hicolor/scalable).

Usage: python packaging/make_icons.py   (from the repository root)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SVG = ROOT / "app" / "qrscope" / "resources" / "qrscope.svg"
OUT = ROOT / "build" / "icons" / "qrscope.png"
SIZE = 1024


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        print(f"make_icons: cannot read {SVG}", file=sys.stderr)
        return 1
    image = QImage(SIZE, SIZE, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(OUT)):
        print(f"make_icons: cannot write {OUT}", file=sys.stderr)
        return 1
    print(OUT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
