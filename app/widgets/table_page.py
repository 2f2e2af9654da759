"""What every list page does with its table: a keyed model behind a sort proxy, one row selected at a
time, actions on the selected row's key, and a message line for errors and hints."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractItemModel, QSortFilterProxyModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QLabel, QTableView, QWidget

from app.models.resources import ITEM_ROLE, KEY_ROLE, SORT_ROLE, ResourceModel
from app.widgets.chrome import show_message, uniform_rows, wraps_in_place


def keyed_table(parent: QWidget, model: QAbstractItemModel, name: str, widths: tuple[int, ...] = (),
                sort_by_first: bool = True) -> tuple[QTableView, QSortFilterProxyModel]:
    """A sortable table of whole rows, one selected at a time, over a proxy of `model`."""
    proxy = QSortFilterProxyModel(parent)
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    table = QTableView(parent)
    table.setObjectName(name)
    table.setModel(proxy)
    table.setSortingEnabled(True)
    if sort_by_first:
        table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    table.verticalHeader().hide()
    table.horizontalHeader().setStretchLastSection(True)
    uniform_rows(table)
    for column, width in enumerate(widths):
        table.setColumnWidth(column, width)
    return table, proxy


def message_label(parent: QWidget, name: str) -> QLabel:
    """The page's in-place message line, hidden until there is something to say."""
    label = QLabel(parent)
    label.setObjectName(name)
    label.setProperty("role", "error")
    wraps_in_place(label)
    label.hide()
    return label


class KeyedTablePage:
    """Mixed into a page (before QWidget) that has `model`, `proxy`, `table` and `message`."""

    model: ResourceModel
    proxy: QSortFilterProxyModel
    table: QTableView
    message: QLabel

    def selected_key(self) -> str:
        rows = self.table.selectionModel().selectedRows()
        return str(self.proxy.mapToSource(rows[0]).data(KEY_ROLE)) if rows else ""

    def selected_item(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        return self.proxy.mapToSource(rows[0]).data(ITEM_ROLE) if rows else None

    def select_key(self, key: str) -> bool:
        row = self.model.row_of(key)
        if row is None:
            return False
        self.table.selectRow(self.proxy.mapFromSource(self.model.index(row, 0)).row())
        return True

    def _emit_selected(self, signal: Any, *more: object) -> None:
        """`signal` with the selected row's key (and `more`), when a row is selected."""
        key = self.selected_key()
        if key:
            self.clear_message()
            signal.emit(key, *more)

    def show_error(self, text: str) -> None:
        show_message(self.message, text, "error")

    def show_info(self, text: str) -> None:
        show_message(self.message, text, "hint")

    def clear_message(self) -> None:
        self.message.hide()
