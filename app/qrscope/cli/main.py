"""``qrscope``: the command line over qrscope.core.

Exit codes (also in ``qrscope --help``): 0 success, 1 partial retrieve,
2 invalid arguments, 3 node unreachable or association refused, 4 operation
failed, 5 listener could not start, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
from collections.abc import Sequence
from typing import Any

from qrscope import __version__
from qrscope.cli.options import (
    EXIT,
    CliError,
    OneLineParser,
    add_accept_option,
    add_find_options,
    add_listener_tls_options,
    add_local_options,
    add_node_options,
    ae_title_arg,
    count_arg,
    host_arg,
    path_arg,
    port_arg,
    seconds_arg,
)
from qrscope.cli.terminal import for_terminal

__all__ = ["build_parser", "main", "version_text"]

_EPILOG = """exit codes:
  0    success
  1    partial: some instances arrived, some did not (see "failed" and "hints")
  2    invalid arguments or values
  3    the node could not be reached, or it refused the association
  4    the operation ran and failed (failure status, nothing received)
  5    our storage listener could not start (port in use, privileged port)
  130  interrupted (Ctrl-C); a running retrieve is cancelled first
"""


def version_text() -> str:
    """Our version and those of the libraries that decide how DICOM and the window behave."""
    found = []
    for name in ("pydicom", "pynetdicom", "PySide6"):
        try:
            found.append(f"{name} {importlib.import_module(name).__version__}")
        except ImportError:
            found.append(f"{name} missing")
    from qrscope.core.engine.choice import current
    from qrscope.core.imaging import pixel_support

    return (f"qrscope {__version__} ({', '.join(found)}, Python {platform.python_version()})\n"
            f"engine: {current().describe()}\n{pixel_support()}")


class _VersionAction(argparse.Action):
    """``--version``; the libraries are imported only when it is asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(version_text())
        parser.exit()


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="print the association log to stderr (-vv: with PDUs)")
    parser.add_argument("--log-json", action="store_true",
                        help="print the association log to stderr as JSON lines")
    parser.add_argument("--mask", action="store_true",
                        help="mask patient identifiers in the association log")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--config", metavar="FILE", type=path_arg,
                        help="profiles file (default: the user's config folder)")


def _command(sub: Any, name: str, help_text: str, *, node: bool = False,
             local: bool = False) -> argparse.ArgumentParser:
    """A subcommand with the exit codes in its help and the options every command has."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help_text, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    if node:
        add_node_options(parser)
    if local:
        add_local_options(parser)
    _common(parser)
    return parser


def _fault_arg(text: str) -> str:
    """A demo PACS fault as typed, checked now (exit 2): a name, or ``NAME:PARAM`` for the
    faults that take a parameter (``busy:2``); :func:`configure` says which do."""
    from qrscope.demo_pacs.faults import configure

    try:
        configure(text, {})
    except KeyError as exc:
        raise argparse.ArgumentTypeError(str(exc.args[0])) from None
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="qrscope", description="DICOM query/retrieve client that explains failures.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_VersionAction,
                        help="print the versions of qrscope, pydicom, pynetdicom, PySide6 "
                        "and Python, and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    _command(sub, "echo", "verify a node with C-ECHO", node=True, local=True)

    find = _command(sub, "find", "search a node with C-FIND", node=True, local=True)
    add_find_options(find)
    keys = find.add_argument_group("matching keys (empty matches everything)")
    keys.add_argument("--level", default="study",
                      choices=["patient", "study", "series", "image"])
    keys.add_argument("--patient-name", help="wildcards * and ? allowed, e.g. 'SMITH*'")
    keys.add_argument("--patient-id")
    keys.add_argument("--birth-date", help="YYYYMMDD or range")
    keys.add_argument("--accession")
    keys.add_argument("--date", help="study date: YYYYMMDD, YYYYMMDD-YYYYMMDD, -B or A-")
    keys.add_argument("--modality", action="append", help="e.g. CT, or CT,MR (repeatable)")
    keys.add_argument("--description", help="study description (wildcards allowed)")
    keys.add_argument("--referring", help="referring physician")
    keys.add_argument("--study", help="Study Instance UID (series and image levels)")
    keys.add_argument("--series", help="Series Instance UID (image level)")
    keys.add_argument("--limit", type=count_arg,
                      help="stop after this many results (C-CANCEL)")

    retrieve = _command(sub, "retrieve", "retrieve with C-MOVE or C-GET", node=True, local=True)
    what = retrieve.add_argument_group("what to retrieve")
    what.add_argument("--study", metavar="UID", help="Study Instance UID (required)")
    what.add_argument("--series", metavar="UID", action="append",
                      help="Series Instance UID (repeatable)")
    what.add_argument("--instance", metavar="UID", action="append",
                      help="SOP Instance UID (repeatable; needs one --series)")
    what.add_argument("--patient-id", help="Patient ID (needed by Patient Root)")
    how = retrieve.add_argument_group("how")
    how.add_argument("--method", choices=["move", "get"],
                     help="C-MOVE (PACS connects back to us) or C-GET (same association)")
    how.add_argument("--dest-aet", metavar="AET", type=ae_title_arg,
                     help="move destination (default: our AE title, i.e. our listener)")
    how.add_argument("--listen-port", type=port_arg, metavar="PORT",
                     help="port of our listener for C-MOVE (default from profile, 11112)")
    how.add_argument("--out", metavar="DIR", type=path_arg,
                     help="storage folder for received files")
    add_accept_option(how)
    add_listener_tls_options(retrieve)
    how.add_argument("--diagram", metavar="FILE", type=path_arg,
                     help="write the sequence of both associations: .svg, or Mermaid text "
                     "(.mmd/.md)")

    jobs = _command(sub, "jobs", "list the jobs on record, resume the unfinished ones, or "
                    "retry what a send did not deliver", local=True)
    jobs.add_argument("action", nargs="?", choices=["resume", "retry"],
                      help="resume: run the jobs left queued or running (quit, crash) to the "
                      "end, fetching only what is not on disk yet; retry JOB_ID: send again "
                      "what send job JOB_ID did not deliver (failed or never sent)")
    jobs.add_argument("job_id", nargs="?", metavar="JOB_ID", help="the send job to retry")

    doctor = _command(sub, "doctor", "check a node end to end: why C-MOVE fails",
                      node=True, local=True)
    doctor.add_argument("--listen-port", type=port_arg, metavar="PORT",
                        help="port of our listener for the test C-MOVE (default 11112)")
    doctor.add_argument("--bundle", metavar="FILE.zip", type=path_arg,
                        help="also write a support bundle (log with patient identifiers "
                        "masked, settings, the doctor's result, versions)")

    listen = _command(sub, "listen", "run the storage listener in the foreground", local=True)
    listen.add_argument("--port", type=port_arg,
                        help="listener port (default from profile, 11112)")
    listen.add_argument("--bind", type=host_arg,
                        help="address to bind (default 0.0.0.0: all interfaces)")
    listen.add_argument("--out", metavar="DIR", type=path_arg,
                        help="storage folder for received files (checked before listening)")
    add_accept_option(listen)
    add_listener_tls_options(listen)

    demo = _command(sub, "demo-pacs", "run the embedded demo PACS")
    demo.add_argument("--port", type=port_arg, help="DICOM port (default 11113)")
    demo.add_argument("--bind", default="127.0.0.1", type=host_arg,
                      help="address (default 127.0.0.1)")
    demo.add_argument("--pacs-aet", dest="aet_pacs", default="DEMOPACS", type=ae_title_arg,
                      help="the demo PACS's AE title (default DEMOPACS)")
    demo.add_argument("--data", metavar="DIR", type=path_arg,
                      help="serve the DICOM files in DIR instead of the bundled samples")
    from qrscope.demo_pacs.faults import FAULTS

    demo.add_argument("--fault", type=_fault_arg, metavar="NAME[:PARAM]",
                      help="misbehave on purpose: " + "; ".join(
                          f"{name}: {text}" for name, text in FAULTS.items()))
    demo.add_argument("--dest", action="append", metavar="AET=HOST:PORT",
                      help="a move destination it knows (repeatable); our own AE at "
                      "127.0.0.1 and the listener port is always known")

    from qrscope.cli.archive_command import add_archive_parser

    add_archive_parser(sub, _command)

    from qrscope.cli.batch_parser import add_batch_parser

    add_batch_parser(sub, _command)

    gui = sub.add_parser("gui", help="open the qrscope window (what no arguments do)")
    gui.set_defaults(command="gui")
    gui.add_argument("--quit-after", type=seconds_arg, metavar="SECONDS",
                     help="close the window after SECONDS as a user would (profiles saved, "
                     "listener and demo PACS stopped); for smoke tests of an installed copy")
    tour = sub.add_parser("demo", help="echo, find and retrieve against the demo PACS, "
                          "all on this machine")
    _common(tour)
    tour.add_argument("--out", metavar="DIR", type=path_arg,
                      help="storage folder (default: a temporary one)")
    return parser


def _display_available() -> bool:
    """A window can open: X11 or Wayland here, any platform Qt picks itself elsewhere."""
    import os

    if sys.platform in ("win32", "darwin") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


# Each command's module and function, imported only for that command: the
# others' imports (retrieve, batch, doctor...) would add to every start-up.
_HANDLERS = {
    "echo": ("query_commands", "run_echo"),
    "find": ("query_commands", "run_find"),
    "retrieve": ("retrieve_command", "run_retrieve"),
    "jobs": ("jobs_command", "run_jobs"),
    "listen": ("server_commands", "run_listen"),
    "demo-pacs": ("server_commands", "run_demo_pacs"),
    "demo": ("tour", "run_tour"),
    "doctor": ("doctor_command", "run_doctor_command"),
    "archive": ("archive_command", "run_archive"),
    "batch": ("batch_command", "run_batch"),
}


def _handler(command: str) -> Any:
    module, function = _HANDLERS[command]
    return getattr(importlib.import_module(f"qrscope.cli.{module}"), function)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not args_list:
        if _display_available():
            from qrscope.ui.app import run_gui

            return run_gui([sys.argv[0]])
        from qrscope.cli.tour import run_without_arguments

        print("qrscope: no display found; running the command-line demo instead "
              "(see qrscope --help)", file=sys.stderr)
        return run_without_arguments()
    try:
        args = parser.parse_args(args_list)
    except CliError as exc:
        print(for_terminal(exc), file=sys.stderr)
        return exc.code
    if args.command == "gui":
        from qrscope.ui.app import run_gui

        return run_gui([sys.argv[0]], quit_after=args.quit_after)
    if args.command is None:
        parser.print_help()
        return EXIT["usage"]
    handler = _handler(args.command)
    try:
        return handler(args)
    except CliError as exc:
        # Failure messages quote what the peer sent; only our own line breaks stay.
        lines = "\n".join(for_terminal(line) for line in str(exc).split("\n"))
        print(f"qrscope: {lines}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("qrscope: interrupted", file=sys.stderr)
        return EXIT["cancelled"]


if __name__ == "__main__":
    raise SystemExit(main())
