"""The study browser: search, streaming results, drill-down, and retrieve the selection."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from qrscope.core.dicom.records import InstanceRecord, QueryLevel, Record, SeriesRecord, StudyRecord
from qrscope.core.net.connection import AssociationFailure
from qrscope.core.profiles import LocalAE, QueryModel, RemoteNode
from qrscope.core.query.find import FindResult, QueryFilter
from qrscope.core.retrieve.types import RetrieveScope
from qrscope.ui.bridge import CoreBridge, FindTask, spawn
from qrscope.ui.models.results_model import RecordTableModel, person_name
from qrscope.ui.widgets.column_fit import fit_columns
from qrscope.ui.widgets.search_form import SearchForm

__all__ = ["SearchPanel"]

_LOGGER = logging.getLogger(__name__)

FIT_SAMPLE_ROWS = 200
COALESCE_MS = 100
"""Records that arrive within this time are added to a table together: the
count above the table and the views' layout change once per addition."""
ROWS_PER_TURN = 200
"""The most rows added to a table in one turn of the event loop, the rest on
later turns."""
ROWS_PER_STEP = 5
TURN_BUDGET_S = 0.003
"""Rows are added :data:`ROWS_PER_STEP` at a time until this much time has
passed in the turn. Qt's cells for a row are set from Python on the GUI
thread (about 0.05 ms a row on a quiet machine), and while a search runs the
threads decoding its responses hold the interpreter lock most of the time:
each call into Qt may then wait for the lock, and a row takes several times
longer. A time budget adds few rows a turn while the search runs, and many
once it has ended, when the last rows should appear at once."""


def _table(model: RecordTableModel) -> QTableView:
    """The view of one level. It shows *model* directly: the model keeps its rows
    sorted itself (a sorting proxy cost seconds of GUI time on large searches)."""
    view = QTableView()
    view.setModel(model)
    view.setSortingEnabled(True)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)  # Qt's items are editable
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.setAlternatingRowColors(True)
    # Tab leaves the table (arrow keys move within it): stepping cell by cell
    # would select rows and start a series search at every step.
    view.setTabKeyNavigation(False)
    view.verticalHeader().hide()
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().lineSpacing() + 6)
    header = view.horizontalHeader()
    # A double-click on a column's edge fits it to this many rows, not all.
    header.setResizeContentsPrecision(FIT_SAMPLE_ROWS)
    header.setSectionsMovable(True)
    header.setStretchLastSection(True)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    header.customContextMenuRequested.connect(
        lambda pos, v=view, m=model: _column_menu(v, m, pos))
    return view


def _column_menu(view: QTableView, model: RecordTableModel, pos: object) -> None:
    """Choose the visible columns (right-click on the header)."""
    menu = QMenu(view)
    for number, column in enumerate(model.columns):
        action = menu.addAction(column.title)
        action.setCheckable(True)
        action.setChecked(not view.isColumnHidden(number))
        action.toggled.connect(lambda on, n=number: view.setColumnHidden(n, not on))
    menu.exec(view.horizontalHeader().mapToGlobal(pos))  # type: ignore[arg-type]


def _images(count: int | None) -> str:
    if count is None:
        return "images not counted by the PACS"
    return f"{count} image{'' if count == 1 else 's'}"


def study_words(study: StudyRecord) -> str:
    """Patient and study as the browser shows them: ``Smith, John — CT chest``."""
    return f"{person_name(study.patient_name) or study.patient_id} — " \
           f"{study.description or study.study_date or study.study_uid}"


def scope_words(scope: RetrieveScope, study: StudyRecord | None,
                series: list[SeriesRecord]) -> str:
    """What a retrieve asks for, with counts: never ambiguous between a study and a series."""
    if scope.level is QueryLevel.STUDY:
        what = "whole study"
        count = study.number_of_instances if study else None
        of_total = study.number_of_series if study else None
        if of_total:
            what += f", {of_total} series"
    elif scope.level is QueryLevel.SERIES:
        chosen = [s for s in series if s.series_uid in scope.series_uids]
        known = [s.number_of_instances for s in chosen]
        count = sum(n for n in known if n is not None) if known and None not in known else None
        total = study.number_of_series if study else None
        what = f"{len(scope.series_uids)}{f' of {total}' if total else ''} series"
    else:
        count = len(scope.instance_uids)
        what = "selected instances"
    where = study_words(study) if study is not None else f"study {scope.study_uid}"
    # What is fetched comes first: it is what a narrow jobs column still shows.
    return f"{what} ({_images(count)}) of {where}"


class SearchPanel(QWidget):
    """Search the current node; drill down from studies to series to instances.

    Signals: ``retrieve_requested(list[RetrieveScope], method)`` where method
    is ``"move"``, ``"get"`` or ``""`` (the node's default);
    ``failed(AssociationFailure, RemoteNode)``; ``find_failed(FindResult,
    RemoteNode)``; ``answered()`` when a study search ended with the PACS's
    answer (what an earlier search's failure said is no longer true);
    ``status(str)``.
    """

    retrieve_requested = Signal(list, str)  # [(RetrieveScope, label)], method
    failed = Signal(object, object)
    find_failed = Signal(object, object)  # FindResult, RemoteNode
    answered = Signal()
    status = Signal(str)

    def __init__(self, bridge: CoreBridge, node: Callable[[], RemoteNode | None],
                 local: Callable[[], LocalAE], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self._node = node
        self._local = local
        self.results_node: RemoteNode | None = None
        """The node the results shown came from: their series, instances and
        retrieves go to it, whichever node is selected in the list since."""
        self.models = {level: RecordTableModel(level) for level in
                       (QueryLevel.STUDY, QueryLevel.SERIES, QueryLevel.IMAGE)}
        self.views = {level: _table(model) for level, model in self.models.items()}
        self._pending: dict[QueryLevel, list[Record]] = {}
        self._flush_timer = QTimer(self, singleShot=True, interval=COALESCE_MS)
        self._flush_timer.timeout.connect(self._flush)
        self._search_ids: dict[QueryLevel, int] = {}
        self._tasks: dict[QueryLevel, FindTask] = {}
        self.active_level = QueryLevel.STUDY
        self.form = SearchForm()
        self.form.search_requested.connect(self.search)
        self.form.cancel_requested.connect(self.cancel)
        self.count = QLabel("No search yet")
        self.target = QLabel()
        self.target.setObjectName("retrieveTarget")
        self.target.setWordWrap(True)  # two lines rather than a window wider than the screen
        self.target.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.target.setToolTip("What Retrieve will fetch: the selected study, or the "
                               "series or instances selected below it")
        bridge.records_arrived.connect(self._records_arrived)
        self._build()

    def _build(self) -> None:
        studies = self.views[QueryLevel.STUDY]
        series = self.views[QueryLevel.SERIES]
        images = self.views[QueryLevel.IMAGE]
        studies.selectionModel().selectionChanged.connect(self._study_selected)
        series.selectionModel().selectionChanged.connect(self._series_selected)
        images.selectionModel().selectionChanged.connect(
            lambda *_: self._set_active(QueryLevel.IMAGE))
        for level, view in self.views.items():
            # A click on a row that is already selected changes no selection,
            # but it says which level the user means now.
            view.pressed.connect(lambda _i, lv=level: self._set_active(lv))
            view.doubleClicked.connect(lambda _i, lv=level: self._retrieve_level(lv, ""))
            view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            view.customContextMenuRequested.connect(
                lambda pos, v=view, lv=level: self._context_menu(v, lv, pos))
        studies.setToolTip("Studies found; double-click or Ctrl+R to retrieve")
        date_column = next(i for i, c in enumerate(self.models[QueryLevel.STUDY].columns)
                           if c.key == "study_date")
        studies.sortByColumn(date_column, Qt.SortOrder.DescendingOrder)
        # Qt's default sort indicator is descending; series and instances read
        # best in acquisition order.
        series.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        images.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        series.setToolTip("Series of the selected study")
        images.setToolTip("Instances of the selected series")
        self.headings = {QueryLevel.SERIES: QLabel("<b>Series</b> of the selected study"),
                         QueryLevel.IMAGE: QLabel("<b>Instances</b> of the selected series")}
        lower = QSplitter(Qt.Orientation.Horizontal)
        for level in (QueryLevel.SERIES, QueryLevel.IMAGE):
            pane = QWidget()
            column = QVBoxLayout(pane)
            column.setContentsMargins(0, 0, 0, 0)
            column.setSpacing(2)
            column.addWidget(self.headings[level])
            column.addWidget(self.views[level], 1)
            lower.addWidget(pane)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(studies)
        self.splitter.addWidget(lower)
        self.splitter.setSizes([400, 200])
        # Each pane gives way down to a few rows, so the jobs dock can be
        # dragged taller even on a 768-pixel screen with a hint showing.
        for view in self.views.values():
            view.setMinimumHeight(3 * view.verticalHeader().defaultSectionSize())
        move = QPushButton("Retrieve (C-MOVE)")
        move.setToolTip("The PACS sends the selection to our listener")
        move.clicked.connect(lambda: self.retrieve_selection("move"))
        get = QPushButton("Retrieve (C-GET)")
        get.setToolTip("The selection comes back on the same association")
        get.clicked.connect(lambda: self.retrieve_selection("get"))
        bar = QHBoxLayout()
        bar.addWidget(self.count, 1)
        bar.addWidget(move)
        bar.addWidget(get)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.form)
        layout.addLayout(bar)
        layout.addWidget(self.target)  # its own line, the width of the browser
        layout.addWidget(self.splitter, 1)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.cancel)

    # -- searching ---------------------------------------------------------------
    def search(self) -> None:
        query = self.form.query()
        node = self._node()
        if query is None:
            return
        if node is None:
            self.form.message.setText("Choose a node first (left panel)")
            self.form.message.show()
            return
        for level in self.models:
            self._clear(level)
        self._show_target()  # the selection went with the rows (a reset says nothing)
        self.results_node = node
        self._start(QueryLevel.STUDY, node, query)

    def _start(self, level: QueryLevel, node: RemoteNode, query: QueryFilter) -> None:
        previous = self._tasks.pop(level, None)
        if previous is not None:
            previous.cancel()
        self._pending.pop(level, None)
        search_id, task = self.bridge.find(node, self._local(), level, query)
        self._search_ids[level] = search_id
        self._tasks[level] = task
        if level is QueryLevel.STUDY:
            self.form.set_running(True)
            self.count.setText(f"Searching {node.name}…")
        spawn(self._finish(level, node, task))

    async def _finish(self, level: QueryLevel, node: RemoteNode, task: FindTask) -> None:
        try:
            result = await task.done
        except AssociationFailure as exc:
            self.count.setText(f"Search failed: {exc.message}")
            self.failed.emit(exc, node)
            return
        except Exception as exc:  # shown, never swallowed silently
            _LOGGER.exception("search failed")
            self.count.setText(f"Search failed: {exc}")
            return
        finally:
            if self._tasks.get(level) is task:
                del self._tasks[level]
                if level is QueryLevel.STUDY:
                    self.form.set_running(False)
        await self._drain(level)  # the last records came just before the result
        fit_columns(self.views[level], self.models[level], FIT_SAMPLE_ROWS)
        if result.failed:
            self.find_failed.emit(result, node)
        if level is QueryLevel.STUDY:
            self._headline(result, node)
            if not result.failed:
                self.answered.emit()
            await self._mark_local()

    def _headline(self, result: FindResult, node: RemoteNode) -> None:
        """The count above the results, and the status line: never a count of
        nothing where the PACS did not answer or refused the search."""
        words = f"{result.count} stud{'y' if result.count == 1 else 'ies'}"
        if not result.failed:
            extra = " (cancelled)" if result.cancelled else ""
            self.count.setText(f"{words} on {node.name} in {result.seconds:.2f} s{extra}")
            self.status.emit(f"{words} found")
            return
        why = ("no answer: the PACS ended it" if result.unanswered
               else f"a failure from the PACS ({result.status})")
        got = f"; {words} had arrived" if result.count else ""
        self.count.setText(f"Search on {node.name} ended with {why} after "
                           f"{result.seconds:.2f} s{got}")
        self.status.emit(f"Search on {node.name} failed")

    async def _mark_local(self) -> None:
        model = self.models[QueryLevel.STUDY]
        uids = [r.study_uid for r in model.records if isinstance(r, StudyRecord)]
        counts = await self.bridge.count_local(self._local().storage_folder, uids)
        model.set_local_counts(counts)

    def refresh_local_marks(self) -> None:
        spawn(self._mark_local())

    @property
    def searching(self) -> bool:
        """A search of some level is running."""
        return bool(self._tasks)

    def cancel(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()

    def _clear(self, level: QueryLevel) -> None:
        self._pending.pop(level, None)
        self.models[level].clear()

    def _records_arrived(self, search_id: int, records: list[Record]) -> None:
        """The first records of a search are shown at once; later ones wait
        up to :data:`COALESCE_MS` to be added together, at most
        :data:`ROWS_PER_TURN` at a time."""
        level = next((lv for lv, current in self._search_ids.items() if current == search_id),
                     None)
        if level is None:
            return
        first = not self.models[level].records and level not in self._pending
        self._pending.setdefault(level, []).extend(records)
        if first:
            self._flush_level(level)
            fit_columns(self.views[level], self.models[level], FIT_SAMPLE_ROWS)
            if level in self._pending:
                self._flush_timer.start(0)
            return
        if not self._flush_timer.isActive():
            self._flush_timer.start(COALESCE_MS)

    def _flush(self) -> None:
        for level in list(self._pending):
            self._flush_level(level)
        if self._pending:  # the rest on the next turn, after the window has painted
            self._flush_timer.start(0)

    async def _drain(self, level: QueryLevel) -> None:
        """Every pending row of *level* shown, a turn of the event loop per
        :data:`ROWS_PER_TURN`."""
        while level in self._pending:
            self._flush_level(level)
            await asyncio.sleep(0)

    def _flush_level(self, level: QueryLevel) -> None:
        """Add the level's pending rows for up to :data:`TURN_BUDGET_S`, at most
        :data:`ROWS_PER_TURN` of them."""
        records = self._pending.pop(level, None)
        if not records:
            return
        model, started, done = self.models[level], time.perf_counter(), 0
        while done < min(len(records), ROWS_PER_TURN):
            model.append(records[done:done + ROWS_PER_STEP])
            done += ROWS_PER_STEP
            if time.perf_counter() - started > TURN_BUDGET_S:
                break
        if done < len(records):
            self._pending[level] = records[done:]
        self._counted(level)

    def _counted(self, level: QueryLevel) -> None:
        if level is QueryLevel.STUDY and QueryLevel.STUDY in self._tasks:
            self.count.setText(f"{len(self.models[level].records)} studies so far…")

    # -- drill-down ----------------------------------------------------------------
    def _selected(self, level: QueryLevel) -> list[Record]:
        rows = sorted({i.row() for i in self.views[level].selectionModel().selectedRows()})
        return [self.models[level].records[r] for r in rows]

    def _set_active(self, level: QueryLevel) -> None:
        self.active_level = level
        self._show_target()

    def _show_target(self) -> None:
        """Say, beside the Retrieve buttons, exactly what they would fetch."""
        labels = self.labelled_scopes()
        if not labels:
            self.target.setText("")
            return
        first = labels[0][1]
        more = f" and {len(labels) - 1} more stud{'y' if len(labels) == 2 else 'ies'}" \
            if len(labels) > 1 else ""
        self.target.setText(f"Retrieve: {first}{more}")

    def _study_selected(self, *_args: object) -> None:
        self._set_active(QueryLevel.STUDY)
        studies = self._selected(QueryLevel.STUDY)
        self._clear(QueryLevel.SERIES)
        self._clear(QueryLevel.IMAGE)
        node = self.results_node
        if len(studies) == 1 and node is not None and isinstance(studies[0], StudyRecord):
            # Hierarchical search (PS3.4 C.4.1.2.2): the study's unique key, and
            # no other study key; the search adds the Patient ID under Patient Root.
            self._start(QueryLevel.SERIES, node, self._below(node, studies[0]))

    def _series_selected(self, *_args: object) -> None:
        self._set_active(QueryLevel.SERIES)
        series = self._selected(QueryLevel.SERIES)
        self._clear(QueryLevel.IMAGE)
        study = self._selected(QueryLevel.STUDY)
        node = self.results_node
        if (len(series) == 1 and node is not None and isinstance(series[0], SeriesRecord)
                and study and isinstance(study[0], StudyRecord)):
            self._start(QueryLevel.IMAGE, node, replace(
                self._below(node, study[0]), series_uid=series[0].series_uid))

    @staticmethod
    def _below(node: RemoteNode, study: StudyRecord) -> QueryFilter:
        """The keys that name *study* to a search of its series or instances.

        Under Patient Root the Patient ID is the unique key of the level
        above the study; under Study Root it is a study attribute, which a
        SERIES or IMAGE level query may not carry.
        """
        patient_root = node.query_model is QueryModel.PATIENT_ROOT
        return QueryFilter(study_uid=study.study_uid,
                           patient_id=study.patient_id if patient_root else "")

    # -- retrieving ----------------------------------------------------------------
    def scopes(self, level: QueryLevel | None = None) -> list[RetrieveScope]:
        """What the selection asks for, at the level the user last worked in."""
        level = level or self.active_level
        studies = [s for s in self._selected(QueryLevel.STUDY) if isinstance(s, StudyRecord)]
        if not studies:
            return []
        study = studies[0]
        common = dict(patient_id=study.patient_id, sop_classes=study.sop_classes,
                      modalities=study.modalities)
        if level is QueryLevel.IMAGE:
            series = self._selected(QueryLevel.SERIES)
            images = [i for i in self._selected(QueryLevel.IMAGE)
                      if isinstance(i, InstanceRecord)]
            if images and series and isinstance(series[0], SeriesRecord):
                classes = tuple(dict.fromkeys(i.sop_class_uid for i in images))
                return [RetrieveScope.instances(
                    study.study_uid, series[0].series_uid,
                    *[i.sop_instance_uid for i in images],
                    patient_id=study.patient_id, sop_classes=classes)]
        if level in (QueryLevel.SERIES, QueryLevel.IMAGE):
            series = [s for s in self._selected(QueryLevel.SERIES)
                      if isinstance(s, SeriesRecord)]
            if series:
                return [RetrieveScope.series(study.study_uid, *[s.series_uid for s in series],
                                             **common)]
        return [RetrieveScope.study(s.study_uid, patient_id=s.patient_id,
                                    sop_classes=s.sop_classes, modalities=s.modalities)
                for s in studies]

    def labelled_scopes(self) -> list[tuple[RetrieveScope, str]]:
        """The scopes of :meth:`scopes`, each with the words that name it."""
        studies = {s.study_uid: s for s in self._selected(QueryLevel.STUDY)
                   if isinstance(s, StudyRecord)}
        series = [s for s in self._selected(QueryLevel.SERIES) if isinstance(s, SeriesRecord)]
        return [(scope, scope_words(scope, studies.get(scope.study_uid), series))
                for scope in self.scopes()]

    def already_here(self, scopes: list[tuple[RetrieveScope, str]],
                     ) -> dict[RetrieveScope, tuple[int, int | None]]:
        """Study retrieves with images already on disk: (have, total) for each."""
        model = self.models[QueryLevel.STUDY]
        totals = {r.study_uid: r.number_of_instances for r in model.records
                  if isinstance(r, StudyRecord)}
        found: dict[RetrieveScope, tuple[int, int | None]] = {}
        for scope, _label in scopes:
            have = model.local_counts.get(scope.study_uid, 0)
            if scope.level is QueryLevel.STUDY and have:
                found[scope] = (have, totals.get(scope.study_uid))
        return found

    def retrieve_selection(self, method: str = "") -> None:
        labelled = self.labelled_scopes()
        if not labelled:
            self.status.emit("Select a study, series or instances to retrieve")
            return
        self.retrieve_requested.emit(labelled, method)

    def _retrieve_level(self, level: QueryLevel, method: str) -> None:
        self._set_active(level)
        self.retrieve_selection(method)

    def _context_menu(self, view: QTableView, level: QueryLevel, pos: object) -> None:
        self._set_active(level)
        menu = QMenu(view)
        for text, method in (("Retrieve with C-MOVE", "move"), ("Retrieve with C-GET", "get")):
            action = QAction(text, menu)
            action.triggered.connect(lambda _=False, m=method: self.retrieve_selection(m))
            menu.addAction(action)
        menu.exec(view.viewport().mapToGlobal(pos))  # type: ignore[arg-type]
