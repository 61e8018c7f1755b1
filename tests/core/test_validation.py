"""Values users type: AE titles, ports, hosts, dates."""

import pytest

from qrscope.core.validation import (
    InvalidValue,
    check_ae_title,
    check_date_range,
    check_host,
    check_port,
    resolve_host,
)


@pytest.mark.parametrize("value", ["QRSCOPE", "  PACS1 ", "A", "X" * 16, "MY-AE_1.2"])
def test_valid_ae_titles_are_returned_without_padding(value):
    assert check_ae_title(value) == value.strip()


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("", "empty"),
        ("    ", "empty"),
        ("X" * 17, "at most 16"),
        ("BAD\\AE", "backslash"),
        ("TAB\tAE", "control"),
        ("MÜLLER", "ASCII"),
    ],
)
def test_invalid_ae_titles_say_what_is_wrong(value, words):
    with pytest.raises(InvalidValue) as info:
        check_ae_title(value, "ae_title")
    assert words in info.value.message
    assert info.value.field == "ae_title"


@pytest.mark.parametrize("value", [1, "104", 65535])
def test_ports_in_range_are_accepted(value):
    assert check_port(value) == int(value)


@pytest.mark.parametrize("value", [0, 65536, -1, "abc", ""])
def test_ports_out_of_range_are_refused(value):
    with pytest.raises(InvalidValue):
        check_port(value)


def test_host_syntax_and_resolution():
    assert check_host(" pacs.example.org ") == "pacs.example.org"
    with pytest.raises(InvalidValue):
        check_host("bad host!")
    assert resolve_host("127.0.0.1") == "127.0.0.1"
    with pytest.raises(InvalidValue, match="cannot be resolved"):
        resolve_host("no-such-host.invalid")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ""),
        ("20240131", "20240131"),
        ("2024-01-31", "20240131"),
        ("20240101-20240131", "20240101-20240131"),
        ("-20240131", "-20240131"),
        ("20240101-", "20240101-"),
        ("2024-01-01-2024-01-31", "20240101-20240131"),
    ],
)
def test_date_ranges_are_normalised(value, expected):
    assert check_date_range(value) == expected


@pytest.mark.parametrize("value", ["20241301", "2024013", "20240131-20240101", "yesterday",
                                   "20240230"])
def test_bad_dates_are_refused(value):
    with pytest.raises(InvalidValue):
        check_date_range(value, "study_date")


@pytest.mark.parametrize("value", ["1_04", "+104", "104.0", True, "١٠٤"])
def test_ports_are_plain_digits(value):
    with pytest.raises(InvalidValue):
        check_port(value)


@pytest.mark.parametrize("value", ["inf", "nan", "1e999", "0", "-1", "604801", "soon"])
def test_seconds_must_be_a_usable_duration(value):
    from qrscope.core.validation import check_seconds

    with pytest.raises(InvalidValue, match="seconds"):
        check_seconds(value, "--timeout", maximum=604800)


def test_a_writable_folder_is_created_and_a_blocked_one_refused(tmp_path):
    from qrscope.core.validation import check_writable_folder

    assert check_writable_folder(tmp_path / "new" / "in").is_dir()
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidValue, match="not a folder"):
        check_writable_folder(tmp_path / "file", "--out")
    with pytest.raises(InvalidValue, match="cannot write"):
        check_writable_folder(tmp_path / "file" / "in", "--out")


def test_the_field_reader_names_each_wrong_type_and_coerces_nothing():
    from qrscope.core.validation import FieldReader

    reader = FieldReader({"port": True, "name": None, "on": "false", "t": {"x": "1"},
                          "wait": float("nan")})
    assert reader.whole_number("port", 104) == 104
    assert reader.text("name", "d") == "d"
    assert reader.flag("on", False) is False
    assert reader.section("t").number("x", 1.0) == 1.0
    assert reader.number("wait", 5.0) == 5.0
    reader.text("missing")  # required
    assert [p.field for p in reader.problems] == ["port", "name", "on", "t.x", "wait",
                                                  "missing"]
