"""Medians, ratios against DCMTK, and the printed, JSON and Markdown tables."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path

from .scenarios import Sample


def summarise(samples: Sequence[Sample]) -> list[dict[str, object]]:
    """One row per (scenario, data, contender): medians, and the ratio of the median
    time to the median of DCMTK's contender for the same method in the same scenario
    and data (and to pynetdicom's, for reference); for each of qrscope's engines, the
    ratio to its tuned engine's median."""
    groups: dict[tuple[str, str, str], list[Sample]] = {}
    for sample in samples:
        groups.setdefault((sample.scenario, sample.data, sample.contender), []).append(sample)
    medians = {key: statistics.median(s.seconds for s in group) for key, group in groups.items()}
    rows = []
    for key, group in groups.items():
        first = group[0]

        def median_of(tool: str, key=key, first=first) -> float | None:
            return next((medians[k] for k, g in groups.items()
                         if k[:2] == key[:2] and g[0].tool == tool
                         and g[0].method == first.method), None)

        dcmtk, pynetdicom = median_of("dcmtk"), median_of("pynetdicom")
        tuned = next((medians[k] for k, g in groups.items()
                      if k[:2] == key[:2] and g[0].tool == "qrscope"
                      and g[0].engine == "tuned" and g[0].method == first.method), None)
        seconds = medians[key]
        rows.append({
            "scenario": first.scenario,
            "data": first.data,
            "contender": first.contender,
            "tool": first.tool,
            "method": first.method,
            "runs": len(group),
            "median_s": round(seconds, 3),
            "min_s": round(min(s.seconds for s in group), 3),
            "max_s": round(max(s.seconds for s in group), 3),
            "instances_per_s": round(first.instances / seconds, 1) if seconds else None,
            "peak_rss_mb": round(statistics.median(s.peak_rss_mb for s in group), 1),
            "vs_dcmtk": round(seconds / dcmtk, 3) if dcmtk else None,
            "vs_pynetdicom": round(seconds / pynetdicom, 3) if pynetdicom else None,
            "vs_tuned": round(seconds / tuned, 3) if tuned and first.tool == "qrscope" else None,
        })
    return rows


_COLUMNS = ("scenario", "data", "contender", "runs", "median_s", "min_s", "max_s",
            "instances_per_s", "peak_rss_mb", "vs_dcmtk", "vs_pynetdicom", "vs_tuned")


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}" if value < 10 else f"{value:.1f}"
    return str(value)


def markdown(rows: Sequence[dict[str, object]]) -> str:
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    lines += ["| " + " | ".join(_cell(row[c]) for c in _COLUMNS) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def text(rows: Sequence[dict[str, object]]) -> str:
    table = [list(_COLUMNS), *([_cell(row[c]) for c in _COLUMNS] for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(_COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
                     for line in table) + "\n"


def write(path: Path, settings: dict[str, object], versions: dict[str, str],
          samples: Sequence[Sample], rows: Sequence[dict[str, object]]) -> None:
    path.write_text(json.dumps({"settings": settings, "versions": versions, "summary": rows,
                                "samples": [s.to_dict() for s in samples]}, indent=1))
