"""The report of a batch: every item, its input row, studies, status, instances
expected and received, reason and hint; written as CSV and JSON side by side and
rewritten after every item, so that a batch that runs all night can be read in
the morning, or half way through, with a spreadsheet.

Each file is written whole to a temporary name and renamed over the old one:
a reader never sees half a report, and a crash leaves the last complete one.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qrscope.core.batch.items import FINAL_STATUSES, ItemProgress

__all__ = ["COLUMNS", "counts", "report_paths", "summary", "write_report"]

COLUMNS = ("row", "asks", "studies", "status", "expected", "received", "reason", "hint")
"""The report's own columns; the input row's columns follow them."""


def counts(items: Sequence[ItemProgress]) -> dict[str, int]:
    """Items per final status (every status named, zero or not), and ``pending``."""
    found = Counter(p.status.value for p in items)
    out = {s.value: found.get(s.value, 0) for s in FINAL_STATUSES}
    out["pending"] = len(items) - sum(out.values())
    return out


def summary(items: Sequence[ItemProgress]) -> dict[str, Any]:
    """The ``qrscope batch --json`` object and the JSON report: counts and every item."""
    return {"items": len(items), "counts": counts(items),
            "instances_received": sum(p.received for p in items),
            "rows": [p.to_dict() for p in items]}


def report_paths(csv_path: Path) -> tuple[Path, Path]:
    """The CSV report and the JSON one beside it (same name, ``.json``)."""
    csv_path = Path(csv_path)
    return csv_path, csv_path.with_suffix(".json")


def write_report(csv_path: Path, items: Sequence[ItemProgress]) -> None:
    """Write both reports for *items*; raises ``OSError``."""
    csv_file, json_file = report_paths(csv_path)
    inputs = list(dict.fromkeys(k for p in items for k in p.item.values))
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow([*COLUMNS, *(f"input: {k}" if k else "input" for k in inputs)])
    for progress in items:
        row = progress.to_dict()
        writer.writerow([row["row"], row["asks"], " ".join(row["studies"]), row["status"],
                         "" if row["expected"] is None else row["expected"], row["received"],
                         row["reason"], row["hint"],
                         *(progress.item.values.get(k, "") for k in inputs)])
    _replace(csv_file, text.getvalue())
    _replace(json_file, json.dumps(summary(items), indent=2, ensure_ascii=False) + "\n")


def _replace(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8", newline="")
    os.replace(temporary, path)
