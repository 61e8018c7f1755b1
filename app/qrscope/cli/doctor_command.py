"""``qrscope doctor``: the guided end-to-end check of one node."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from qrscope.cli.options import (
    EXIT,
    CliError,
    build_log,
    load_profiles,
    local_from_args,
    node_from_args,
    print_json,
)
from qrscope.core.diagnosis.doctor import DoctorStep, run_doctor
from qrscope.core.diagnosis.hints import hint_for_listener_error
from qrscope.core.diagnosis.support_bundle import write_support_bundle
from qrscope.core.listener import ListenerError, StorageListener
from qrscope.core.validation import InvalidValue, check_port

__all__ = ["run_doctor_command"]

_MARK = {"pass": "ok  ", "fail": "FAIL", "skipped": "skip"}


def run_doctor_command(args: argparse.Namespace) -> int:
    profiles = load_profiles(args)
    local = local_from_args(args, profiles)
    if args.listen_port:
        try:
            local = replace(local, listener_port=check_port(args.listen_port, "--listen-port"))
        except InvalidValue as exc:
            raise CliError(str(exc), EXIT["usage"]) from None
    node = node_from_args(args, profiles)
    log = build_log(args, local)
    listener = StorageListener(local, log)
    try:
        listener.start()
    except ListenerError as exc:
        hint = hint_for_listener_error(exc, local)
        raise CliError(f"{exc.message}\n{hint.as_text()}", EXIT["listener"]) from None

    def show(step: DoctorStep) -> None:
        if not args.json:
            print(f"[{_MARK[step.status]}] {step.name:<38} {step.summary} "
                  f"({step.seconds:.2f} s)", flush=True)

    try:
        report = run_doctor(node, local, log, listener, on_step=show)
    finally:
        listener.stop()
    if args.bundle:
        write_support_bundle(Path(args.bundle), log, local, node, doctor=report,
                             hints=[report.verdict] if report.verdict else [])
    if args.json:
        print_json(report.to_dict())
    elif report.verdict is not None:
        print("\n" + report.verdict.as_text())
    else:
        print(f"\n{node.name}: everything a C-MOVE needs works.")
    sys.stdout.flush()
    return EXIT["success"] if report.ok else EXIT["failed"]
