"""``qrscope jobs``: the retrieve jobs on record; ``qrscope jobs resume`` finishes them.

The jobs file is the one the window writes (beside the profiles), so a job
the window or a ``qrscope retrieve`` left unfinished (quit, crash, kill) can
be run to the end from a terminal, asking only for what is not on disk yet.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from qrscope.cli.options import EXIT, build_log, load_profiles, local_from_args, print_json
from qrscope.cli.retrieve_command import exit_code, jobs_file
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
    return for_terminal(f"{record.job_id:>6}  {record.state.value:<9}  {when}  "
                        f"{record.node_name}  {record.method.value}  {record.label}"
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
