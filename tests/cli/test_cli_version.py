"""``qrscope --version``: the one version number, with the libraries' versions beside it."""

from __future__ import annotations

import platform
import tomllib
from pathlib import Path

import pydicom
import pynetdicom
import PySide6
import pytest

import qrscope
from qrscope.cli.main import main
from qrscope.core.engine.choice import current


def test_version_names_qrscope_the_libraries_and_the_engine(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    first, engine = capsys.readouterr().out.strip().split("\n")
    assert first == (f"qrscope {qrscope.__version__} (pydicom {pydicom.__version__}, "
                     f"pynetdicom {pynetdicom.__version__}, PySide6 {PySide6.__version__}, "
                     f"Python {platform.python_version()})")
    assert engine == f"engine: {current().describe()}"
    assert f"pynetdicom {pynetdicom.__version__} (" in engine


def test_pyproject_reads_the_version_from_the_package():
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "qrscope.__version__"}
