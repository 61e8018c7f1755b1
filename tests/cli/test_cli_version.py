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


def test_version_names_qrscope_and_the_libraries(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out == (f"qrscope {qrscope.__version__} (pydicom {pydicom.__version__}, "
                   f"pynetdicom {pynetdicom.__version__}, PySide6 {PySide6.__version__}, "
                   f"Python {platform.python_version()})")


def test_pyproject_reads_the_version_from_the_package():
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "qrscope.__version__"}
