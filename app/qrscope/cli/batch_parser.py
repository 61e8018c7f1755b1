"""``qrscope batch``'s arguments, apart from the command (:mod:`qrscope.cli.batch_command`):
every start-up builds the whole parser, and only ``qrscope batch`` needs the
batch runner, the resolver and the retrieve machinery that command imports."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from qrscope.cli.options import count_arg, path_arg

__all__ = ["add_batch_parser"]


def add_batch_parser(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    """``qrscope batch FILE ...`` with the node and local options every command has."""
    batch = command(sub, "batch", "retrieve a list of studies (CSV, TSV, XLSX or text), "
                    "resumably", node=True, local=True)
    batch.add_argument("file", metavar="FILE", type=path_arg,
                       help="the list: .csv, .tsv, .xlsx, or text with one accession number "
                       "or Study Instance UID a line")
    batch.add_argument("--column", action="append", default=[], metavar="KEY=HEADER",
                       help="read KEY (AccessionNumber, PatientID, StudyInstanceUID, "
                       "StudyDate, Modality) from the column HEADER (repeatable)")
    batch.add_argument("--method", choices=["move", "get"],
                       help="C-MOVE (PACS connects back to us) or C-GET")
    batch.add_argument("--out", metavar="DIR", type=path_arg,
                       help="storage folder for received files (and the report)")
    batch.add_argument("--window", metavar="HH:MM-HH:MM",
                       help="run only within these hours (e.g. 20:00-06:00)")
    batch.add_argument("--max-parallel", type=count_arg, default=2, metavar="N",
                       help="retrieves at once against the node (default 2)")
    batch.add_argument("--report", metavar="FILE.csv", type=path_arg,
                       help="the report (default: batch-<id>.csv in the storage folder); "
                       "a .json one is written beside it")
    batch.add_argument("--dry-run", action="store_true",
                       help="resolve and review only: C-FIND, nothing fetched")
    batch.add_argument("--restart", action="store_true",
                       help="start the batch over instead of resuming it")
