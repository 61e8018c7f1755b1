"""``qrscope archive send``: C-STORE of the archive's patients, studies or series to a node.

The send is a job of the job service, recorded in the jobs file beside the
profiles like a retrieve (``qrscope jobs`` lists it, ``qrscope jobs resume``
finishes one this process could not, ``qrscope jobs retry JOB_ID`` sends what
it did not deliver). Ctrl-C stops before the next instance.

``--max-parallel N`` bounds the associations the send uses at once. The
default is the node's budget of parallel work (its parallel retrieves, else
the service's 2), what a user sending a 2000-image study to a workstation
expects: as fast as the node allows. A PACS with a per-AE limit of
associations refuses the extra one; the send goes on with those it has
and says so once in the log.
Exit codes as ``qrscope retrieve``: 0 every instance stored, 1 some, 3 the
node could not be reached or refused the association, 4 nothing stored,
130 cancelled.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
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
)
from qrscope.cli.terminal import for_terminal, hint_for_terminal
from qrscope.core.jobs import JobService, JobStore
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.send.selection import SendSelection
from qrscope.core.send.types import InstanceState, SendOutcome, SendProgress
from qrscope.core.validation import InvalidValue
from qrscope.diagnosis.send_hints import hints_for_send

__all__ = ["finish_send", "run_send", "send_exit_code", "send_service"]


def _progress_printer(enabled: bool) -> Callable[[SendProgress], None]:
    def show(progress: SendProgress) -> None:
        if not enabled:
            return
        sys.stderr.write(
            f"\r{progress.state.value:<10} {progress.done}/{progress.total}  stored "
            f"{progress.stored} warning {progress.warning} failed {progress.failed}  "
            f"{progress.rate:.1f}/s {progress.bytes_per_second / 1e6:.1f} MB/s   ")
        if progress.state.is_final:
            sys.stderr.write("\n")
        sys.stderr.flush()
    return show


def run_send(args: argparse.Namespace, storage: Path) -> int:
    try:
        selection = SendSelection(tuple(args.study), tuple(args.series),
                                  tuple(args.patient_id),
                                  max_parallel=getattr(args, "max_parallel", 0)).validated()
    except InvalidValue as exc:
        raise CliError(f"{exc}: use --study UID, --series UID or --patient-id ID",
                       EXIT["usage"]) from None
    profiles = load_profiles(args)
    local = local_from_args(args, profiles)
    node = node_from_args(args, profiles)
    store = JobStore(jobs_file(args))
    for warning in store.warnings:
        print(f"qrscope: warning: {for_terminal(warning)}", file=sys.stderr)
    service = send_service(args, store, local, profiles.nodes)
    record = service.submit_send(node, selection, storage_folder=storage)
    return finish_send(args, service, record.job_id, local)


def send_service(args: argparse.Namespace, store: JobStore, local: LocalAE,
                 nodes: Iterable[RemoteNode]) -> JobService:
    """The job service of a send from the command line: progress on a terminal."""
    return JobService(store, build_log(args, local), local=lambda: local,
                      nodes=lambda: list(nodes),
                      on_send_progress=_progress_printer(not args.json and sys.stderr.isatty()),
                      debug=lambda: args.verbose >= 2)


def finish_send(args: argparse.Namespace, service: JobService, job_id: str,
                local: LocalAE) -> int:
    """Wait for send job *job_id* (Ctrl-C cancels it), print how it ended, its exit code."""
    try:
        with cancel_on_interrupt(service, job_id,
                                 "cancelling (after the instance on the wire)"):
            service.wait()
    finally:
        service.shutdown()
        service.store.close()
    ended = service.get(job_id)
    if ended is None or ended.send_outcome is None:
        raise CliError(ended.summary if ended else "the send did not run", EXIT["failed"])
    outcome = ended.send_outcome
    hints = hints_for_send(outcome, ended.node, local)
    if args.json:
        print_json({**outcome.to_dict(), "retry_of": ended.retry_of or None,
                    "hints": [h.id for h in hints],
                    "hint_details": [h.to_dict() for h in hints]})
    else:
        _print_outcome(outcome)
        for hint in hints:
            print(hint_for_terminal(hint))
    return send_exit_code(outcome)


def send_exit_code(outcome: SendOutcome) -> int:
    """The exit code of a send, as :func:`~qrscope.cli.retrieve_command.exit_code`."""
    if outcome.failure is not None and not outcome.results and not outcome.already_sent:
        return EXIT["connection"]
    return {"success": EXIT["success"], "partial": EXIT["partial"],
            "cancelled": EXIT["cancelled"]}.get(outcome.status, EXIT["failed"])


def _print_outcome(outcome: SendOutcome) -> None:
    shown = for_terminal  # statuses and reasons come from the peer
    for result in outcome.results:
        status = f" {result.status}" if result.status and result.status.code else ""
        why = f": {shown(result.reason)}" if result.reason else ""
        note = f" ({shown(result.note)})" if result.note else ""
        print(f"{result.state.value}{status}  {shown(result.sop_instance_uid)}{why}{note}")
    stored = outcome.count(InstanceState.STORED) + outcome.already_sent
    print(f"{outcome.status}: {stored} of {outcome.total} stored, "
          f"{outcome.count(InstanceState.WARNING)} warning, "
          f"{outcome.count(InstanceState.FAILED)} failed, {outcome.bytes_sent} bytes "
          f"in {outcome.seconds:.1f} s to {shown(outcome.node_name)}", file=sys.stderr)
    if outcome.failure is not None:
        print(f"  error: {shown(outcome.failure.message)}", file=sys.stderr)
