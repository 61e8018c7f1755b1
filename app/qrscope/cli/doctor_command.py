"""``qrscope doctor``: the guided end-to-end check of one node."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

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
from qrscope.core.receive.listener import ListenerError, StorageListener
from qrscope.core.validation import InvalidValue, check_writable_file
from qrscope.diagnosis.doctor import DoctorStep, run_doctor
from qrscope.diagnosis.hints import hint_for_listener_error
from qrscope.diagnosis.support_bundle import write_support_bundle

__all__ = ["run_doctor_command"]

_MARK = {"pass": "ok  ", "fail": "FAIL", "skipped": "skip"}


def run_doctor_command(args: argparse.Namespace) -> int:
    profiles = load_profiles(args)
    local = local_from_args(args, profiles)
    if args.listen_port is not None:
        local = replace(local, listener_port=args.listen_port)
    try:
        bundle = check_writable_file(args.bundle, "--bundle") if args.bundle else None
    except InvalidValue as exc:
        raise CliError(str(exc), EXIT["usage"]) from None
    node = node_from_args(args, profiles)
    log = build_log(args, local)
    listener = StorageListener(local, log)
    try:
        listener.start()
    except ListenerError as exc:
        hint = hint_for_listener_error(exc, local)
        raise CliError(f"{for_terminal(exc.message)}\n{hint_for_terminal(hint)}",
                       EXIT["listener"]) from None

    def show(step: DoctorStep) -> None:
        if not args.json:  # a step's summary quotes what the node answered
            print(f"[{_MARK[step.status]}] {step.name:<38} {for_terminal(step.summary)} "
                  f"({step.seconds:.2f} s)", flush=True)

    try:
        report = run_doctor(node, local, log, listener, on_step=show)
    finally:
        listener.stop()
    if bundle is not None:
        write_support_bundle(bundle, log, local, node, doctor=report,
                             hints=[report.verdict] if report.verdict else [])
    if args.json:
        print_json(report.to_dict())
    elif report.verdict is not None:
        print("\n" + hint_for_terminal(report.verdict))
    else:
        print(f"\n{node.name}: everything a C-MOVE needs works.")
    sys.stdout.flush()
    return EXIT["success"] if report.ok else EXIT["failed"]
