"""Batch input as people have it: CSV, TSV, XLSX, plain text and pasted text.

Each format is read into items that keep their row and every identifier as
text: an accession number ``00123`` stays ``00123`` whether it came from a
CSV cell or an Excel number cell formatted with leading zeros.
"""

from __future__ import annotations

import datetime as dt

import openpyxl
import pytest

from qrscope.core.batch.input import BatchInputError, parse_columns, parse_text, read_batch

UID = "1.2.826.0.1.3680043.8.498.12345678901234567890"


def test_csv_by_dicom_keyword_keeps_leading_zeros_and_long_numbers(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("AccessionNumber,PatientID,StudyDate,Note\n"
                    "00123,000042,20240101-20240131,first\n"
                    "1234567890123456789,9,2024-02-03,\n", encoding="utf-8")
    batch = read_batch(path)
    first, second = batch.items
    assert (first.row, first.accession_number, first.patient_id, first.study_date) == (
        2, "00123", "000042", "20240101-20240131")
    assert first.values["Note"] == "first", "the input row is kept as it was"
    assert second.accession_number == "1234567890123456789"
    assert second.study_date == "20240203"


def test_common_headers_are_recognised_in_a_semicolon_csv(tmp_path):
    """Excel in much of Europe saves CSV with semicolons; headers are what people write."""
    path = tmp_path / "list.csv"
    path.write_text("MRN;Accession No.;Study UID;Modality\nP1;ACC 7;" + UID + ";ct\n",
                    encoding="utf-8")
    [item] = read_batch(path).items
    assert (item.patient_id, item.accession_number, item.study_uid, item.modality) == (
        "P1", "ACC 7", UID, "CT")


def test_tsv_and_a_column_mapped_by_hand(tmp_path):
    path = tmp_path / "list.tsv"
    path.write_text("Fall\tUntersuchung\n0815\tA-1\n", encoding="utf-8")
    with pytest.raises(BatchInputError, match="no column"):
        read_batch(path)
    [item] = read_batch(path, parse_columns(["AccessionNumber=Untersuchung",
                                             "PatientID=Fall"])).items
    assert (item.accession_number, item.patient_id) == ("A-1", "0815")


def test_xlsx_number_cells_under_an_id_header_give_back_their_digits(tmp_path):
    path = tmp_path / "list.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["ACC", "PatientID", "StudyDate"])
    sheet.append([123, 42, dt.datetime(2023, 5, 6)])
    sheet["A2"].number_format = "000000"  # shown as 000123 in Excel
    sheet.append(["ACC9", "007", "20230101-20230630"])
    book.save(path)
    first, second = read_batch(path).items
    assert (first.accession_number, first.patient_id, first.study_date) == (
        "000123", "42", "20230506")
    assert (second.accession_number, second.patient_id) == ("ACC9", "007")


def test_an_xlsx_number_longer_than_excel_keeps_is_a_warning(tmp_path):
    """Excel keeps 15 significant digits: a longer ID typed as a number lost digits."""
    path = tmp_path / "list.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["AccessionNumber"])
    book.active.append([12345678901234567890])
    book.save(path)
    batch = read_batch(path)
    assert batch.warnings and "row 2" in batch.warnings[0] and "15" in batch.warnings[0]


def test_plain_text_one_identifier_a_line_and_pasted_text():
    batch = parse_text(f"ACC1001\n\n 0042 \n{UID}\n")
    assert [(i.row, i.accession_number, i.study_uid) for i in batch.items] == [
        (1, "ACC1001", ""), (3, "0042", ""), (4, "", UID)]
    pasted = parse_text("Accession\tMRN\r\nACC1\t001\r\n")  # copied from a spreadsheet
    [item] = pasted.items
    assert (item.accession_number, item.patient_id) == ("ACC1", "001")


def test_the_same_content_and_columns_give_the_same_batch_key(tmp_path):
    one, two = tmp_path / "a.csv", tmp_path / "b.csv"
    one.write_text("ACC\nA1\n", encoding="utf-8")
    two.write_text("ACC\nA1\n", encoding="utf-8")
    assert read_batch(one).digest == read_batch(two).digest
    assert read_batch(one).digest != read_batch(one, parse_columns(["PatientID=ACC"])).digest


@pytest.mark.parametrize(("content", "reason"), [
    ("", "empty"),
    ("AccessionNumber,StudyDate\nA1,20241399\n", "row 2"),
    ("AccessionNumber,Note\n,something\n", "row 2"),
    ("StudyInstanceUID\nnot-a-uid\n", "row 2"),
])
def test_a_bad_file_says_why(tmp_path, content, reason):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BatchInputError, match=reason):
        read_batch(path)


def test_a_file_that_is_not_a_spreadsheet_says_so(tmp_path):
    path = tmp_path / "list.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(BatchInputError, match="cannot be read"):
        read_batch(path)
    with pytest.raises(BatchInputError, match="KEY=HEADER"):
        parse_columns(["AccessionNumber"])
    with pytest.raises(BatchInputError, match="not a column"):
        parse_columns(["PatientName=Name"])


def test_the_columns_read_are_named_with_their_headers_for_a_front_end(tmp_path):
    """The window shows which column was taken for which role, so that one taken
    wrongly can be named by hand; a list of one identifier a line has no columns."""
    path = tmp_path / "list.csv"
    path.write_text("MRN,Accession No.,Note\nP1,A7,x\n", encoding="utf-8")
    batch = read_batch(path)
    assert batch.headers == ("MRN", "Accession No.", "Note")
    assert batch.mapping == {"PatientID": "MRN", "AccessionNumber": "Accession No."}
    by_hand = read_batch(path, parse_columns(["AccessionNumber=Note"]))
    assert by_hand.mapping["AccessionNumber"] == "Note"
    with pytest.raises(BatchInputError) as unknown:
        read_batch(path, parse_columns(["AccessionNumber=Nope"]))
    path.write_text("Fall,Untersuchung\n1,2\n", encoding="utf-8")
    with pytest.raises(BatchInputError) as none:
        read_batch(path)
    assert none.value.headers == ("Fall", "Untersuchung"), "offered to be named by hand"
    assert unknown.value.headers == ()
    pasted = parse_text("ACC1\nACC2\n")
    assert (pasted.headers, pasted.mapping) == ((), {})
