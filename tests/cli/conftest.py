"""Every command-line test keeps its profiles, jobs file and data in its own folders."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated_user_folders(tmp_path, monkeypatch):
    """``qrscope retrieve`` records its job beside the profiles: never the user's own."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
