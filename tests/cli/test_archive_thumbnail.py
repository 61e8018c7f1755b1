"""``qrscope archive thumbnail``: a series' PNG, or why there is none, with its exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from PIL import Image

from qrscope.cli.main import main
from qrscope.core.archive.index import close_index
from qrscope.demo_pacs.clinical import build_clinical_studies


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory):
    storage = tmp_path_factory.mktemp("archive")
    folder = tmp_path_factory.mktemp("cd")
    files = build_clinical_studies(folder)
    assert main(["archive", "import", str(folder), "--in-place",
                 "--storage", str(storage), "--json"]) == 0
    series = {}
    for path in files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        series.setdefault(ds.Modality, ds.SeriesInstanceUID)
    yield storage, series
    close_index(storage)


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_a_series_with_pixels_is_written_as_png(archive, tmp_path: Path, capsys):
    storage, series = archive
    out = tmp_path / "ct.png"
    code = main(["archive", "thumbnail", "--series", series["CT"], "--out", str(out),
                 "--size", "96", "--storage", str(storage), "--json"])
    assert code == 0
    report = _json(capsys)
    assert report["status"] == "success" and report["state"] == "ok"
    with Image.open(out) as image:
        assert image.format == "PNG" and max(image.size) == 96


def test_a_series_without_pixels_exits_1_with_the_reason(archive, tmp_path: Path, capsys):
    storage, series = archive
    out = tmp_path / "plan.png"
    code = main(["archive", "thumbnail", "--series", series["RTPLAN"], "--out", str(out),
                 "--storage", str(storage)])
    assert code == 1 and not out.exists()
    assert "no thumbnail (no-pixels): RT Plan Storage holds no image" in capsys.readouterr().err


def test_an_unknown_series_exits_2(archive, tmp_path: Path, capsys):
    storage, _ = archive
    code = main(["archive", "thumbnail", "--series", "1.2.3.4.5", "--out",
                 str(tmp_path / "x.png"), "--storage", str(storage)])
    assert code == 2
    assert "holds no series 1.2.3.4.5" in capsys.readouterr().err
