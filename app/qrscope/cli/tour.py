"""``qrscope demo``: the whole query/retrieve cycle on this machine, narrated.

Starts the embedded demo PACS and our listener on free loopback ports, then
verifies, searches, retrieves a study by C-MOVE (the PACS connects back to
our listener) and a series by C-GET, printing the association log as it goes.
It is what ``qrscope`` with no arguments runs until a display is available.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from qrscope.cli.options import EXIT, CliError, build_log
from qrscope.cli.terminal import for_terminal
from qrscope.core.dicom.records import QueryLevel, SeriesRecord, StudyRecord
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.net.verify import verify
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.query.find import FindOperation, QueryFilter
from qrscope.core.receive.listener import StorageListener
from qrscope.core.retrieve import RetrieveJob
from qrscope.core.retrieve.types import RetrieveScope
from qrscope.core.validation import InvalidValue, check_writable_folder

__all__ = ["run_tour", "run_without_arguments"]


def run_without_arguments() -> int:
    """What a bare ``qrscope`` does: the tour, with the association log shown."""
    args = argparse.Namespace(verbose=1, log_json=False, mask=False, json=False,
                              config=None, out=None)
    return run_tour(args)


def _say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def run_tour(args: argparse.Namespace) -> int:
    from qrscope.demo_pacs import DemoPacs

    try:
        folder = (check_writable_folder(args.out, "--out") if args.out is not None
                  else Path(tempfile.mkdtemp(prefix="qrscope-demo-")))
    except InvalidValue as exc:
        raise CliError(str(exc), EXIT["usage"]) from None
    local = LocalAE(ae_title="QRSCOPE", listener_port=0, bind_address="127.0.0.1",
                    storage_folder=folder)
    log: AssociationLog = build_log(args, local)
    listener = StorageListener(local, log)
    listener.start()
    pacs = DemoPacs(ae_title="DEMOPACS", host="127.0.0.1", port=0,
                    destinations={local.ae_title: ("127.0.0.1", listener.port)})
    pacs.start()
    try:
        node = RemoteNode(name="Demo PACS", ae_title="DEMOPACS", host="127.0.0.1",
                          port=pacs.port)
        return _tour(node, local, log, listener, folder)
    finally:
        pacs.stop()
        listener.stop()


def _tour(node: RemoteNode, local: LocalAE, log: AssociationLog,
          listener: StorageListener, folder: Path) -> int:
    _say(f"C-ECHO to {node.ae_title} at {node.host}:{node.port}")
    echo = verify(node, local, log)
    print(f"answered in {echo.echo_ms:.1f} ms")

    _say("C-FIND: all studies")
    studies = FindOperation(node, local, log, QueryLevel.STUDY, QueryFilter()).run().records
    for study in studies:
        if isinstance(study, StudyRecord):
            print(f"  {study.study_date}  {for_terminal(study.patient_name):<22} "
                  f"{for_terminal('/'.join(study.modalities)):<8} "
                  f"{for_terminal(study.description)}")
    if not studies or not isinstance(studies[0], StudyRecord):
        print("the demo PACS returned no studies", file=sys.stderr)
        return EXIT["failed"]
    first = studies[0]

    _say(f"C-MOVE of study {first.study_uid} to {local.ae_title} (our listener on port "
         f"{listener.port}): the PACS opens a second association back to us")
    moved = RetrieveJob(node, local, log, RetrieveScope.study(first.study_uid),
                        listener=listener).run()
    print(f"{moved.status}: {len(moved.stored)} instance(s) received over "
          f"{len(moved.incoming_associations)} incoming association(s)")

    series = FindOperation(node, local, log, QueryLevel.SERIES,
                           QueryFilter(study_uid=studies[-1].study_uid)).run().records
    if series and isinstance(series[0], SeriesRecord):
        target = series[0]
        _say(f"C-GET of series {target.series_uid}: the images come back on our own "
             "association")
        got = RetrieveJob(node, local, log, RetrieveScope.series(
            studies[-1].study_uid, target.series_uid, modalities=(target.modality,)),
            method=RetrieveMethod.GET).run()
        print(f"{got.status}: {len(got.stored)} instance(s) received")
    _say(f"files are in {folder}")
    return EXIT["success"] if moved.status == "success" else EXIT["failed"]
