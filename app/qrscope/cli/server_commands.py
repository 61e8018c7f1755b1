"""``qrscope listen``, ``qrscope demo-pacs`` and ``qrscope demo``: things that serve."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from dataclasses import replace

from qrscope.cli.options import (
    EXIT,
    CliError,
    build_log,
    load_profiles,
    local_from_args,
    storage_folder_from_args,
)
from qrscope.cli.terminal import for_terminal, hint_for_terminal
from qrscope.core.receive.listener import ListenerError, RefusedCaller, StorageListener
from qrscope.core.receive.reception import ReceivedInstance
from qrscope.core.security import AcceptPolicy
from qrscope.core.validation import (
    InvalidValue,
    check_ae_title,
    check_folder,
    check_host,
    check_port,
)
from qrscope.diagnosis.hints import hint_for_listener_error

__all__ = ["describe_received", "parse_destination", "run_demo_pacs", "run_listen"]


def _wait_for_interrupt() -> None:
    """Block until Ctrl-C or SIGTERM (a service manager's stop, a closed terminal).

    SIGTERM is turned into KeyboardInterrupt here, so that both end through
    the caller's ``finally`` (stopping what it runs) instead of killing the
    process where it stands.
    """
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while not stop.wait(3600):
            pass
    except KeyboardInterrupt:
        return
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def describe_received(instance: ReceivedInstance, *, as_json: bool) -> str:
    """The line ``listen`` prints for one incoming C-STORE.

    Everything in it but the status came from the sender, so the text form
    escapes it (a UID with a newline must not print a second, forged line);
    ``json.dumps`` escapes control characters itself.
    """
    if as_json:
        return json.dumps({
            "sop_instance_uid": instance.sop_instance_uid,
            "calling_ae": instance.calling_ae, "peer": instance.peer_address,
            "status": f"0x{instance.status:04X}", "error": instance.error or None,
            "path": str(instance.stored.path) if instance.stored else None,
            "duplicate": bool(instance.stored and instance.stored.duplicate),
        })
    sender = f"{for_terminal(instance.calling_ae)}@{for_terminal(instance.peer_address)}"
    if instance.stored is not None:
        note = " (already stored)" if instance.stored.duplicate else ""
        return f"{sender} -> {for_terminal(instance.stored.path)}{note}"
    return (f"{sender}: {for_terminal(instance.sop_instance_uid)} NOT stored: "
            f"{for_terminal(instance.error)}")


_ACCEPTING = {AcceptPolicy.KNOWN: "from known nodes only", AcceptPolicy.ANY: "from any caller"}


def run_listen(args: argparse.Namespace) -> int:
    profiles = load_profiles(args)
    local = local_from_args(args, profiles)
    if args.port is not None:
        local = replace(local, listener_port=args.port)
    if args.bind is not None:
        local = replace(local, bind_address=args.bind)
    local = storage_folder_from_args(args, local)
    log = build_log(args, local)
    listener = StorageListener(local, log, debug=args.verbose >= 2,
                               known_nodes=lambda: profiles.nodes)

    def show(instance: ReceivedInstance) -> None:
        print(describe_received(instance, as_json=args.json), flush=True)

    def refused(caller: RefusedCaller) -> None:
        print(f"refused {for_terminal(caller.calling_ae)} at {for_terminal(caller.address)}: "
              f"{for_terminal(caller.reason)} (add it as a node, or --accept any)",
              file=sys.stderr, flush=True)

    listener.subscribe(show)
    listener.subscribe_refused(refused)
    try:
        listener.start()
    except ListenerError as exc:
        hint = hint_for_listener_error(exc, local)
        raise CliError(f"{for_terminal(exc.message)}\n{hint_for_terminal(hint)}",
                       EXIT["listener"]) from None
    print(f"listening as {local.ae_title} on {local.bind_address}:{listener.port}, "
          f"storing in {listener.store.root}, accepting {_ACCEPTING[local.accept]} "
          "(Ctrl-C to stop)", file=sys.stderr, flush=True)
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
    from qrscope.core.engine.choice import current
    from qrscope.demo_pacs import DemoPacs, configure, describe

    try:
        ae_title = check_ae_title(args.aet_pacs, "--pacs-aet")
        port = 11113 if args.port is None else args.port
        bind = check_host(args.bind, "--bind")
        data = check_folder(args.data, "--data") if args.data is not None else None
    except InvalidValue as exc:
        raise CliError(str(exc), EXIT["usage"]) from None
    profiles = load_profiles(args)
    local = profiles.local
    destinations = {local.ae_title: ("127.0.0.1", local.listener_port)}
    for text in args.dest or []:
        aet, host, dest_port = parse_destination(text)
        destinations[aet] = (host, dest_port)
    behaviour, destinations = configure(args.fault, destinations)
    pacs = DemoPacs(data_folder=data, ae_title=ae_title, host=bind, port=port,
                    destinations=destinations, behaviour=behaviour)
    try:
        pacs.start()
    except OSError as exc:
        raise CliError(f"the demo PACS cannot listen on {bind}:{port}: {exc.strerror}",
                       EXIT["listener"]) from None
    if data is not None and not pacs.instances:
        pacs.stop()
        raise CliError(f"--data: no DICOM files with the UIDs an instance needs in {data}",
                       EXIT["usage"])
    known = ", ".join(f"{a}={h}:{p}" for a, (h, p) in destinations.items())
    fault = f"; fault: {args.fault} ({describe(args.fault)})" if args.fault else ""
    print(f"demo PACS {ae_title} on {bind}:{pacs.port} with {len(pacs.instances)} instances; "
          f"move destinations: {known or 'none'}{fault}; engine: {current().describe()} "
          "(Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        _wait_for_interrupt()
    finally:
        pacs.stop()
    return EXIT["success"]
