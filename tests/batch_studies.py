"""Studies for the batch tests: many small ones, one accession number on two studies,
and one patient with several studies over the years (a result limit to split).

Written with the demo PACS's own sample writer, so the demo PACS, Orthanc and
dcmqrscp serve the same files. Each study is one CT series of two
uncompressed instances (pydicom's ``CT_small.dcm``), which every peer sends
as it is.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from qrscope.demo_pacs.samples import Patient, Series, Study, write_studies

TODAY = dt.date(2025, 6, 1)
DUPLICATE = "ACCDUP"
"""The accession number two studies share."""
MANY = Patient("Many^Studies", "PMANY", "19600101", "F")
"""A patient with :data:`MANY_DATES` studies, one a year."""
MANY_DATES = ("20180305", "20190611", "20200909", "20211212", "20230404")
INSTANCES_PER_STUDY = 2


def accession(number: int) -> str:
    return f"ACC{number:04d}"


def batch_studies(count: int) -> tuple[Study, ...]:
    """*count* studies of accession numbers ``ACC0001``..., two of :data:`DUPLICATE`,
    and the studies of :data:`MANY`."""
    studies = []
    for number in range(1, count + 1):
        patient = Patient(f"Batch^{number}", f"P{number:04d}", "19700101", "M")
        studies.append(_study(f"b{number}", patient, f"2024{1 + number % 12:02d}15",
                              accession(number)))
    for copy in (1, 2):
        patient = Patient(f"Twin^{copy}", f"PDUP{copy}", "19800101", "F")
        studies.append(_study(f"dup{copy}", patient, "20240301", DUPLICATE))
    for year, date in enumerate(MANY_DATES):
        studies.append(_study(f"many{year}", MANY, date, f"MANY{year}"))
    return tuple(studies)


def _study(key: str, patient: Patient, date: str, accession_number: str) -> Study:
    return Study(key, patient, date, "101500", accession_number, "CT BATCH", "Ref^Doc",
                 (Series(1, "CT", "Axial", "CT_small.dcm", INSTANCES_PER_STUDY, "CHEST"),))


def write_batch_studies(folder: Path, count: int) -> list[Path]:
    """Write :func:`batch_studies` into *folder*; the written files."""
    return write_studies(folder, batch_studies(count), TODAY)
