"""The results table keeps its rows sorted itself: while batches arrive, when a
header is clicked, with the selection following its rows."""

from __future__ import annotations

import random

import pytest
from PySide6.QtCore import QPoint, QSortFilterProxyModel, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QTableView

from qrscope.core.dicom.records import QueryLevel, SeriesRecord, StudyRecord
from qrscope.ui.models.results_model import RecordTableModel

ASCENDING, DESCENDING = Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder


def _column(model: RecordTableModel, key: str) -> int:
    return next(i for i, c in enumerate(model.columns) if c.key == key)


def _studies(count: int, seed: int = 7) -> list[StudyRecord]:
    """Studies with many equal values, so that the order of ties shows."""
    rng = random.Random(seed)
    names = ["Smith^John", "smith^anna", "Müller^Jörg", "Zhang^Wei", "Ávila^Ana", ""]
    return [StudyRecord(study_uid=f"1.2.3.{n}", patient_name=rng.choice(names),
                        patient_id=f"P{rng.randint(1, 30)}",
                        study_date=f"2024{rng.randint(1, 3):02}{rng.randint(1, 4):02}",
                        description=rng.choice(["CT chest", "MR head", "ct chest", ""]),
                        modalities=tuple(rng.sample(["CT", "MR", "SR"], rng.randint(0, 2))),
                        number_of_series=rng.randint(1, 12),
                        number_of_instances=rng.randint(1, 120))
            for n in range(count)]


def _in_batches(model: RecordTableModel, records: list, size: int) -> None:
    for start in range(0, len(records), size):
        model.append(records[start:start + size])


def _uids(model: RecordTableModel) -> list[str]:
    return [r.study_uid for r in model.records]


def _stable(records: list[StudyRecord], key: str, order: Qt.SortOrder) -> list[str]:
    """A stable sort of the records as they arrived, by the shown text or number."""
    model = RecordTableModel(QueryLevel.STUDY)
    column = model.columns[_column(model, key)]
    ordered = sorted(records, key=lambda r: column.sort_key(getattr(r, key)),
                     reverse=order == DESCENDING)
    return [r.study_uid for r in ordered]


def test_rows_arriving_in_batches_keep_the_sort_order(qapp):
    records = _studies(600)
    model = RecordTableModel(QueryLevel.STUDY)
    model.sort(_column(model, "study_date"), DESCENDING)
    _in_batches(model, records, 37)
    assert model.rowCount() == 600
    # Equal dates stay in the order they arrived, as with Qt's sorting proxy.
    assert _uids(model) == _stable(records, "study_date", DESCENDING)


@pytest.mark.parametrize("order", [ASCENDING, DESCENDING])
@pytest.mark.parametrize("key", ["patient_name", "study_date", "modalities", "description",
                                 "number_of_series", "number_of_instances", "study_uid"])
def test_a_header_click_orders_as_the_sorting_proxy_did(qapp, key, order):
    """The same rows in the same order as QSortFilterProxyModel gave from the
    rows as shown (ties stay as they were), for text and numbers, both ways."""
    records = _studies(400, seed=len(key))
    model = RecordTableModel(QueryLevel.STUDY)
    model.sort(_column(model, "study_date"), DESCENDING)
    _in_batches(model, records, 50)
    # The old way: a sorting proxy over the rows, its sort keys and the row as shown.
    shown = QStandardItemModel()
    for row, record in enumerate(model.records):
        cell = QStandardItem(record.study_uid)
        column = model.columns[_column(model, key)]
        cell.setData(column.sort_key(getattr(record, key)), Qt.ItemDataRole.UserRole)
        place = QStandardItem()
        place.setData(row, Qt.ItemDataRole.UserRole)
        shown.appendRow([cell, place])
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(shown)
    proxy.setSortRole(Qt.ItemDataRole.UserRole)
    proxy.sort(1, ASCENDING)  # as the rows are shown now
    proxy.sort(0, order)  # the click
    expected = [proxy.index(r, 0).data() for r in range(proxy.rowCount())]
    model.sort(_column(model, key), order)
    assert _uids(model) == expected


def test_sorting_by_one_column_then_another_keeps_the_first_within_the_second(qapp):
    records = _studies(300)
    model = RecordTableModel(QueryLevel.STUDY)
    model.append(records)
    model.sort(_column(model, "study_date"), ASCENDING)
    model.sort(_column(model, "patient_name"), DESCENDING)
    for patient in {r.patient_name for r in records}:
        dates = [r.study_date for r in model.records if r.patient_name == patient]
        assert dates == sorted(dates)


def test_numbers_sort_as_numbers_and_missing_counts_come_first(qapp):
    model = RecordTableModel(QueryLevel.SERIES)
    model.sort(_column(model, "series_number"), ASCENDING)
    model.append([SeriesRecord(series_uid=f"s{n}", series_number=n) for n in (10, 9, 100)])
    model.append([SeriesRecord(series_uid="none", series_number=None),
                  SeriesRecord(series_uid="s2", series_number=2)])
    assert [r.series_uid for r in model.records] == ["none", "s2", "s9", "s10", "s100"]
    shown = [model.index(r, 0).data() for r in range(model.rowCount())]
    assert shown == ["", "2", "9", "10", "100"]


def test_text_sorts_by_what_is_shown_case_sensitively(qapp):
    model = RecordTableModel(QueryLevel.STUDY)
    model.sort(_column(model, "patient_name"), ASCENDING)
    model.append([StudyRecord(study_uid=str(n), patient_name=name)
                  for n, name in enumerate(["b^x", "B^x", "a^x", "ä^x"])])
    names = [r.patient_name for r in model.records]
    assert names == ["B^x", "a^x", "b^x", "ä^x"]  # as Qt's proxy compared them


def test_clicking_a_header_re_sorts_and_twice_reverses(qtbot):
    records = _studies(120)
    model = RecordTableModel(QueryLevel.STUDY)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.setSortingEnabled(True)
    view.sortByColumn(_column(model, "study_date"), DESCENDING)
    _in_batches(model, records, 25)
    header = view.horizontalHeader()
    column = _column(model, "number_of_instances")
    view.resize(1600, 400)
    view.show()
    qtbot.waitExposed(view)
    view.scrollTo(model.index(0, column))

    def click() -> None:
        middle = QPoint(header.sectionViewportPosition(column) + header.sectionSize(column) // 2,
                        header.height() // 2)
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=middle)

    before = list(model.records)
    click()
    first = header.sortIndicatorOrder()
    assert model.sort_column == column and model.sort_order == first

    def expected(rows: list[StudyRecord], order: Qt.SortOrder) -> list[str]:
        # Stable: rows with equal counts stay as they were shown.
        return [r.study_uid for r in sorted(rows, key=lambda r: r.number_of_instances,
                                            reverse=order == DESCENDING)]

    assert _uids(model) == expected(before, first)
    before = list(model.records)
    click()
    assert model.sort_order != first
    assert _uids(model) == expected(before, model.sort_order)


def test_the_selection_follows_its_row_when_batches_sort_before_it(qtbot):
    model = RecordTableModel(QueryLevel.STUDY)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.setSortingEnabled(True)
    view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
    view.sortByColumn(_column(model, "study_date"), ASCENDING)
    model.append([StudyRecord(study_uid=f"late{n}", study_date=f"202401{n + 10}")
                  for n in range(5)])
    view.selectRow(2)
    view.setCurrentIndex(model.index(2, 1))
    chosen = model.records[2]
    model.append([StudyRecord(study_uid=f"early{n}", study_date=f"202301{n + 10}")
                  for n in range(7)])  # all before the selected row
    rows = view.selectionModel().selectedRows()
    assert [model.records[i.row()] for i in rows] == [chosen]
    assert model.records[view.currentIndex().row()] is chosen
    view.sortByColumn(_column(model, "study_uid"), DESCENDING)
    rows = view.selectionModel().selectedRows()
    assert [model.records[i.row()] for i in rows] == [chosen]


def test_local_counts_re_sort_when_sorted_by_them(qapp):
    model = RecordTableModel(QueryLevel.STUDY)
    model.append([StudyRecord(study_uid=u, number_of_instances=10) for u in "abcd"])
    model.sort(_column(model, "local"), DESCENDING)
    assert _uids(model) == list("abcd")  # nothing here yet: as they arrived
    model.set_local_counts({"c": 10, "b": 3})
    assert _uids(model) == ["c", "b", "a", "d"]
    assert model.index(0, _column(model, "local")).data() == "✓ 10"


def test_clear_empties_and_keeps_the_sort(qapp):
    model = RecordTableModel(QueryLevel.STUDY)
    model.sort(_column(model, "patient_id"), ASCENDING)
    model.append(_studies(30))
    model.clear()
    assert model.rowCount() == 0
    model.append([StudyRecord(study_uid="2", patient_id="B"),
                  StudyRecord(study_uid="1", patient_id="A")])
    assert _uids(model) == ["1", "2"]


def _python_calls_while_painting(qtbot, view: QTableView) -> list[str]:
    """The Python functions called while *view* repaints its cells and header."""
    import sys

    from PySide6.QtWidgets import QApplication

    view.resize(1600, 600)
    view.show()
    qtbot.waitExposed(view)
    QApplication.processEvents()  # the view lays out its rows
    called: list[str] = []

    def profile(frame, event, _arg) -> None:
        if event == "call":
            called.append(frame.f_code.co_qualname)

    sys.setprofile(profile)
    try:
        view.viewport().repaint()
        view.horizontalHeader().viewport().repaint()
    finally:
        sys.setprofile(None)
    return called


def test_painting_the_table_calls_no_python(qtbot):
    """Qt paints the cells from its own items: during a large search every
    call into Python from the GUI thread waits for the interpreter lock held
    by the threads decoding responses, and a repaint used to make about
    2,000 of them (benchmarks/window.py)."""
    from PySide6.QtCore import QAbstractTableModel

    from qrscope.ui.widgets.search_panel import _table

    model = RecordTableModel(QueryLevel.STUDY)
    view = _table(model)
    qtbot.addWidget(view)
    view.sortByColumn(_column(model, "study_date"), DESCENDING)
    model.append(_studies(300))
    model.set_local_counts({model.records[0].study_uid: 1})
    assert _python_calls_while_painting(qtbot, view) == []

    class PythonModel(QAbstractTableModel):  # what the measure would see
        def rowCount(self, _parent=None) -> int:
            return 300

        def columnCount(self, _parent=None) -> int:
            return 3

        def data(self, _index, _role=0) -> str:
            return "x"

    control = QTableView()
    qtbot.addWidget(control)
    control.setModel(PythonModel())
    assert "test_painting_the_table_calls_no_python.<locals>.PythonModel.data" in \
        _python_calls_while_painting(qtbot, control)
