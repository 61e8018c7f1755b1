"""Write docs/TROUBLESHOOTING.md from the hint catalogue (the app and the docs agree)."""

from pathlib import Path

from qrscope.diagnosis.catalogue import troubleshooting_markdown

target = Path(__file__).resolve().parent.parent / "docs" / "TROUBLESHOOTING.md"
target.write_text(troubleshooting_markdown(), encoding="utf-8")
print(f"wrote {target}")
