"""``qrscope archive send`` starts without what it does not use (docs/PERFORMANCE.md
"Sending on": its start-up is part of every send's time, and storescu starts in
milliseconds). A module-level import added later that brings one back fails here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from tests.core.send_peers import StoreSCP, archive_fixture

from qrscope.core.archive.index import ArchiveLevel, open_index

APP = str(Path(__file__).resolve().parents[2] / "app")

# Modules a send has no use for: the other commands, the retrieve and batch
# machinery, the listener, the demo PACS, the imaging (pixel data decoders) and
# the window.
NOT_NEEDED = (
    "qrscope.cli.batch_command", "qrscope.cli.doctor_command", "qrscope.cli.query_commands",
    "qrscope.cli.retrieve_command", "qrscope.cli.server_commands", "qrscope.cli.tour",
    "qrscope.core.archive.importer", "qrscope.core.batch.runner", "qrscope.core.batch.resolve",
    "qrscope.core.imaging", "qrscope.core.query.find", "qrscope.core.receive.listener",
    "qrscope.core.retrieve.job", "qrscope.core.retrieve.plan", "qrscope.demo_pacs.server",
    "qrscope.demo_pacs.samples", "qrscope.diagnosis.doctor", "qrscope.diagnosis.retrieve_hints",
    "qrscope.ui", "PySide6", "openpyxl",
)

_RUN = """
import json, sys
from qrscope.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:  # --help
    code = exit.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


archive = archive_fixture()


def _modules_of(args: list[str], tmp_path: Path) -> tuple[int, set[str]]:
    env = {**os.environ, "PYTHONPATH": APP, "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_DATA_HOME": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-c", _RUN, *args], env=env, capture_output=True,
                          text=True, timeout=120)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"])


def _loaded(modules: set[str]) -> list[str]:
    return sorted(name for name in NOT_NEEDED
                  if any(m == name or m.startswith(name + ".") for m in modules))


def test_a_send_imports_none_of_what_it_does_not_use(archive, tmp_path):
    rows = [r for r in open_index(archive).select(ArchiveLevel.INSTANCE)
            if r["transfer_syntax"] in (ExplicitVRLittleEndian, ImplicitVRLittleEndian)]
    study = rows[0]["study_uid"]
    scp = StoreSCP({c: [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
                    for c in {r["sop_class_uid"] for r in rows}})
    scp.start()
    try:
        code, modules = _modules_of(
            ["archive", "send", "--study", study, "--host", "127.0.0.1", "--port",
             str(scp.port), "--called-aet", scp.ae_title, "--storage", str(archive), "--json"],
            tmp_path)
    finally:
        scp.stop()
    assert scp.received  # the send ran: its own modules were all imported
    assert code in (0, 1)
    assert "qrscope.core.send.job" in modules and "qrscope.core.jobs.service" in modules
    assert _loaded(modules) == []


def test_the_help_of_archive_send_imports_none_of_it_either(tmp_path):
    code, modules = _modules_of(["archive", "send", "--help"], tmp_path)
    assert code == 0
    assert _loaded(modules) == []
