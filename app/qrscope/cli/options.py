"""Shared command-line pieces: choosing the node and our AE, logging, output, exit codes."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from qrscope.core.association_log import AssociationEvent, AssociationLog, EventLevel
from qrscope.core.profile_store import Profiles, ProfileStore
from qrscope.core.profiles import LocalAE, QueryModel, RemoteNode, RetrieveMethod
from qrscope.core.validation import InvalidValue, check_ae_title, check_port

__all__ = ["EXIT", "CliError", "add_find_options", "add_local_options", "add_node_options",
           "build_log",
           "load_profiles", "local_from_args", "node_from_args", "print_json"]

EXIT = {
    "success": 0,
    "partial": 1,       # some of the retrieve arrived; see "failed" and "hints"
    "usage": 2,         # invalid arguments or values (argparse uses 2 as well)
    "connection": 3,    # the node could not be reached or refused the association
    "failed": 4,        # the operation ran but failed (DIMSE failure, nothing received)
    "listener": 5,      # our storage listener could not start
    "cancelled": 130,   # interrupted with Ctrl-C (128 + SIGINT)
}


class CliError(Exception):
    """An error to print in one line with its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def add_node_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("remote node (a saved profile, or ad hoc)")
    group.add_argument("--node", metavar="NAME", help="a node saved in the profiles file")
    group.add_argument("--host", help="host name or IP address of the node")
    group.add_argument("--port", type=int, help="DICOM port of the node (default 104)")
    group.add_argument("--called-aet", metavar="AET", help="AE title of the node")
    group.add_argument("--model", choices=["study", "patient"],
                       help="query/retrieve information model (default: study root)")
    group.add_argument("--timeout", type=float, metavar="SECONDS",
                       help="connection and response timeout")
    group.add_argument("--idle-timeout", type=float, metavar="SECONDS",
                       help="end a retrieve after this long without any progress "
                       "(default 300)")


def add_find_options(parser: argparse.ArgumentParser) -> None:
    """``-k KEY[=VALUE]``, as DCMTK findscu and pynetdicom's findscu take it."""
    group = parser.add_argument_group(
        "keys by tag (as in DCMTK and pynetdicom findscu)",
        # The find parser keeps its descriptions as written (exit code table).
        "-k adds any matching or return key to the identifier. KEY is a keyword\n"
        "(PatientName) or a tag (0010,0010 or (0010,0010)). With =VALUE it is a\n"
        "matching key (wildcards, ranges and UID lists as PS3.4 C.2.2.2 allows),\n"
        "without it a return key. A -k value overrides the option for the same\n"
        "attribute; -k QueryRetrieveLevel=SERIES sets --level. Searches are\n"
        "hierarchical (PS3.4 C.4.1.2.2): a matching key of a level above --level\n"
        "is applied by a search at that level first, and return keys must belong\n"
        "to --level. --json lists every attribute each response returned.")
    group.add_argument("-k", "--key", dest="keys", action="append", default=[],
                       metavar="KEY[=VALUE]", help="e.g. -k PatientName=DOE* -k 0008,0061 "
                       "-k StationName (repeatable)")


def add_local_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("our application entity")
    group.add_argument("--aet", metavar="AET", help="our AE title (default from profile, "
                       "QRSCOPE)")


def load_profiles(args: argparse.Namespace) -> Profiles:
    store = ProfileStore(Path(args.config)) if args.config else ProfileStore()
    profiles = store.load()
    for problem in profiles.problems:
        print(f"qrscope: warning: {store.path}: {problem}", file=sys.stderr)
    return profiles


def local_from_args(args: argparse.Namespace, profiles: Profiles) -> LocalAE:
    local = profiles.local
    try:
        if getattr(args, "aet", None):
            local = replace(local, ae_title=check_ae_title(args.aet, "--aet"))
        if getattr(args, "mask", False):
            local = replace(local, mask_patient_identifiers=True)
        return local.validated()
    except InvalidValue as exc:
        raise CliError(str(exc), EXIT["usage"]) from None


def node_from_args(args: argparse.Namespace, profiles: Profiles) -> RemoteNode:
    """The node named by ``--node``, with ad hoc options overriding its fields."""
    try:
        if args.node:
            try:
                node = profiles.node(args.node)
            except KeyError as exc:
                raise CliError(str(exc.args[0]), EXIT["usage"]) from None
        elif args.host and args.called_aet:
            node = RemoteNode(name=f"{args.called_aet}@{args.host}", ae_title=args.called_aet,
                              host=args.host, port=args.port or 104)
        else:
            raise CliError("name a node with --node NAME, or give --host and --called-aet "
                           "(and --port)", EXIT["usage"])
        changes: dict[str, Any] = {}
        if args.host and args.node:
            changes["host"] = args.host
        if args.port:
            changes["port"] = check_port(args.port, "--port")
        if args.called_aet and args.node:
            changes["ae_title"] = args.called_aet
        if args.model:
            changes["query_model"] = (QueryModel.PATIENT_ROOT if args.model == "patient"
                                      else QueryModel.STUDY_ROOT)
        timeouts = node.timeouts
        if args.timeout:
            timeouts = replace(timeouts, connect=args.timeout, response=args.timeout)
        if args.idle_timeout:
            timeouts = replace(timeouts, retrieve_idle=args.idle_timeout)
        changes["timeouts"] = timeouts
        if getattr(args, "method", None):
            changes["retrieve_method"] = RetrieveMethod(args.method)
        return replace(node, **changes).validated()
    except InvalidValue as exc:
        raise CliError(str(exc), EXIT["usage"]) from None


def build_log(args: argparse.Namespace, local: LocalAE) -> AssociationLog:
    """The association log, printing to stderr with ``-v`` (lines) or ``--log-json``."""
    log = AssociationLog(mask_patient_identifiers=local.mask_patient_identifiers)
    verbosity = getattr(args, "verbose", 0) or 0
    wanted = EventLevel.DEBUG if verbosity >= 2 else EventLevel.INFO

    def show(event: AssociationEvent) -> None:
        if event.level is EventLevel.DEBUG and wanted is EventLevel.INFO:
            return
        if args.log_json:
            sys.stderr.write(json.dumps(event.to_dict(), default=str) + "\n")
        else:
            sys.stderr.write(event.format_line() + "\n")
        sys.stderr.flush()

    if verbosity or args.log_json:
        log.subscribe(show)
    logging.basicConfig(level=logging.WARNING if verbosity < 3 else logging.DEBUG,
                        format="%(levelname)s %(name)s: %(message)s")
    # pynetdicom logs every refused connection at ERROR; our own messages say it
    # better, so its records stay off stderr unless -vvv asks for them. (They
    # must still be emitted: the core reads the socket error from them.)
    pynetdicom_logger = logging.getLogger("pynetdicom")
    pynetdicom_logger.propagate = verbosity >= 3
    if verbosity >= 3:
        pynetdicom_logger.setLevel(logging.DEBUG)
    return log


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str, ensure_ascii=False))
