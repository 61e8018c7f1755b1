"""``qrscope retrieve``: C-MOVE to our listener (or elsewhere) or C-GET, with progress."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
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
from qrscope.cli.terminal import for_terminal, hint_for_terminal
from qrscope.core.jobs import JobService, JobStore
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.receive.listener import ListenerError, StorageListener
from qrscope.core.receive.storage import InstanceStore
from qrscope.core.retrieve.types import RetrieveOutcome, RetrieveProgress, RetrieveScope
from qrscope.core.validation import InvalidValue, check_ae_title, check_writable_file
from qrscope.diagnosis.hints import Hint, hint_for_listener_error
from qrscope.diagnosis.retrieve_hints import hint_for_refused_caller, hints_for_retrieve
from qrscope.diagnosis.sequence import build_sequence

# The human output lists this many missing instances; --json lists every one.
MISSING_SHOWN = 20

__all__ = ["exit_code", "retrieve_once", "run_retrieve"]


def _scope(args: argparse.Namespace) -> RetrieveScope:
    if not args.study:
        raise CliError("--study UID is required (with --series and --instance to narrow it)",
                       EXIT["usage"])
    try:
        if args.instance:
            if not args.series or len(args.series) != 1:
                raise CliError("--instance needs exactly one --series", EXIT["usage"])
            scope = RetrieveScope.instances(args.study, args.series[0], *args.instance,
                                            patient_id=args.patient_id or "")
        elif args.series:
            scope = RetrieveScope.series(args.study, *args.series,
                                         patient_id=args.patient_id or "")
        else:
            scope = RetrieveScope.study(args.study, patient_id=args.patient_id or "")
        return scope.validated()
    except InvalidValue as exc:
        raise CliError(str(exc), EXIT["usage"]) from None


def _progress_printer(enabled: bool) -> object:
    def show(progress: RetrieveProgress) -> None:
        if not enabled:
            return
        total = progress.total
        of = f"/{total}" if total is not None else ""
        sys.stderr.write(
            f"\r{progress.state.value:<10} received {progress.received}{of}  "
            f"completed {progress.completed} failed {progress.failed} "
            f"warning {progress.warning}  {progress.rate:.1f}/s   ")
        sys.stderr.flush()
        if progress.state.is_final:
            sys.stderr.write("\n")
    return show


def retrieve_once(node: RemoteNode, local: LocalAE, log: AssociationLog,
                  scope: RetrieveScope, jobs_path: Path, *, move_destination: str | None = None,
                  show_progress: bool = True, debug: bool = False,
                  known_nodes: Iterable[RemoteNode] = (),
                  ) -> tuple[RetrieveOutcome, list[Hint]]:
    """Run the retrieve as a job of the job service, with what it needs around it.

    The job is recorded in *jobs_path* like the window's, so that
    ``qrscope jobs`` lists it and, should this process be killed,
    ``qrscope jobs resume`` finishes it. The listener (C-MOVE to us) runs
    only for this retrieve. Ctrl-C cancels the retrieve properly
    (C-CANCEL, bounded wait, release).
    """
    store = InstanceStore(local.storage_folder)
    destination = (move_destination or node.move_destination or local.ae_title).strip()
    listener = None
    if node.retrieve_method is RetrieveMethod.MOVE and destination == local.ae_title:
        nodes = list(known_nodes)
        listener = StorageListener(local, log, store, debug=debug, known_nodes=lambda: nodes)
        listener.start()
    service = JobService(_open_jobs(jobs_path), log, local=lambda: local,
                         listener=lambda _folder: listener or "no listener",
                         on_progress=_progress_printer(show_progress),  # type: ignore[arg-type]
                         debug=lambda: debug)
    record = service.submit(node, scope, node.retrieve_method,
                            move_destination=move_destination or "")
    try:
        with cancel_on_interrupt(service, record.job_id,
                                 "cancelling (C-CANCEL sent; Ctrl-C again to abort)"):
            service.wait()
    finally:
        service.shutdown()
        service.store.close()
        if listener is not None:
            listener.stop()
    ended = service.get(record.job_id)
    if ended is None or ended.outcome is None:
        raise CliError(ended.summary if ended else "the retrieve did not run", EXIT["failed"])
    outcome = ended.outcome
    hints = hints_for_retrieve(outcome, node, local,
                               listener_port=listener.port if listener else None,
                               unexpected=listener.unexpected if listener else None)
    if listener is not None and listener.refused:
        hints.append(hint_for_refused_caller(listener.refused[0]))
    return outcome, hints


def _open_jobs(path: Path) -> JobStore:
    store = JobStore(path)
    for warning in store.warnings:
        print(f"qrscope: warning: {for_terminal(warning)}", file=sys.stderr)
    return store


def run_retrieve(args: argparse.Namespace) -> int:
    profiles = load_profiles(args)
    local = local_from_args(args, profiles)
    try:
        if args.listen_port is not None:
            local = replace(local, listener_port=args.listen_port)
        dest = (check_ae_title(args.dest_aet, "--dest-aet") if args.dest_aet is not None
                else None)
        diagram = (check_writable_file(args.diagram, "--diagram") if args.diagram is not None
                   else None)
    except InvalidValue as exc:
        raise CliError(str(exc), EXIT["usage"]) from None
    node = node_from_args(args, profiles)
    scope = _scope(args)
    local = storage_folder_from_args(args, local)
    log = build_log(args, local)
    try:
        outcome, hints = retrieve_once(node, local, log, scope, jobs_file(args),
                                       move_destination=dest,
                                       known_nodes=profiles.nodes,
                                       show_progress=not args.json and sys.stderr.isatty(),
                                       debug=args.verbose >= 2)
    except ListenerError as exc:
        hint = hint_for_listener_error(exc, local)
        if args.json:
            print_json({"status": "failed", "error": {"reason": exc.reason,
                                                      "message": exc.message},
                        "hints": [hint.id], "hint_details": [hint.to_dict()]})
            return EXIT["listener"]
        raise CliError(f"{for_terminal(exc.message)}\n{hint_for_terminal(hint)}",
                       EXIT["listener"]) from None
    if diagram is not None:
        sequence = build_sequence(log, outcome.job_id, f"{outcome.method.value} from {node.name}")
        try:
            diagram.write_text(sequence.svg() if diagram.suffix.lower() == ".svg"
                               else sequence.mermaid(), encoding="utf-8")
        except OSError as exc:
            print(f"qrscope: --diagram: cannot write {diagram} ({exc.strerror})",
                  file=sys.stderr)
    if args.json:
        print_json({**outcome.to_dict(), "hints": [h.id for h in hints],
                    "hint_details": [h.to_dict() for h in hints]})
    else:
        _print_outcome(outcome, node)
        for hint in hints:
            print(hint_for_terminal(hint))
    return exit_code(outcome)


def exit_code(outcome: RetrieveOutcome) -> int:
    """The exit code of a retrieve (``qrscope --help`` lists them)."""
    if outcome.failure is not None and not outcome.stored:
        return EXIT["connection"]
    return {"success": EXIT["success"], "partial": EXIT["partial"],
            "cancelled": EXIT["cancelled"]}.get(outcome.status, EXIT["failed"])


def _print_outcome(outcome: RetrieveOutcome, node: RemoteNode) -> None:
    # UIDs, statuses and error texts below come from the PACS or a sender.
    shown = for_terminal
    stored = outcome.stored
    print(f"{outcome.status}: {len(stored)} instance(s) stored "
          f"({sum(1 for r in stored if r.stored and r.stored.duplicate)} already present), "
          f"PACS reported completed {outcome.completed}, failed {outcome.failed}, "
          f"warning {outcome.warning} in {outcome.seconds:.1f} s")
    if outcome.failure is not None:
        print(f"  error: {shown(outcome.failure.message)}")
    if outcome.final_status is not None and outcome.final_status.code != 0:
        print(f"  final status from {node.name}: {shown(outcome.final_status)}")
    if outcome.timed_out:
        print(f"  stopped: the {outcome.timed_out} time limit passed without progress")
    if outcome.expected is not None:
        print(f"  the PACS lists {outcome.expected} instance(s) for this retrieve")
    named = {m.sop_instance_uid for m in outcome.missing}
    for item in outcome.missing[:MISSING_SHOWN]:
        print(f"  missing: {shown(item.sop_instance_uid)} ({item.reason.value}: "
              f"{shown(item.detail)})")
    if len(outcome.missing) > MISSING_SHOWN:
        print(f"  ... and {len(outcome.missing) - MISSING_SHOWN} more missing (--json lists all)")
    for uid in outcome.failed_uids:
        if uid not in named:
            print(f"  failed: {shown(uid)}")
    for item in outcome.received:
        if not item.ok and item.sop_instance_uid not in named:
            print(f"  not stored: {shown(item.sop_instance_uid)}: {shown(item.error)}")
    if stored:
        folders = sorted({str(r.stored.path.parent) for r in stored if r.stored})
        print("  files in: " + shown(folders[0] if len(folders) == 1 else f"{len(folders)} "
                                     f"folders under {Path(folders[0]).parents[2]}"))
