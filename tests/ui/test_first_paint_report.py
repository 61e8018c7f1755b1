"""``QRSCOPE_REPORT_FIRST_PAINT``: the launch benchmark's clock inside the window."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def test_the_window_reports_its_first_usable_paint_and_closes(tmp_path):
    report = tmp_path / "paint.json"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_DATA_HOME": str(tmp_path / "data"),
           "QRSCOPE_REPORT_FIRST_PAINT": str(report)}
    spawned = time.clock_gettime(time.CLOCK_MONOTONIC)
    # No --quit-after: the report closes the window itself once the node list is drawn.
    done = subprocess.run([sys.executable, "-m", "qrscope", "gui"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    times = json.loads(report.read_text())
    # One clock for every process: both paints come after the spawn, in order.
    assert spawned < times["first_paint"] <= times["usable"]
    # Closed as the user's close does: the profiles saved.
    assert (tmp_path / "config" / "qrscope" / "profiles.json").exists()

