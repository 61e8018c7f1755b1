"""``qrscope find -k``: keys by keyword or tag, as findscu takes them, against the demo PACS."""

from __future__ import annotations

import json

import pytest

from qrscope.cli.main import main


@pytest.fixture(autouse=True)
def isolated_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def _find(demo, capsys, *args: str) -> tuple[int, dict]:
    code = main(["find", "--host", "127.0.0.1", "--port", str(demo.pacs.port),
                 "--called-aet", demo.pacs.ae_title, "--json", *args])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def _instances(demo, **where: str) -> list:
    return [i for i in demo.pacs.instances if all(i.text(k) == v for k, v in where.items())]


def test_keyword_and_tag_keys_match_and_return(demo, capsys):
    code, out = _find(demo, capsys, "-k", "PatientName=Doe*", "-k", "(0008,0050)",
                      "-k", "0008,1030")
    assert code == 0 and out["status"] == "success"
    expected = {i.text("StudyInstanceUID") for i in demo.pacs.instances
                if i.text("PatientName").startswith("Doe")}
    assert {r["study_uid"] for r in out["results"]} == expected
    for result in out["results"]:
        attributes = result["attributes"]
        assert attributes["PatientName"].startswith("Doe")
        assert attributes["AccessionNumber"] and "StudyDescription" in attributes


def test_json_shows_every_returned_attribute_beyond_the_record(demo, capsys):
    study = _instances(demo, AccessionNumber="ACC1002")[0]
    code, out = _find(demo, capsys, "--level", "image", "--study",
                      study.text("StudyInstanceUID"), "-k", "Rows", "-k", "ImageType")
    assert code == 0 and out["count"] == len(_instances(
        demo, StudyInstanceUID=study.text("StudyInstanceUID")))
    first = out["results"][0]["attributes"]
    assert {"SOPInstanceUID", "SOPClassUID", "SeriesInstanceUID", "StudyInstanceUID",
            "Rows", "ImageType", "RetrieveAETitle"} <= set(first)
    assert "rows" not in out["results"][0]  # typed fields stay as they were
    with_rows = [r["attributes"] for r in out["results"] if r["attributes"]["Rows"]]
    assert with_rows and all(isinstance(a["Rows"], str) for a in with_rows)
    assert any(isinstance(a["ImageType"], list) for a in with_rows)


def test_k_value_overrides_the_option_for_the_same_attribute(demo, capsys):
    code, out = _find(demo, capsys, "--patient-name", "Nobody*", "-k", "PatientName=Doe^Jane")
    assert code == 0 and out["count"] and all(
        r["patient_name"] == "Doe^Jane" for r in out["results"])


def test_query_retrieve_level_key_sets_the_level(demo, capsys):
    study = _instances(demo, AccessionNumber="ACC1001")[0].text("StudyInstanceUID")
    code, out = _find(demo, capsys, "-k", "QueryRetrieveLevel=SERIES", "-k",
                      f"StudyInstanceUID={study}")
    assert code == 0 and out["level"] == "SERIES"
    assert {r["series_uid"] for r in out["results"]} == {
        i.text("SeriesInstanceUID") for i in _instances(demo, StudyInstanceUID=study)}


def test_matching_key_of_a_level_above_is_applied_at_that_level(demo, capsys):
    # Study Root, SERIES level: PatientName is a study key, which a series
    # query may not carry; the search finds the studies first.
    code, out = _find(demo, capsys, "--level", "series", "-k", "PatientName=Doe^Jane",
                      "-k", "SeriesDescription")
    assert code == 0, out
    assert {r["series_uid"] for r in out["results"]} == {
        i.text("SeriesInstanceUID") for i in _instances(demo, PatientName="Doe^Jane")}
    assert all("PatientName" not in r["attributes"] for r in out["results"])


@pytest.mark.parametrize(("key", "words"), [
    ("PatientNme=DOE", "neither a DICOM keyword"),
    ("0010,00ZZ", "neither a DICOM keyword"),
    ("StudyDate=2024-13-45", "not a valid DA value"),
    ("StudyInstanceUID=1.2.abc", "not a valid UI value"),
    ("PatientName", "--level study"),  # a return key of another level
    ("SOPClassUID", "IMAGE level key"),  # below the query level
])
def test_invalid_keys_are_a_one_line_usage_error(demo, capsys, key, words):
    code = main(["find", "--host", "127.0.0.1", "--port", str(demo.pacs.port),
                 "--called-aet", demo.pacs.ae_title, "--level",
                 "series" if key == "PatientName" else "study", "-k", key])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert words in err and len(err.splitlines()) == 1
