"""The Containers page: a sortable table with Start/Stop/Remove, and in-place engine messages.

A view only: it shows a `ContainersModel` and asks for actions through signals; the window decides
what they do (services) and whether to confirm (dialogs).
"""

from __future__ import annotations

import html

from PySide6.QtCore import QItemSelection, QSortFilterProxyModel, Qt, QTimer, Signal, SignalInstance
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QStackedWidget,
    QTableView,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.models.containers import ID_ROLE, RUNNING_ROLE, SORT_ROLE, Column, ContainersModel
from app.resources import icon_path
from app.services.engine import EngineStatus
from app.widgets.unreachable import EngineUnreachablePanel

EMPTY_HINT = (
    "<h3>No containers yet</h3>"
    "Containers are running (or stopped) instances of images. Run a first one from a terminal:<br>"
    "<code>berth run -d --name hello busybox sleep 300</code><br>"
    "It appears here at once."
)


class ContainersPage(QWidget):
    startRequested = Signal(list)  # container ids
    stopRequested = Signal(list)
    removeRequested = Signal(list)
    retryRequested = Signal()

    def __init__(self, model: ContainersModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(model)
        self.proxy.setSortRole(SORT_ROLE)

        self.toolbar = QToolBar("Container actions", self)
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.action_start = self._action("start", "Start", "Start the selected containers (docker start)")
        self.action_stop = self._action("stop", "Stop", "Stop the selected containers (docker stop)")
        self.action_remove = self._action("remove", "Remove", "Remove the selected containers (docker rm)")
        self.action_remove.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        self.action_start.triggered.connect(lambda: self._request(self.startRequested, running=False))
        self.action_stop.triggered.connect(lambda: self._request(self.stopRequested, running=True))
        self.action_remove.triggered.connect(lambda: self._request(self.removeRequested, running=None))

        self.table = QTableView(self)
        self.table.setObjectName("containers-table")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(Column.CREATED, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(Column.NAME, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(Column.NAME, 180)
        self.table.setColumnWidth(Column.IMAGE, 160)
        self.table.setColumnWidth(Column.STATE, 130)
        self.table.setColumnWidth(Column.CREATED, 150)
        self.table.addActions([self.action_start, self.action_stop, self.action_remove])
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        model.dataChanged.connect(self._update_actions)
        model.rowsInserted.connect(self._update_view)
        model.rowsRemoved.connect(self._update_view)
        model.modelReset.connect(self._update_view)

        self.message = QLabel(self)
        self.message.setObjectName("containers-message")
        self.message.setProperty("role", "error")
        self.message.setWordWrap(True)
        self.message.hide()

        self.empty = QLabel(EMPTY_HINT, self)
        self.empty.setObjectName("containers-empty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.connecting = QLabel("Connecting to the engine…", self)
        self.connecting.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.connecting.setProperty("role", "hint")
        self.unreachable = EngineUnreachablePanel(self)
        self.unreachable.retryRequested.connect(self.retryRequested)

        self.stack = QStackedWidget(self)
        for widget in (self.connecting, self.table, self.empty, self.unreachable):
            self.stack.addWidget(widget)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.setSpacing(4)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.message)
        layout.addWidget(self.stack, 1)

        self._reachable: bool | None = None
        # "Created 3 minutes ago" ages by itself: repaint the column now and then, no engine traffic.
        self._clock = QTimer(self)
        self._clock.setInterval(30_000)
        self._clock.timeout.connect(model.refresh_times)
        self._clock.start()
        self._update_actions()

    def _action(self, name: str, text: str, tip: str) -> QAction:
        action = QAction(QIcon(str(icon_path(name))), text, self)
        action.setObjectName(f"action-{name}")
        action.setToolTip(tip)
        self.toolbar.addAction(action)
        return action

    # -- engine status ---------------------------------------------------------------------------

    def show_engine_status(self, status: EngineStatus) -> None:
        self._reachable = status.reachable
        if status.reachable is False:
            self.unreachable.show_unreachable(status.url, status.reason or "it does not answer")
            self.clear_message()
        self._update_view()

    def show_error(self, text: str) -> None:
        self.message.setText(html.escape(text))
        self.message.show()

    def clear_message(self) -> None:
        self.message.clear()
        self.message.hide()

    # -- selection -------------------------------------------------------------------------------

    def selected_rows(self) -> list[int]:
        rows = {self.proxy.mapToSource(index).row() for index in self.table.selectionModel().selectedRows()}
        return sorted(rows)

    def selected_ids(self, running: bool | None = None) -> list[str]:
        ids = []
        for row in self.selected_rows():
            index = self.model.index(row, 0)
            if running is None or bool(self.model.data(index, RUNNING_ROLE)) == running:
                ids.append(str(self.model.data(index, ID_ROLE)))
        return ids

    def select_container(self, id: str) -> bool:
        row = self.model.row_of(id)
        if row is None:
            return False
        self.table.selectRow(self.proxy.mapFromSource(self.model.index(row, 0)).row())
        return True

    def _request(self, signal: SignalInstance, running: bool | None) -> None:
        ids = self.selected_ids(running)
        if ids:
            self.clear_message()
            signal.emit(ids)

    def _on_selection(self, selected: QItemSelection, deselected: QItemSelection) -> None:
        self._update_actions()

    def _update_actions(self) -> None:
        reachable = self._reachable is True
        self.action_start.setEnabled(reachable and bool(self.selected_ids(running=False)))
        self.action_stop.setEnabled(reachable and bool(self.selected_ids(running=True)))
        self.action_remove.setEnabled(reachable and bool(self.selected_ids()))

    def _update_view(self) -> None:
        if self._reachable is False:
            target: QWidget = self.unreachable
        elif self._reachable is None:
            target = self.connecting
        elif self.model.rowCount() == 0:
            target = self.empty
        else:
            target = self.table
        self.stack.setCurrentWidget(target)
        self.toolbar.setEnabled(self._reachable is True)
        self._update_actions()
