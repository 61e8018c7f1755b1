"""``qrscope echo`` and ``qrscope find``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from qrscope.cli.options import (
    EXIT,
    CliError,
    build_log,
    load_profiles,
    local_from_args,
    node_from_args,
    print_json,
)
from qrscope.cli.terminal import for_terminal, hint_for_terminal
from qrscope.core.dicom.records import QueryLevel, Record, identifier_to_dict, record_to_dict
from qrscope.core.net.connection import AssociationFailure
from qrscope.core.net.verify import verify
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.query.find import FindOperation, QueryFilter
from qrscope.core.query.keys import QueryKey, parse_query_key
from qrscope.core.validation import InvalidValue
from qrscope.diagnosis.hints import hint_for_failure
from qrscope.diagnosis.retrieve_hints import hint_for_find_result

__all__ = ["failure_json", "failure_text", "run_echo", "run_find"]


def failure_json(exc: AssociationFailure, node: RemoteNode, local: LocalAE) -> dict[str, Any]:
    hint = hint_for_failure(exc, node, local)
    return {"status": "failed", "error": {"reason": exc.reason.value, "message": exc.message,
                                          "evidence": exc.evidence},
            "hints": [hint.id], "hint_details": [hint.to_dict()]}


def failure_text(exc: AssociationFailure, node: RemoteNode, local: LocalAE) -> str:
    return (f"{for_terminal(exc.message)}\n"
            f"{hint_for_terminal(hint_for_failure(exc, node, local))}")


def run_echo(args: argparse.Namespace) -> int:
    profiles = load_profiles(args)
    local = local_from_args(args, profiles)
    node = node_from_args(args, profiles)
    log = build_log(args, local)
    try:
        result = verify(node, local, log, debug=args.verbose >= 2)
    except AssociationFailure as exc:
        if args.json:
            print_json(failure_json(exc, node, local))
            return EXIT["connection"]
        raise CliError(failure_text(exc, node, local), EXIT["connection"]) from None
    if args.json:
        print_json({
            "status": "success" if result.ok else "failed",
            "node": node.name,
            "status_code": None if result.status is None else f"0x{result.status.code:04X}",
            "association_ms": round(result.association_ms, 2),
            "echo_ms": round(result.echo_ms, 2),
            "local_address": result.local_address,
            "hints": [],
        })
    elif result.ok:
        print(f"{node.name} ({node.ae_title}@{node.host}:{node.port}) answered C-ECHO in "
              f"{result.echo_ms:.1f} ms (association {result.association_ms:.1f} ms)")
    else:
        print(f"{node.name}: C-ECHO failed: {for_terminal(result.status or 'no response')}",
              file=sys.stderr)
    return EXIT["success"] if result.ok else EXIT["failed"]


_COLUMNS = {
    QueryLevel.PATIENT: ("patient_id", "patient_name", "birth_date", "sex",
                         "number_of_studies"),
    QueryLevel.STUDY: ("study_date", "patient_name", "patient_id", "accession_number",
                       "modalities", "description", "number_of_instances", "study_uid"),
    QueryLevel.SERIES: ("series_number", "modality", "description", "number_of_instances",
                        "series_uid"),
    QueryLevel.IMAGE: ("instance_number", "sop_class_uid", "sop_instance_uid"),
}


def _row(record: Record, level: QueryLevel) -> list[str]:
    data = record_to_dict(record)
    cells = []
    for column in _COLUMNS[level]:
        value = data.get(column)
        if isinstance(value, list):
            value = "\\".join(value)
        cells.append(for_terminal(value))
    return cells


def _keys_from_args(args: argparse.Namespace) -> tuple[QueryLevel, tuple[QueryKey, ...]]:
    """The ``-k`` keys, and the level (``-k QueryRetrieveLevel=X`` overrides --level)."""
    level_text = args.level
    keys: list[QueryKey] = []
    try:
        for text in getattr(args, "keys", None) or []:
            key = parse_query_key(text)
            if key.keyword == "QueryRetrieveLevel":
                level_text = key.value or level_text
                continue
            keys = [k for k in keys if k.tag != key.tag] + [key]
        return QueryLevel(level_text.strip().upper()), tuple(keys)
    except InvalidValue as exc:
        raise CliError(str(exc), EXIT["usage"]) from None
    except ValueError:
        raise CliError(f"-k QueryRetrieveLevel: '{level_text}' is not one of PATIENT, STUDY, "
                       "SERIES, IMAGE", EXIT["usage"]) from None


def query_filter_from_args(args: argparse.Namespace,
                           keys: tuple[QueryKey, ...] = ()) -> QueryFilter:
    modalities: list[str] = []
    for item in args.modality or []:
        modalities.extend(m for m in item.replace("\\", ",").split(",") if m.strip())
    try:
        return QueryFilter(
            patient_name=args.patient_name or "", patient_id=args.patient_id or "",
            birth_date=args.birth_date or "", accession_number=args.accession or "",
            study_date=args.date or "", modalities=tuple(modalities),
            study_description=args.description or "",
            referring_physician=args.referring or "", study_uid=args.study or "",
            series_uid=args.series or "", keys=keys,
        ).validated()
    except InvalidValue as exc:
        raise CliError(str(exc), EXIT["usage"]) from None


def _result_json(record: Record) -> dict[str, Any]:
    """The record's typed fields, and under "attributes" every attribute the response held."""
    return record_to_dict(record) | {"attributes": identifier_to_dict(record.identifier)}


def run_find(args: argparse.Namespace) -> int:
    profiles = load_profiles(args)
    local = local_from_args(args, profiles)
    node = node_from_args(args, profiles)
    level, keys = _keys_from_args(args)
    query = query_filter_from_args(args, keys)
    log = build_log(args, local)
    records: list[Record] = []

    def show(record: Record) -> None:
        records.append(record)
        if not args.json:
            print("  ".join(_row(record, level)), flush=True)

    try:
        operation = FindOperation(node, local, log, level, query, limit=args.limit,
                                  debug=args.verbose >= 2)
    except InvalidValue as exc:
        raise CliError(str(exc), EXIT["usage"]) from None
    if not args.json:
        print("  ".join(c.upper() for c in _COLUMNS[level]))
    try:
        result = operation.run(on_record=show)
    except AssociationFailure as exc:
        if args.json:
            print_json(failure_json(exc, node, local))
            return EXIT["connection"]
        raise CliError(failure_text(exc, node, local), EXIT["connection"]) from None
    except KeyboardInterrupt:
        operation.cancel()
        return EXIT["cancelled"]
    failed = result.failed
    hint = hint_for_find_result(result, node, local)
    hints = [hint] if hint is not None else []
    if args.json:
        print_json({
            "status": "failed" if failed else ("cancelled" if result.cancelled else "success"),
            "level": level.value,
            "count": result.count,
            "truncated": result.truncated,
            "final_status": None if result.status is None else str(result.status),
            "seconds": round(result.seconds, 3),
            "results": [_result_json(r) for r in records],
            "hints": [h.id for h in hints],
            "hint_details": [h.to_dict() for h in hints],
        })
    else:
        more = f" (limit {args.limit} reached)" if result.truncated else ""
        print(f"{result.count} match(es) in {result.seconds:.2f} s{more}", file=sys.stderr)
        for hint in hints:
            print(hint_for_terminal(hint), file=sys.stderr)
    return EXIT["failed"] if failed else EXIT["success"]
