"""``qrscope listen``, ``qrscope demo-pacs`` and ``qrscope demo``: things that serve."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from dataclasses import replace
from pathlib import Path

from qrscope.cli.options import (
    EXIT,
    CliError,
    build_log,
    load_profiles,
    local_from_args,
)
from qrscope.core.diagnosis.hints import hint_for_listener_error
from qrscope.core.listener import ListenerError, StorageListener
from qrscope.core.reception import ReceivedInstance
from qrscope.core.validation import InvalidValue, check_ae_title, check_host, check_port

__all__ = ["parse_destination", "run_demo_pacs", "run_listen"]


def _wait_for_interrupt() -> None:
    """Block until Ctrl-C (or SIGTERM turned into KeyboardInterrupt by the caller)."""
    stop = threading.Event()
    try:
        while not stop.wait(3600):
            pass
    except KeyboardInterrupt:
        return


def run_listen(args: argparse.Namespace) -> int:
    profiles = load_profiles(args)
    local = local_from_args(args, profiles)
    try:
        if args.port:
            local = replace(local, listener_port=check_port(args.port, "--port"))
        if args.bind:
            local = replace(local, bind_address=check_host(args.bind, "--bind"))
        if args.out:
            local = replace(local, storage_folder=Path(args.out).expanduser())
    except InvalidValue as exc:
        raise CliError(str(exc), EXIT["usage"]) from None
    log = build_log(args, local)
    listener = StorageListener(local, log, debug=args.verbose >= 2)

    def show(instance: ReceivedInstance) -> None:
        if args.json:
            print(json.dumps({
                "sop_instance_uid": instance.sop_instance_uid,
                "calling_ae": instance.calling_ae, "peer": instance.peer_address,
                "status": f"0x{instance.status:04X}", "error": instance.error or None,
                "path": str(instance.stored.path) if instance.stored else None,
                "duplicate": bool(instance.stored and instance.stored.duplicate),
            }), flush=True)
        elif instance.stored is not None:
            note = " (already stored)" if instance.stored.duplicate else ""
            print(f"{instance.calling_ae}@{instance.peer_address} -> "
                  f"{instance.stored.path}{note}", flush=True)
        else:
            print(f"{instance.calling_ae}@{instance.peer_address}: "
                  f"{instance.sop_instance_uid} NOT stored: {instance.error}", flush=True)

    listener.subscribe(show)
    try:
        listener.start()
    except ListenerError as exc:
        hint = hint_for_listener_error(exc, local)
        raise CliError(f"{exc.message}\n{hint.as_text()}", EXIT["listener"]) from None
    print(f"listening as {local.ae_title} on {local.bind_address}:{listener.port}, "
          f"storing in {listener.store.root} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        _wait_for_interrupt()
    finally:
        listener.stop()
        print(f"stopped; {listener.received} instance(s) received", file=sys.stderr)
    return EXIT["success"]


def parse_destination(text: str) -> tuple[str, str, int]:
    """``AET=HOST:PORT`` as given to ``--dest``."""
    try:
        aet, _, where = text.partition("=")
        host, _, port = where.rpartition(":")
        return (check_ae_title(aet, "--dest"), check_host(host, "--dest"),
                check_port(port, "--dest"))
    except InvalidValue as exc:
        raise CliError(f"{exc} (expected AET=HOST:PORT, e.g. QRSCOPE=127.0.0.1:11112)",
                       EXIT["usage"]) from None


def run_demo_pacs(args: argparse.Namespace) -> int:
    from qrscope.core.demo_pacs import FAULTS, DemoPacs, configure

    try:
        ae_title = check_ae_title(args.aet_pacs, "--pacs-aet")
        port = check_port(args.port, "--port") if args.port else 11113
        bind = check_host(args.bind, "--bind")
    except InvalidValue as exc:
        raise CliError(str(exc), EXIT["usage"]) from None
    profiles = load_profiles(args)
    local = profiles.local
    destinations = {local.ae_title: ("127.0.0.1", local.listener_port)}
    for text in args.dest or []:
        aet, host, dest_port = parse_destination(text)
        destinations[aet] = (host, dest_port)
    data = Path(args.data).expanduser() if args.data else None
    behaviour, destinations = configure(args.fault, destinations)
    pacs = DemoPacs(data_folder=data, ae_title=ae_title, host=bind, port=port,
                    destinations=destinations, behaviour=behaviour)
    try:
        pacs.start()
    except OSError as exc:
        raise CliError(f"the demo PACS cannot listen on {bind}:{port}: {exc.strerror}",
                       EXIT["listener"]) from None
    known = ", ".join(f"{a}={h}:{p}" for a, (h, p) in destinations.items())
    fault = f"; fault: {args.fault} ({FAULTS[args.fault]})" if args.fault else ""
    print(f"demo PACS {ae_title} on {bind}:{pacs.port} with {len(pacs.instances)} instances; "
          f"move destinations: {known or 'none'}{fault} (Ctrl-C to stop)", file=sys.stderr,
          flush=True)
    try:
        _wait_for_interrupt()
    finally:
        pacs.stop()
    return EXIT["success"]
