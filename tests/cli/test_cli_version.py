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
    first, engine, pixels = capsys.readouterr().out.strip().split("\n")
    assert first == (f"qrscope {qrscope.__version__} (pydicom {pydicom.__version__}, "
                     f"pynetdicom {pynetdicom.__version__}, PySide6 {PySide6.__version__}, "
                     f"Python {platform.python_version()})")
    assert engine == f"engine: {current().describe()}"
    assert f"pynetdicom {pynetdicom.__version__} (" in engine
    assert pixels.startswith("pixel data: decodes every syntax a PACS sends (JPEG Extended at "
                             "8 bits) (plugins: gdcm, "), pixels


def test_version_names_the_syntaxes_a_lost_plugin_leaves_undecodable(monkeypatch, capsys):
    """What the package smoke test catches in a bundle that lost a plugin."""
    from pydicom.pixels.decoders import base

    real = base.Decoder.is_available.fget
    monkeypatch.setattr(base.Decoder, "is_available", property(
        lambda self: real(self) and "JPEG-LS" not in self.UID.name))
    with pytest.raises(SystemExit):
        main(["--version"])
    pixels = capsys.readouterr().out.strip().split("\n")[-1]
    assert pixels.startswith("pixel data: cannot decode JPEG-LS Lossless Image Compression, "
                             "JPEG-LS Lossy (Near-Lossless) Image Compression (plugins: "), pixels


def test_pyproject_reads_the_version_from_the_package():
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "qrscope.__version__"}
