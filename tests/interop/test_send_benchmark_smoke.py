"""``benchmarks/send.py`` at a tiny size: every contender's instances reach Orthanc unchanged.

The script reads every instance back from Orthanc after each run and raises
``WrongResult`` when one is missing, extra or altered; times are printed and
asserted nowhere (they flake on a shared machine; the full run is the judge).
"""

from __future__ import annotations

import json

import pytest
from benchmarks import send

from .conftest import require
from .peers import find_binary, find_dcmtk_tool

# Its qrscope contenders run tuned and stock themselves (--engines).
pytestmark = [pytest.mark.timeout(600), pytest.mark.own_engines]


def test_qrscope_send_and_storescu_deliver_every_instance_unchanged(tmp_path):
    require(find_binary("Orthanc"), "Orthanc is not installed")
    require(find_dcmtk_tool("storescu"), "DCMTK is not installed")
    report = tmp_path / "send.json"
    assert send.main(["--small-count", "5", "--large-count", "2", "--repeat", "1",
                      "--work", str(tmp_path / "work"), "--json", str(report)]) == 0
    samples = json.loads(report.read_text())["samples"]
    ran = {(s["data"], s["contender"]) for s in samples}
    contenders = ("qrscope send", "qrscope send (stock)", "qrscope send, 2 associations",
                  "storescu")
    assert ran == {(data, c) for data in ("5 x 32 KB", "2 x 0.5 MB") for c in contenders}
    assert {s["instances"] for s in samples if s["data"] == "5 x 32 KB"} == {5}
    assert {s["instances"] for s in samples if s["data"] == "2 x 0.5 MB"} == {2}
