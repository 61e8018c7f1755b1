"""``qrscope jobs``: the jobs on record; ``resume`` finishes them, ``retry`` a send's rest.

The jobs file is the one the window writes (beside the profiles), so a job
the window or a ``qrscope retrieve`` left unfinished (quit, crash, kill) can
be run to the end from a terminal, asking only for what is not on disk yet.
``qrscope jobs retry JOB_ID`` sends again what send job JOB_ID did not
deliver (failed, or never sent), as a new job linked to it; of a batch, it
runs the batch again for its items not done (failed, partial, not reached),
as the window's Retry failed does.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from qrscope.cli.options import (
    EXIT,
    CliError,
    build_log,
    jobs_file,
    load_profiles,
    local_from_args,
    print_json,
)
from qrscope.cli.retrieve_command import exit_code
from qrscope.cli.terminal import for_terminal
from qrscope.core.jobs import JobRecord, JobService, JobStore
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.receive.listener import ListenerError, StorageListener
from qrscope.core.receive.storage import InstanceStore

__all__ = ["run_jobs"]


def _open(args: argparse.Namespace) -> JobStore:
    store = JobStore(jobs_file(args))
    for warning in store.warnings:
        print(f"qrscope: warning: {for_terminal(warning)}", file=sys.stderr)
    return store


def run_jobs(args: argparse.Namespace) -> int:
    if args.action == "resume":
        return _resume(args)
    if args.action == "retry":
        return _retry(args)
    store = _open(args)
    try:
        records = store.records()
    finally:
        store.close()
    _show(records, args.json, "no retrieve jobs on record")
    return EXIT["success"]


def _show(records: list[JobRecord], as_json: bool, none: str) -> None:
    """The records as JSON, or a line each (*none* when there are none)."""
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    for record in records:
        print(_line(record))
    if not records:
        print(none)


def _line(record: JobRecord) -> str:
    when = datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M")
    how = record.kind.value if record.send is not None else record.method.value
    return for_terminal(f"{record.job_id:>6}  {record.state.value:<9}  {when}  "
                        f"{record.node_name}  {how}  {record.priority.word:<6}  {record.label}"
                        + (f"  ({record.summary})" if record.summary else ""))


class _Listeners:
    """The listener resumed C-MOVEs need, started for the first one that needs it.

    One listener stores in one folder: a job recorded with another storage
    folder is not started (its record says why) rather than filed elsewhere.
    """

    def __init__(self, local: LocalAE, log: object, nodes: list[RemoteNode]) -> None:
        self.local = local
        self.log = log
        self.nodes = nodes
        self.listener: StorageListener | None = None

    def __call__(self, folder: str) -> StorageListener | str:
        if self.listener is None:
            local = replace(self.local, storage_folder=Path(folder))
            listener = StorageListener(local, self.log, InstanceStore(local.storage_folder),
                                       known_nodes=lambda: self.nodes)  # type: ignore[arg-type]
            try:
                listener.start()
            except ListenerError as exc:
                return f"our listener could not start ({exc.message})"
            self.listener = listener
        if Path(folder) != self.listener.store.root:
            return (f"it stores in {folder}, and the listener of this run stores in "
                    f"{self.listener.store.root}")
        return self.listener

    def stop(self) -> None:
        if self.listener is not None:
            self.listener.stop()


def _resume(args: argparse.Namespace) -> int:
    profiles = load_profiles(args)
    local = local_from_args(args, profiles)
    log = build_log(args, local)
    listeners = _Listeners(local, log, list(profiles.nodes))
    service = JobService(_open(args), log, local=lambda: local, listener=listeners,
                         nodes=lambda: list(profiles.nodes), debug=lambda: args.verbose >= 2)
    try:
        resumed = service.resume()
        service.wait()
    except KeyboardInterrupt:
        print("qrscope: interrupted; the jobs resume next time", file=sys.stderr)
        return EXIT["cancelled"]
    finally:
        service.shutdown()
        service.store.close()
        listeners.stop()
    ended = [service.get(r.job_id) or r for r in resumed]
    _show(ended, args.json, "no unfinished retrieve jobs")
    return _exit(ended)


def _retry(args: argparse.Namespace) -> int:
    """Send again what send job ``args.job_id`` did not deliver; exit as ``archive send``."""
    from qrscope.cli.batch_command import retry_batch
    from qrscope.cli.send_command import finish_send, send_service

    job_id = (args.job_id or "").strip()
    if not job_id:
        raise CliError("name the send job to retry: qrscope jobs retry JOB_ID", EXIT["usage"])
    batch = _batch_record(args, job_id)
    if batch is not None:
        return retry_batch(args, batch)
    profiles = load_profiles(args)
    local = local_from_args(args, profiles)
    store = _open(args)
    service = send_service(args, store, local, profiles.nodes)
    try:
        first = next((r for r in store.records() if r.job_id == job_id), None)
        why = _not_retriable(first, job_id)
        retry = None if why else service.retry_failed(job_id)
    except BaseException:
        store.close()
        raise
    if retry is None:
        store.close()
        if why:
            raise CliError(why, EXIT["usage"])
        said = f"nothing to retry: {job_id} delivered every instance"
        if args.json:
            print_json({"job_id": None, "retry_of": job_id, "status": "nothing-to-retry",
                        "message": said})
        else:
            print(said)
        return EXIT["success"]
    return finish_send(args, service, retry.job_id, local)


def _batch_record(args: argparse.Namespace, job_id: str) -> JobRecord | None:
    """Job *job_id* when it is a finished batch (its retry runs it again), else ``None``."""
    store = _open(args)
    try:
        record = next((r for r in store.records() if r.job_id == job_id), None)
    finally:
        store.close()
    if record is None or record.batch is None:
        return None
    if not record.state.is_final:
        raise CliError(f"{job_id} is still {record.state.value}", EXIT["usage"])
    return record


def _not_retriable(record: JobRecord | None, job_id: str) -> str:
    """Why *record* cannot be retried, or ``""``."""
    if record is None:
        return f"no job {job_id} on record (see qrscope jobs)"
    if record.send is None:
        return (f"{job_id} is a retrieve; retry takes a send or a batch job (a retrieve "
                "is finished by qrscope jobs resume, or asked for again)")
    if not record.state.is_final:
        return f"{job_id} is still {record.state.value}"
    return ""


def _exit(records: list[JobRecord]) -> int:
    """One code for several jobs: theirs when they agree, else "partial"."""
    codes = {exit_code(r.outcome) if r.outcome is not None else
             (EXIT["success"] if r.state.value == "success" else EXIT["failed"])
             for r in records}
    if not codes or codes == {EXIT["success"]}:
        return EXIT["success"]
    if EXIT["cancelled"] in codes:
        return EXIT["cancelled"]
    return codes.pop() if len(codes) == 1 else EXIT["partial"]
