"""``qrscope batch``: a list of studies (CSV, TSV, XLSX, text) resolved and fetched
as one job of the job service, resumable, with a report beside the files.

The batch is named by its input (content and column mapping) and node:
running the same command again resumes it (after a crash, a quit, Ctrl-C) or,
once it ended, tries its partial and failed items again; ``--restart`` starts
it over. ``--dry-run`` stops after the review (C-FIND only).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from qrscope.cli.interrupt import cancel_on_interrupt
from qrscope.cli.options import (
    EXIT,
    CliError,
    build_log,
    jobs_file,
    load_profiles,
    local_from_args,
    node_from_args,
    print_json,
    storage_folder_from_args,
)
from qrscope.cli.terminal import for_terminal
from qrscope.core.batch.input import BatchInput, BatchInputError, parse_columns, read_batch
from qrscope.core.batch.items import BatchSpec, ItemProgress, ItemStatus
from qrscope.core.batch.pace import PaceChange
from qrscope.core.batch.report import counts, summary, write_report
from qrscope.core.batch.resolve import Resolver
from qrscope.core.batch.window import AvailabilityWindow, WindowError
from qrscope.core.jobs import JobRecord, JobService, JobStore
from qrscope.core.jobs.batching import BATCH_RETRIED
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.net.connection import AssociationFailure
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.receive.listener import ListenerError, StorageListener
from qrscope.core.receive.storage import InstanceStore
from qrscope.core.retrieve.outcome import RetrieveOutcome
from qrscope.diagnosis.retrieve_hints import hints_for_retrieve

__all__ = ["run_batch"]

_FINE = (ItemStatus.DONE, ItemStatus.SKIPPED)


def _read(args: argparse.Namespace) -> BatchInput:
    try:
        batch = read_batch(Path(args.file), parse_columns(args.column))
    except BatchInputError as exc:
        raise CliError(str(exc), EXIT["usage"]) from None
    for warning in batch.warnings:
        print(f"qrscope: warning: {for_terminal(warning)}", file=sys.stderr)
    return batch


def _check_window(text: str | None) -> str:
    """``--window`` checked now (exit 2), kept as given for the batch's record."""
    if text is None:
        return ""
    try:
        AvailabilityWindow.parse(text)
    except WindowError as exc:
        raise CliError(f"--window {text!r}: {exc}", EXIT["usage"]) from None
    return text


def run_batch(args: argparse.Namespace) -> int:
    batch = _read(args)
    window = _check_window(args.window)
    profiles = load_profiles(args)
    node = node_from_args(args, profiles)
    local = storage_folder_from_args(args, local_from_args(args, profiles))
    log = build_log(args, local)
    if args.verbose:
        # The pace's changes (fewer retrieves after an A702, more after successes) and
        # each retry are the batch's own log lines, at INFO: -v shows them.
        logging.getLogger("qrscope.core.batch").setLevel(logging.INFO)
    report = Path(args.report) if args.report else (
        Path(local.storage_folder) / f"batch-{batch.digest[:12]}.csv")
    if args.dry_run:
        return _dry_run(args, batch, node, local, log, report)
    spec = BatchSpec(key=batch.digest, source=str(args.file), report=str(report),
                     max_parallel=args.max_parallel, window=window)
    try:
        items, unreachable, pace = _run(
            args, lambda service: _start(service, batch, spec, node, args.restart),
            len(batch.items), spec, node, local, log, list(profiles.nodes))
    except ListenerError as exc:
        raise CliError(exc.message, EXIT["listener"]) from None
    return _finish(args, items, unreachable, report, pace)


def retry_batch(args: argparse.Namespace, record: JobRecord) -> int:
    """``qrscope jobs retry JOB_ID`` of a batch: its items not done (failed, partial, not
    reached) run again in the same job, as the window's Retry failed does; printed and
    exited as ``qrscope batch``."""
    assert record.batch is not None  # a batch's
    profiles = load_profiles(args)
    node = next((n for n in profiles.nodes if n.name == record.node_name), record.node)
    local = replace(local_from_args(args, profiles),
                    storage_folder=Path(record.storage_folder))
    log = build_log(args, local)
    report = Path(record.batch.report) if record.batch.report else Path(
        record.storage_folder) / f"batch-{record.batch.key[:12]}.csv"

    store = JobStore(jobs_file(args))
    try:
        before = store.batch_items(record.job_id)
    finally:
        store.close()
    if not any(p.status in BATCH_RETRIED for p in before):
        _print(args, before, report)
        return EXIT["success"] if all(p.status in _FINE for p in before) else EXIT["partial"]

    def start(service: JobService) -> str:
        if service.retry_failed(record.job_id) is None:
            raise CliError(f"{record.job_id} cannot be retried now", EXIT["failed"])
        return record.job_id

    try:
        items, unreachable, pace = _run(args, start, len(before), record.batch, node, local,
                                        log, list(profiles.nodes))
    except ListenerError as exc:
        raise CliError(exc.message, EXIT["listener"]) from None
    return _finish(args, items, unreachable, report, pace)


def _run(args: argparse.Namespace, start: Callable[[JobService], str], total: int,
         spec: BatchSpec, node: RemoteNode, local: LocalAE, log: AssociationLog,
         nodes: list[RemoteNode]) -> tuple[list[ItemProgress], str, tuple[PaceChange, ...]]:
    """The batch as a job: *start* names it (resumed, submitted or retried), run to its
    end; its items as they stand, why the PACS was out of reach ('' it was not) and the
    pace's changes in this run."""
    method = node.retrieve_method
    destination = (node.move_destination or local.ae_title).strip()
    listener = None
    if method is RetrieveMethod.MOVE and destination == local.ae_title:
        listener = StorageListener(local, log, InstanceStore(local.storage_folder),
                                   debug=args.verbose >= 2, known_nodes=lambda: nodes)
        listener.start()

    def hint(outcome: RetrieveOutcome) -> str:
        found = hints_for_retrieve(outcome, node, local,
                                   listener_port=listener.port if listener else None)
        return found[0].id if found else ""

    service = JobService(JobStore(jobs_file(args)), log, local=lambda: local,
                         listener=lambda _folder: listener or "no listener",
                         batch_hint=hint, on_batch_item=_progress(args, total),
                         # --max-parallel is the node's budget unless its profile sets one
                         per_node=spec.max_parallel, debug=lambda: args.verbose >= 2)
    try:
        job_id = start(service)
        with cancel_on_interrupt(service, job_id, "stopping the batch (state kept; the same "
                                 "command resumes it)"):
            service.wait()
        record = service.get(job_id)
        items = service.store.batch_items(job_id)
    finally:
        service.shutdown()
        service.store.close()
        if listener is not None:
            listener.stop()
    result = record.batch_result if record is not None else None
    if record is not None and record.state.value == "cancelled":
        raise KeyboardInterrupt
    if result is None:
        return items, "", ()
    return items, result.unreachable, result.pace


def _start(service: JobService, batch: BatchInput, spec: BatchSpec, node: RemoteNode,
           restart: bool) -> str:
    """The job id of the batch: the one on record taken up again, or a new one."""
    known = None if restart else service.store.find_batch(spec.key, node.name)
    if known is not None:
        taken = service.take(known.job_id)
        if isinstance(taken, str):
            raise CliError(taken, EXIT["failed"])
        return taken.job_id
    return service.submit_batch(node, node.retrieve_method, spec, list(batch.items),
                                label=f"batch {Path(spec.source).name}").job_id


def _progress(args: argparse.Namespace, total: int) -> Callable[[str, ItemProgress], None]:
    def show(_job_id: str, progress: ItemProgress) -> None:
        if args.json or not sys.stderr.isatty() or not progress.status.is_final:
            return
        sys.stderr.write(f"row {progress.item.row}: {progress.status.value}"
                         f"{' - ' + for_terminal(progress.reason) if progress.reason else ''}"
                         f" ({progress.index + 1}/{total})\n")
    return show


def _dry_run(args: argparse.Namespace, batch: BatchInput, node: RemoteNode, local: LocalAE,
             log: AssociationLog, report: Path) -> int:
    """The review: every item resolved by C-FIND, nothing fetched."""
    resolver = Resolver(node, local, log, debug=args.verbose >= 2)
    items = []
    try:
        resolved = resolver.resolve_all(batch.items)  # one association for every row
        for index, (item, found) in enumerate(zip(batch.items, resolved, strict=True)):
            items.append(found.applied_to(ItemProgress(index=index, item=item)))
    except AssociationFailure as exc:
        raise CliError(f"the PACS could not be reached: {exc.message}",
                       EXIT["connection"]) from None
    write_report(report, items)
    fine = (ItemStatus.FOUND,)
    _print(args, items, report)
    return EXIT["success"] if all(p.status in fine for p in items) else EXIT["partial"]


def _finish(args: argparse.Namespace, items: list[ItemProgress], unreachable: str,
            report: Path, pace: tuple[PaceChange, ...] = ()) -> int:
    if unreachable:
        if args.json:
            print_json({**summary(items), "error": unreachable})
        raise CliError(f"the PACS could not be reached: {unreachable}", EXIT["connection"])
    _print(args, items, report, pace)
    return EXIT["success"] if all(p.status in _FINE for p in items) else EXIT["partial"]


def _print(args: argparse.Namespace, items: list[ItemProgress], report: Path,
           pace: tuple[PaceChange, ...] = ()) -> None:
    if args.json:
        print_json({**summary(items), "report": str(report), "pace": [
            {"old": c.old, "new": c.new, "why": c.why, "pause_s": round(c.pause, 1)}
            for c in pace]})
        return
    for progress in items:
        if progress.status in _FINE:
            continue
        print(f"row {progress.item.row} ({for_terminal(progress.item.describe())}): "
              f"{progress.status.value}"
              f"{': ' + for_terminal(progress.reason) if progress.reason else ''}")
    numbers = ", ".join(f"{v} {k}" for k, v in counts(items).items() if v)
    print(f"{len(items)} items: {numbers}; {sum(p.received for p in items)} instances "
          f"received\nreport: {for_terminal(str(report))}")
