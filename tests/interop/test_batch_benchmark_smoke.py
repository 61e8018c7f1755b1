"""``benchmarks/batch.py`` at a tiny size: every contender brings every instance, once and
unchanged (the script checks each run's folder and raises ``WrongResult`` otherwise);
times are printed and asserted nowhere."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from benchmarks import batch

from .conftest import require
from .peers import find_binary, find_dcmtk_tool

pytestmark = [pytest.mark.timeout(600)]


def test_batch_retrieve_loop_and_movescu_loop_bring_every_instance(tmp_path):
    require(find_binary("Orthanc"), "Orthanc is not installed")
    require(find_dcmtk_tool("movescu"), "DCMTK is not installed")
    # The PACS's own time is read off the wire: tcpdump on the loopback, as root.
    require(shutil.which("tcpdump"), "tcpdump is not installed")
    require("root" if os.geteuid() == 0 else None, "capturing on the loopback needs root")
    out = tmp_path / "batch.json"
    assert batch.main(["--studies", "3", "--instances", "2", "--repeat", "1",
                       "--work", str(tmp_path / "work"), "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    assert {s["contender"] for s in written["samples"]} == set(batch.CONTENDERS)
    assert {s["instances"] for s in written["samples"]} == {6}
    assert [r["contender"] for r in written["summary"]] == list(batch.CONTENDERS)
