"""``qrscope archive list|import|check|delete|send|thumbnail``: the local archive, from a shell.

Every subcommand works on the archive of ``--storage DIR`` (default: the
profile's storage folder) through its index (:mod:`qrscope.core.archive`).
Exit codes as elsewhere: 0 success, 2 invalid arguments, 4 the operation
ran and failed (an import with failures, a check that found differences
and did not repair them, a deletion that could not remove a file).
``thumbnail`` exits 1 when the series has no pixels or cannot be decoded
(with the reason), 2 for a series the archive does not hold.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qrscope.cli.options import EXIT, CliError, count_arg, load_profiles, path_arg, print_json
from qrscope.cli.terminal import for_terminal
from qrscope.core.archive.delete import delete_rows, rows_to_delete
from qrscope.core.archive.index import (
    ArchiveFilter,
    ArchiveLevel,
    open_index,
    reconcile,
)
from qrscope.core.files import atomic_write
from qrscope.core.validation import InvalidValue

if TYPE_CHECKING:
    from qrscope.core.archive.importer import ImportResult

# The importer and the imaging (pydicom's pixel handlers, PIL) are imported by
# the actions that use them: not by every start-up, nor by ``archive send``.

__all__ = ["add_archive_parser", "run_archive"]

_NO_THUMBNAIL = 1  # the series holds no pixels, or none this installation decodes

_COLUMNS = {
    ArchiveLevel.PATIENT: ("patient_id", "patient_name", "birth_date", "studies", "series",
                           "instances", "bytes"),
    ArchiveLevel.STUDY: ("study_date", "patient_name", "patient_id", "accession_number",
                         "modalities", "description", "series", "instances", "bytes",
                         "study_uid"),
    ArchiveLevel.SERIES: ("series_number", "modality", "description", "instances", "bytes",
                          "series_uid"),
    ArchiveLevel.INSTANCE: ("instance_number", "sop_class_uid", "bytes", "sop_instance_uid",
                            "path"),
}


def add_archive_parser(sub: Any, command: Any) -> None:
    """``archive`` and its subcommands; *command* makes a parser as ``main`` does."""
    archive = command(sub, "archive",
                      "the local archive: list, import, check, delete, send, thumbnail")
    actions = archive.add_subparsers(dest="archive_action", metavar="ACTION", required=True)
    listing = command(actions, "list", "list patients, studies, series or instances")
    listing.add_argument("--level", default="study", choices=[lv.value for lv in ArchiveLevel])
    listing.add_argument("--patient-name", help="wildcards * and ? allowed, e.g. 'SMITH*'")
    listing.add_argument("--patient-id")
    listing.add_argument("--date", help="study date: YYYYMMDD, YYYYMMDD-YYYYMMDD, -B or A-")
    listing.add_argument("--modality", action="append", help="e.g. CT, or CT,MR (repeatable)")
    listing.add_argument("--accession")
    listing.add_argument("--description", help="study description (wildcards allowed)")
    listing.add_argument("--study", metavar="UID", help="Study Instance UID")
    listing.add_argument("--series", metavar="UID", help="Series Instance UID")
    importing = command(actions, "import", "import DICOM files, folders or DICOMDIRs")
    importing.add_argument("paths", nargs="+", metavar="PATH", type=path_arg)
    how = importing.add_mutually_exclusive_group()
    how.add_argument("--copy", dest="mode", action="store_const", const="copy",
                     help="copy into the storage folder (the default)")
    how.add_argument("--in-place", dest="mode", action="store_const",
                     const="in-place", help="index the files where they are")
    check = command(actions, "check", "compare the index with the files")
    check.add_argument("--repair", action="store_true",
                       help="make the index match the files (added, changed, removed)")
    delete = command(actions, "delete", "delete patients, studies or series (files and rows)")
    delete.add_argument("--study", metavar="UID", action="append", default=[])
    delete.add_argument("--series", metavar="UID", action="append", default=[])
    delete.add_argument("--patient-id", metavar="ID", action="append", default=[])
    delete.add_argument("--yes", action="store_true", help="do not ask first")
    send = command(actions, "send", "send patients, studies or series to a node (C-STORE)",
                   node=True, local=True)
    send.add_argument("--study", metavar="UID", action="append", default=[])
    send.add_argument("--series", metavar="UID", action="append", default=[])
    send.add_argument("--patient-id", metavar="ID", action="append", default=[])
    send.add_argument("--max-parallel", type=count_arg, default=0, metavar="N",
                      help="associations at once (default: the node's parallel retrieves, "
                      "else 2); a peer that refuses more gets fewer")
    thumbnail = command(actions, "thumbnail", "write a series' thumbnail as PNG")
    thumbnail.add_argument("--series", metavar="UID", required=True,
                           help="Series Instance UID")
    thumbnail.add_argument("--out", metavar="FILE.png", required=True, type=path_arg)
    thumbnail.add_argument("--size", type=int, default=128,
                           help="the longer side in pixels (default 128)")
    for parser in (listing, importing, check, delete, send, thumbnail):
        parser.add_argument("--storage", metavar="DIR", type=path_arg,
                            help="the archive's storage folder (default: the profile's)")


def _storage(args: argparse.Namespace) -> Path:
    if args.storage is not None:
        return Path(args.storage)
    return Path(load_profiles(args).local.storage_folder)


def run_archive(args: argparse.Namespace) -> int:
    storage = _storage(args)
    action = args.archive_action
    if action != "import" and not storage.is_dir():
        raise CliError(f"no archive at {storage} (not a folder)", EXIT["usage"])
    if action == "send":
        from qrscope.cli.send_command import run_send

        return run_send(args, storage)
    return {"list": _list, "import": _import, "check": _check, "delete": _delete,
            "thumbnail": _thumbnail}[action](args, storage)


def _filter(args: argparse.Namespace) -> ArchiveFilter:
    modalities: list[str] = []
    for item in args.modality or []:
        modalities.extend(m for m in item.replace("\\", ",").split(",") if m.strip())
    query = ArchiveFilter(patient_name=args.patient_name or "", patient_id=args.patient_id or "",
                          study_date=args.date or "", modalities=tuple(modalities),
                          accession_number=args.accession or "",
                          description=args.description or "", study_uid=args.study or "",
                          series_uid=args.series or "")
    try:
        query.date_range()
    except InvalidValue as exc:
        raise CliError(str(exc), EXIT["usage"]) from None
    return query


def _cell(value: Any) -> str:
    return for_terminal("\\".join(value) if isinstance(value, list) else value)


def _list(args: argparse.Namespace, storage: Path) -> int:
    level = ArchiveLevel(args.level)
    index = open_index(storage)
    rows = index.select(level, _filter(args))
    if level is ArchiveLevel.INSTANCE:
        for row in rows:
            row["path"] = str(index.path_of(row["path"]))
    if args.json:
        print_json({"status": "success", "level": level.value, "storage": str(storage),
                    "count": len(rows), "results": rows})
        return EXIT["success"]
    print("  ".join(c.upper() for c in _COLUMNS[level]))
    for row in rows:
        print("  ".join(_cell(row.get(c)) for c in _COLUMNS[level]))
    print(f"{len(rows)} {level.value} row(s) in {storage}", file=sys.stderr)
    return EXIT["success"]


def _import(args: argparse.Namespace, storage: Path) -> int:
    from qrscope.core.archive.importer import ImportMode, import_paths

    mode = ImportMode(args.mode or "copy")

    def show(result: ImportResult) -> None:
        if not args.json:
            reason = f": {for_terminal(result.reason)}" if result.reason else ""
            print(f"{result.outcome}  {for_terminal(result.path)}{reason}", flush=True)

    try:
        storage.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot use {storage} as the storage folder: {exc}",
                       EXIT["usage"]) from None
    results = import_paths(args.paths, storage, mode, on_result=show)
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    failed = counts.get("failed", 0)
    if args.json:
        print_json({"status": "failed" if failed else "success", "mode": mode.value,
                    "storage": str(storage), "counts": counts,
                    "results": [r.to_dict() for r in results]})
    else:
        print(", ".join(f"{n} {outcome}" for outcome, n in counts.items()) or "nothing found",
              file=sys.stderr)
    return EXIT["failed"] if failed else EXIT["success"]


def _check(args: argparse.Namespace, storage: Path) -> int:
    report = reconcile(open_index(storage), repair=args.repair)
    if args.json:
        print_json({"status": "success" if report.clean or report.repaired else "failed",
                    "storage": str(storage)} | report.to_dict())
    else:
        for label, names in (("added", report.added), ("changed", report.changed),
                             ("removed", report.removed)):
            for name in names:
                print(f"{label}  {for_terminal(name)}")
        for name, reason in report.not_dicom:
            print(f"not DICOM  {for_terminal(name)}: {for_terminal(reason)}")
        verb = "repaired" if report.repaired else ("in step with the files" if report.clean
                                                   else "differs from the files")
        print(f"index {verb}: {len(report.added)} added, {len(report.changed)} changed, "
              f"{len(report.removed)} removed; {report.files} file(s) indexed", file=sys.stderr)
    return EXIT["success"] if report.clean or report.repaired else EXIT["failed"]


def _delete(args: argparse.Namespace, storage: Path) -> int:
    if not (args.study or args.series or args.patient_id):
        raise CliError("name what to delete: --study UID, --series UID or --patient-id ID",
                       EXIT["usage"])
    index = open_index(storage)
    rows = rows_to_delete(index, study_uids=args.study, series_uids=args.series,
                          patient_ids=args.patient_id)
    size = sum(int(r["bytes"] or 0) for r in rows)
    studies = len({r["study_uid"] for r in rows})
    if rows and not args.yes:
        if not sys.stdin.isatty():
            raise CliError(f"would delete {len(rows)} file(s) of {studies} study(ies): "
                           "confirm with --yes", EXIT["usage"])
        answer = input(f"Delete {len(rows)} file(s) ({size} bytes) of {studies} study(ies) "
                       f"from {storage}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted", file=sys.stderr)
            return EXIT["cancelled"]
    report = delete_rows(index, rows)
    if args.json:
        print_json({"status": "failed" if report.failed else "success",
                    "storage": str(storage)} | report.to_dict())
    else:
        for path, reason in report.failed:
            print(f"failed  {for_terminal(path)}: {for_terminal(reason)}", file=sys.stderr)
        kept = f"; {len(report.kept_outside)} file(s) outside the storage folder kept, " \
               "only unindexed" if report.kept_outside else ""
        print(f"deleted {report.files_removed} file(s), {report.bytes_removed} bytes{kept}",
              file=sys.stderr)
    return EXIT["failed"] if report.failed else EXIT["success"]



def _thumbnail(args: argparse.Namespace, storage: Path) -> int:
    if not 16 <= args.size <= 1024:
        raise CliError("--size must be between 16 and 1024 pixels", EXIT["usage"])
    from qrscope.core.imaging import UnknownSeries, make_thumbnail

    try:
        result = make_thumbnail(storage, args.series, args.size)
    except UnknownSeries as exc:
        raise CliError(str(exc), EXIT["usage"]) from None
    if result.path is not None:
        try:
            atomic_write(Path(args.out), result.path.read_bytes())
        except OSError as exc:
            raise CliError(f"cannot write {args.out}: {exc}", EXIT["failed"]) from None
    if args.json:
        print_json({"status": "success" if result.path else "failed", "storage": str(storage),
                    "series_uid": args.series, "out": str(args.out) if result.path else None}
                   | result.to_dict())
    elif result.path is not None:
        print(f"thumbnail of {for_terminal(args.series)} written to {for_terminal(args.out)}",
              file=sys.stderr)
    else:
        print(f"no thumbnail ({result.state}): {for_terminal(result.reason)}", file=sys.stderr)
    return EXIT["success"] if result.path else _NO_THUMBNAIL
