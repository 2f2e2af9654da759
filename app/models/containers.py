"""`ContainersModel`: the containers list as a Qt table, updated row by row (no reset on change)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap

from app.display import ContainerState, Tone, container_name, container_state, human_ago, ports_text

Index = QModelIndex | QPersistentModelIndex


class Column(IntEnum):
    NAME = 0
    IMAGE = 1
    STATE = 2
    CREATED = 3
    PORTS = 4


HEADERS = {
    Column.NAME: "Name",
    Column.IMAGE: "Image",
    Column.STATE: "State",
    Column.CREATED: "Created",
    Column.PORTS: "Ports",
}

# Custom roles: what views and actions need beyond the displayed text.
ID_ROLE = Qt.ItemDataRole.UserRole + 1
RUNNING_ROLE = Qt.ItemDataRole.UserRole + 2
TONE_ROLE = Qt.ItemDataRole.UserRole + 3
SORT_ROLE = Qt.ItemDataRole.UserRole + 4

_DEFAULT_TONES = {
    Tone.OK: "#1a7f37",
    Tone.WARNING: "#9a6700",
    Tone.NEUTRAL: "#60656c",
    Tone.ERROR: "#cf222e",
    Tone.PENDING: "#0969da",
}


class ContainersModel(QAbstractTableModel):
    """Rows are `/containers/json` entries, keyed by container id."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[dict[str, Any]] = []
        self._states: list[ContainerState] = []
        self._tones = {tone: QColor(color) for tone, color in _DEFAULT_TONES.items()}
        self._dots: dict[Tone, QIcon] = {}

    # -- Qt model interface ----------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(Column):
            return HEADERS[Column(section)]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        item = self._rows[index.row()]
        state = self._states[index.row()]
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(item, state, column)
        if role == SORT_ROLE:
            if column == Column.CREATED:
                return int(item.get("Created", 0))
            return self._text(item, state, column).lower()
        if role == Qt.ItemDataRole.ForegroundRole and column == Column.STATE:
            return self._tones[state.tone]
        if role == Qt.ItemDataRole.DecorationRole and column == Column.STATE:
            return self._dot(state.tone)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(item, column)
        if role == ID_ROLE:
            return str(item.get("Id", ""))
        if role == RUNNING_ROLE:
            return state.running
        if role == TONE_ROLE:
            return state.tone.value
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    # -- updates ---------------------------------------------------------------------------------

    def set_containers(self, items: Iterable[dict[str, Any]]) -> None:
        """Bring the rows in line with a full listing, in place: changed rows update, others stay."""
        incoming = {str(item.get("Id", "")): item for item in items}
        for id in [str(row.get("Id", "")) for row in self._rows]:
            if id not in incoming:
                self.remove_container(id)
        for item in incoming.values():
            self.upsert(item)

    def upsert(self, item: dict[str, Any]) -> None:
        id = str(item.get("Id", ""))
        row = self.row_of(id)
        if row is None:
            position = len(self._rows)
            self.beginInsertRows(QModelIndex(), position, position)
            self._rows.append(item)
            self._states.append(container_state(item))
            self.endInsertRows()
            return
        if self._rows[row] == item:
            return
        self._rows[row] = item
        self._states[row] = container_state(item)
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(Column) - 1))

    def remove_container(self, id: str) -> None:
        row = self.row_of(id)
        if row is None:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._rows[row]
        del self._states[row]
        self.endRemoveRows()

    def clear(self) -> None:
        if not self._rows:
            return
        self.beginResetModel()
        self._rows.clear()
        self._states.clear()
        self.endResetModel()

    def refresh_times(self) -> None:
        """ "3 minutes ago" ages without any engine traffic: repaint the Created column."""
        if self._rows:
            self.dataChanged.emit(
                self.index(0, Column.CREATED),
                self.index(len(self._rows) - 1, Column.CREATED),
                [Qt.ItemDataRole.DisplayRole],
            )

    def set_tone_colors(self, colors: dict[Tone, QColor]) -> None:
        self._tones = dict(colors)
        self._dots.clear()
        if self._rows:
            self.dataChanged.emit(
                self.index(0, Column.STATE),
                self.index(len(self._rows) - 1, Column.STATE),
                [Qt.ItemDataRole.ForegroundRole],
            )

    def _dot(self, tone: Tone) -> QIcon:
        # A coloured dot beside the state word: still readable when a selection repaints the text.
        icon = self._dots.get(tone)
        if icon is None:
            pixmap = QPixmap(12, 12)
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(self._tones[tone])
            painter.drawEllipse(2, 2, 8, 8)
            painter.end()
            icon = self._dots[tone] = QIcon(pixmap)
        return icon

    # -- lookups ---------------------------------------------------------------------------------

    def row_of(self, id: str) -> int | None:
        # A short id (12 chars) matches too, as people and events may give either.
        for row, item in enumerate(self._rows):
            if str(item.get("Id", "")).startswith(id) and id:
                return row
        return None

    def container_at(self, row: int) -> dict[str, Any]:
        return self._rows[row]

    def state_at(self, row: int) -> ContainerState:
        return self._states[row]

    # -- text ------------------------------------------------------------------------------------

    @staticmethod
    def _text(item: dict[str, Any], state: ContainerState, column: Column) -> str:
        if column == Column.NAME:
            return container_name(item)
        if column == Column.IMAGE:
            return str(item.get("Image", ""))
        if column == Column.STATE:
            return state.word
        if column == Column.CREATED:
            return human_ago(float(item.get("Created", 0)))
        return ports_text(item.get("Ports"))

    @staticmethod
    def _tooltip(item: dict[str, Any], column: Column) -> str | None:
        if column == Column.NAME:
            return f"{item.get('Id', '')}\n{item.get('Command', '')}"
        if column == Column.STATE:
            return str(item.get("Status", ""))
        return None
