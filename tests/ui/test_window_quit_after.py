"""``qrscope gui --quit-after``: the window opens and closes the way a user closes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_window_closes_itself_after_the_given_seconds(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_DATA_HOME": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-m", "qrscope", "gui", "--quit-after", "1"],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    # Closing saved the profiles, as the user's close does.
    saved = json.loads((tmp_path / "config" / "qrscope" / "profiles.json").read_text())
    assert saved["local"]["ae_title"] == "QRSCOPE"


def test_quit_after_takes_only_a_number_of_seconds(tmp_path):
    done = subprocess.run([sys.executable, "-m", "qrscope", "gui", "--quit-after", "soon"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "--quit-after" in done.stderr
