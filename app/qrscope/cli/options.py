"""Shared command-line pieces: choosing the node and our AE, logging, output, exit codes."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import re
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from qrscope.cli.terminal import json_for_terminal
from qrscope.core.net.association_log import AssociationEvent, AssociationLog, EventLevel
from qrscope.core.net.negotiation import negotiation_lines
from qrscope.core.net.secrets import remember_for_session
from qrscope.core.profile_store import Profiles, ProfileStore, default_config_path
from qrscope.core.profiles import MAX_TIMEOUT, LocalAE, QueryModel, RemoteNode, RetrieveMethod
from qrscope.core.security import AcceptPolicy, IdentityKind
from qrscope.core.validation import (
    InvalidValue,
    check_ae_title,
    check_host,
    check_port,
    check_seconds,
    check_writable_folder,
)

__all__ = ["EXIT", "CliError", "OneLineParser", "add_accept_option", "add_find_options",
           "add_local_options", "add_node_options", "ae_title_arg", "build_log",
           "count_arg", "host_arg", "jobs_file", "load_profiles",
           "local_from_args", "node_from_args",
           "path_arg", "port_arg", "print_json", "seconds_arg", "storage_folder_from_args"]

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


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose refusals are a :class:`CliError` of one line (exit code 2).

    argparse prints the whole usage block and exits; a script's log, or a
    user scanning for what went wrong, needs the one line that says it, and
    ``main`` returns the code instead of exiting.
    """

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{self.prog}: {message} (see {self.prog} --help)", EXIT["usage"])


def _argument_type(check: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """An argparse ``type`` that refuses with the check's own words."""
    def convert(text: str) -> Any:
        try:
            return check(text)
        except InvalidValue as exc:
            raise argparse.ArgumentTypeError(exc.message) from None
    convert.__name__ = name
    return convert


def _count(text: str) -> int:
    if not re.fullmatch(r"[0-9]+", text.strip()) or int(text) < 1:
        raise InvalidValue("count", f"'{text}' is not a whole number of at least 1")
    return int(text)


def _path(text: str) -> str:
    if not text.strip():
        raise InvalidValue("path", "must not be empty")
    return text


port_arg = _argument_type(check_port, "port")
ae_title_arg = _argument_type(check_ae_title, "AE title")
host_arg = _argument_type(check_host, "host")
seconds_arg = _argument_type(
    lambda text: check_seconds(text, maximum=MAX_TIMEOUT), "seconds")
count_arg = _argument_type(_count, "count")
path_arg = _argument_type(_path, "path")


def _existing_file(text: str) -> str:
    path = Path(_path(text)).expanduser()
    if not path.is_file():
        raise InvalidValue("file", f"'{text}' is not a file")
    return str(path)


existing_file_arg = _argument_type(_existing_file, "file")


def add_node_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("remote node (a saved profile, or ad hoc)")
    group.add_argument("--node", metavar="NAME", help="a node saved in the profiles file")
    group.add_argument("--host", type=host_arg, help="host name or IP address of the node")
    group.add_argument("--port", type=port_arg, help="DICOM port of the node (default 104)")
    group.add_argument("--called-aet", type=ae_title_arg, metavar="AET",
                       help="AE title of the node")
    group.add_argument("--model", choices=["study", "patient"],
                       help="query/retrieve information model (default: study root)")
    group.add_argument("--timeout", type=seconds_arg, metavar="SECONDS",
                       help="connection and response timeout (more than 0, at most a week)")
    group.add_argument("--idle-timeout", type=seconds_arg, metavar="SECONDS",
                       help="end a retrieve after this long without any progress "
                       "(default 300)")
    secure = parser.add_argument_group(
        "secure connection to the node (DICOM over TLS, user identity)")
    secure.add_argument("--tls", action="store_true", default=None,
                        help="DICOM over TLS (PS3.15 B.1); the node's certificate chain and "
                        "host name are checked")
    secure.add_argument("--tls-ca", dest="ca", type=existing_file_arg, metavar="FILE",
                        help="CA certificate(s) to trust, PEM (default: the system's)")
    secure.add_argument("--tls-cert", dest="cert", type=existing_file_arg, metavar="FILE",
                        help="our client certificate, PEM, when the node asks for one")
    secure.add_argument("--tls-key", dest="key_file", type=existing_file_arg, metavar="FILE",
                        help="the private key of --tls-cert, PEM")
    secure.add_argument("--no-verify", action="store_true", default=None,
                        help="do not check the node's certificate (a test bench only)")
    secure.add_argument("--user", metavar="NAME",
                        help="user identity sent when the association opens (PS3.7 D.3.3.7)")
    secure.add_argument("--passcode-prompt", action="store_true", default=None,
                        help="ask for the passcode of --user (not stored; a saved node's "
                        "passcode comes from the system keyring)")
    secure.add_argument("--confirm-identity", action="store_true", default=None,
                        help="ask the node to confirm that it accepted the identity")


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
    group.add_argument("--aet", type=ae_title_arg, metavar="AET",
                       help="our AE title (default from profile, QRSCOPE)")


def add_listener_tls_options(parser: argparse.ArgumentParser) -> None:
    """DICOM over TLS for our own listener (the PACS calls back over TLS)."""
    group = parser.add_argument_group("our listener over TLS")
    group.add_argument("--listen-tls", action="store_true", default=None,
                       help="the listener speaks TLS only (needs --listen-cert and --listen-key)")
    group.add_argument("--listen-cert", type=existing_file_arg, metavar="FILE",
                       help="the listener's certificate, PEM")
    group.add_argument("--listen-key", type=existing_file_arg, metavar="FILE",
                       help="the private key of --listen-cert, PEM")
    group.add_argument("--listen-ca", type=existing_file_arg, metavar="FILE",
                       help="callers must present a certificate signed by this CA, PEM")


def add_accept_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--accept", choices=[p.value for p in AcceptPolicy],
        help="which callers our listener stores from: known nodes (configured nodes, "
        "and the node a retrieve talks to) or any caller (default from the profiles "
        "file: known)")


def load_profiles(args: argparse.Namespace) -> Profiles:
    if args.config is not None and not Path(args.config).expanduser().is_file():
        raise CliError(f"--config: {args.config} does not exist (or is not a file)",
                       EXIT["usage"])
    store = ProfileStore(Path(args.config).expanduser()) if args.config else ProfileStore()
    profiles = store.load()
    for problem in profiles.problems:
        print(f"qrscope: warning: {store.path}: {problem}", file=sys.stderr)
    return profiles


def local_from_args(args: argparse.Namespace, profiles: Profiles) -> LocalAE:
    local = profiles.local
    try:
        if getattr(args, "aet", None) is not None:
            local = replace(local, ae_title=check_ae_title(args.aet, "--aet"))
        if getattr(args, "mask", False):
            local = replace(local, mask_patient_identifiers=True)
        if getattr(args, "accept", None) is not None:
            local = replace(local, accept=AcceptPolicy(args.accept))
        local = _listener_tls_from_args(args, local)
        return local.validated()
    except InvalidValue as exc:
        raise CliError(str(exc), EXIT["usage"]) from None


def _listener_tls_from_args(args: argparse.Namespace, local: LocalAE) -> LocalAE:
    tls = local.listener_tls
    given = {name: getattr(args, f"listen_{name}", None) for name in ("cert", "key", "ca")}
    if getattr(args, "listen_tls", None) or any(given.values()):
        tls = replace(tls, enabled=True)
    for name, field in (("cert", "cert_file"), ("key", "key_file"), ("ca", "ca_file")):
        if given[name] is not None:
            tls = replace(tls, **{field: str(given[name])})
    if tls.enabled and not (tls.cert_file and tls.key_file):
        raise CliError("a TLS listener needs --listen-cert and --listen-key", EXIT["usage"])
    return replace(local, listener_tls=tls) if tls != local.listener_tls else local


def storage_folder_from_args(args: argparse.Namespace, local: LocalAE) -> LocalAE:
    """*local* storing in ``--out`` (or its own folder), checked to take files now.

    A listener that starts on a folder it cannot write refuses every store
    it is sent; better to say so before anything starts.
    """
    out = getattr(args, "out", None)
    field = "--out" if out is not None else "storage folder (from the profiles file)"
    try:
        folder = check_writable_folder(out if out is not None else local.storage_folder,
                                       field)
    except InvalidValue as exc:
        raise CliError(str(exc), EXIT["usage"]) from None
    return replace(local, storage_folder=folder)


def node_from_args(args: argparse.Namespace, profiles: Profiles) -> RemoteNode:
    """The node named by ``--node``, with ad hoc options overriding its fields."""
    try:
        if args.node:
            try:
                node = profiles.node(args.node)
            except KeyError as exc:
                raise CliError(str(exc.args[0]), EXIT["usage"]) from None
        elif args.host is not None and args.called_aet is not None:
            node = RemoteNode(name=f"{args.called_aet}@{args.host}", ae_title=args.called_aet,
                              host=args.host, port=104 if args.port is None else args.port)
        else:
            raise CliError("name a node with --node NAME, or give --host and --called-aet "
                           "(and --port)", EXIT["usage"])
        changes: dict[str, Any] = {}
        if args.host is not None and args.node:
            changes["host"] = args.host
        if args.port is not None:
            changes["port"] = check_port(args.port, "--port")
        if args.called_aet is not None and args.node:
            changes["ae_title"] = args.called_aet
        if args.model:
            changes["query_model"] = (QueryModel.PATIENT_ROOT if args.model == "patient"
                                      else QueryModel.STUDY_ROOT)
        timeouts = node.timeouts
        if args.timeout is not None:
            timeouts = replace(timeouts, connect=args.timeout, response=args.timeout)
        if args.idle_timeout is not None:
            timeouts = replace(timeouts, retrieve_idle=args.idle_timeout)
        changes["timeouts"] = timeouts
        if getattr(args, "method", None):
            changes["retrieve_method"] = RetrieveMethod(args.method)
        changes |= _security_from_args(args, node)
        return replace(node, **changes).validated()
    except InvalidValue as exc:
        raise CliError(str(exc), EXIT["usage"]) from None


def _security_from_args(args: argparse.Namespace, node: RemoteNode) -> dict[str, Any]:
    """TLS and user identity options over the node's own settings."""
    changes: dict[str, Any] = {}
    tls = node.tls
    if getattr(args, "tls", None) or getattr(args, "ca", None) or getattr(args, "cert", None):
        tls = replace(tls, enabled=True)
    for option, name in (("ca", "ca_file"), ("cert", "cert_file"), ("key_file", "key_file")):
        value = getattr(args, option, None)
        if value is not None:
            tls = replace(tls, **{name: str(value)})
    if getattr(args, "no_verify", None):
        tls = replace(tls, verify=False)
    if (tls.cert_file and not tls.key_file) or (tls.key_file and not tls.cert_file):
        raise CliError("--tls-cert and --tls-key go together", EXIT["usage"])
    if tls != node.tls:
        changes["tls"] = tls
    identity = node.identity
    user = getattr(args, "user", None)
    if user is not None:
        if not user.strip():
            raise CliError("--user: must not be empty", EXIT["usage"])
        identity = replace(identity, kind=IdentityKind.USERNAME, username=user.strip())
    if getattr(args, "passcode_prompt", None):
        if not identity.username:
            raise CliError("--passcode-prompt needs --user (or a node with a user name)",
                           EXIT["usage"])
        identity = replace(identity, kind=IdentityKind.USERNAME_PASSCODE)
        passcode = getpass.getpass(f"passcode for {identity.username} on {node.name}: ")
        if not passcode:
            raise CliError("no passcode given", EXIT["usage"])
        remember_for_session(node.name, passcode)
    if getattr(args, "confirm_identity", None):
        identity = replace(identity, ask_for_response=True)
    if identity != node.identity:
        changes["identity"] = identity
    return changes


def build_log(args: argparse.Namespace, local: LocalAE) -> AssociationLog:
    """The association log, printing to stderr with ``-v`` (lines) or ``--log-json``.

    ``-vv`` adds PDUs and, under each A-ASSOCIATE event, the negotiation one
    line per presentation context (what an integrator compares with the
    peer's log when a C-GET or a send fails on contexts).
    """
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
            if wanted is EventLevel.DEBUG:  # -vv: the negotiation, one line per context
                sys.stderr.writelines(f"    {line}\n" for line in negotiation_lines(event))
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
    print(json_for_terminal(json.dumps(data, indent=2, default=str, ensure_ascii=False)))


def jobs_file(args: argparse.Namespace) -> Path:
    """The jobs file of the profiles in use: beside them, as the window's."""
    from qrscope.core.jobs.store import jobs_path_beside  # the job service: its commands only

    return jobs_path_beside(Path(args.config).expanduser() if args.config
                            else default_config_path())
