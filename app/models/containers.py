"""`ContainersModel`: containers as a tree, grouped by compose project, updated row by row.

Top-level rows are either a container or a compose project (label `com.docker.compose.project`)
whose children are its containers. Rows change in place from events; CPU and memory columns come
from the one stats reader of the engine (`StatsService`), never from a timer per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap

from app.display import ContainerState, Tone, container_name, container_state, human_ago, human_size, ports_text
from engine.client import StatsSample

Index = QModelIndex | QPersistentModelIndex
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


class Column(IntEnum):
    NAME = 0
    IMAGE = 1
    STATE = 2
    CPU = 3
    MEMORY = 4
    PORTS = 5
    CREATED = 6


HEADERS = {
    Column.NAME: "Name",
    Column.IMAGE: "Image",
    Column.STATE: "State",
    Column.CPU: "CPU %",
    Column.MEMORY: "Memory",
    Column.PORTS: "Ports",
    Column.CREATED: "Created",
}

ID_ROLE = Qt.ItemDataRole.UserRole + 1
RUNNING_ROLE = Qt.ItemDataRole.UserRole + 2
TONE_ROLE = Qt.ItemDataRole.UserRole + 3
SORT_ROLE = Qt.ItemDataRole.UserRole + 4
PROJECT_ROLE = Qt.ItemDataRole.UserRole + 5  # on a project row: its name
HISTORY_ROLE = Qt.ItemDataRole.UserRole + 6  # CPU column: recent CPU % values for a sparkline
PORTS_ROLE = Qt.ItemDataRole.UserRole + 7  # published host ports (ints)
STATE_ROLE = Qt.ItemDataRole.UserRole + 8  # the raw engine state ("running", "paused", ...)

_DEFAULT_TONES = {
    Tone.OK: "#1a7f37",
    Tone.WARNING: "#9a6700",
    Tone.NEUTRAL: "#60656c",
    Tone.ERROR: "#cf222e",
    Tone.PENDING: "#0969da",
}
_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
# data() and index() run for every cell the view paints (about seven roles a cell): the columns and
# the roles answered are looked up in plain tuples and sets, not by making enum members each call,
# and a role answered nowhere returns before any lookup (scrolling 5,000 rows, issue 24).
_COLUMNS = tuple(Column)
_N_COLUMNS = len(_COLUMNS)
_ANSWERED = frozenset(int(role) for role in (
    Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.DecorationRole,
    Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.FontRole, SORT_ROLE, ID_ROLE, RUNNING_ROLE, STATE_ROLE,
    TONE_ROLE, HISTORY_ROLE, PORTS_ROLE, PROJECT_ROLE))
_TOP = 0  # internalId of top-level rows; children carry their project's number


def project_of(item: Mapping[str, Any]) -> str:
    labels = item.get("Labels") or {}
    return str(labels.get(PROJECT_LABEL, "")) if isinstance(labels, Mapping) else ""


def published_ports(item: Mapping[str, Any]) -> list[int]:
    ports = []
    for port in item.get("Ports") or []:
        public = port.get("PublicPort")
        if public and int(public) not in ports:
            ports.append(int(public))
    return ports


STOPPING = ContainerState("stopping…", Tone.PENDING)
_STOPPABLE = ("running", "paused", "restarting")


class ContainersModel(QAbstractItemModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._items: dict[str, dict[str, Any]] = {}
        self._states: dict[str, ContainerState] = {}
        self._stopping: set[str] = set()  # a stop asked and not yet seen to end: shown as "stopping…"
        self._top: list[str] = []  # "c:<id>" or "p:<project>"
        self._children: dict[str, list[str]] = {}  # project -> container ids
        self._project_numbers: dict[str, int] = {}
        self._project_names: dict[int, str] = {}
        self._stats: dict[str, StatsSample] = {}
        self._history: dict[str, list[float]] = {}
        self._tones = {tone: QColor(color) for tone, color in _DEFAULT_TONES.items()}
        self._dots: dict[Tone, QIcon] = {}
        self._bold = QFont()
        self._bold.setBold(True)

    # -- structure ---------------------------------------------------------------------------------

    def _number(self, project: str) -> int:
        number = self._project_numbers.get(project)
        if number is None:
            number = self._project_numbers[project] = len(self._project_numbers) + 1
            self._project_names[number] = project
        return number

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        if column < 0 or column >= _N_COLUMNS or row < 0:
            return QModelIndex()
        if not parent.isValid():
            if row >= len(self._top):
                return QModelIndex()
            return self.createIndex(row, column, _TOP)
        if parent.internalId() != _TOP:
            return QModelIndex()
        key = self._top[parent.row()] if parent.row() < len(self._top) else ""
        if not key.startswith("p:"):
            return QModelIndex()
        project = key[2:]
        if row >= len(self._children.get(project, [])):
            return QModelIndex()
        return self.createIndex(row, column, self._number(project))

    def sibling(self, row: int, column: int, index: Index) -> QModelIndex:
        # A sibling shares its index's parent, which the internal id says: no parent() and index() round
        # trip through Python for each of the cells the views and the proxy ask about.
        if not index.isValid() or column < 0 or column >= _N_COLUMNS or row < 0:
            return QModelIndex()
        if row == index.row():
            return self.createIndex(row, column, index.internalId())
        return super().sibling(row, column, index)

    def parent(self, child: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not child.isValid() or child.internalId() == _TOP:
            return QModelIndex()
        project = self._project_names.get(child.internalId(), "")
        try:
            row = self._top.index(f"p:{project}")
        except ValueError:
            return QModelIndex()
        return self.createIndex(row, 0, _TOP)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if not parent.isValid():
            return len(self._top)
        if parent.column() != 0 or parent.internalId() != _TOP or parent.row() >= len(self._top):
            return 0
        key = self._top[parent.row()]
        return len(self._children.get(key[2:], [])) if key.startswith("p:") else 0

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return _N_COLUMNS

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(
            Column
        ):
            return HEADERS[Column(section)]
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return _FLAGS

    def _key(self, index: Index) -> str:
        """ "c:<id>" or "p:<project>" for any valid index."""
        if index.internalId() == _TOP:
            return self._top[index.row()] if index.row() < len(self._top) else ""
        project = self._project_names.get(index.internalId(), "")
        children = self._children.get(project, [])
        return f"c:{children[index.row()]}" if index.row() < len(children) else ""

    # -- data ----------------------------------------------------------------------------------------

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role not in _ANSWERED or not index.isValid():
            return None
        key = self._key(index)
        if not key:
            return None
        column = _COLUMNS[index.column()]
        if key.startswith("p:"):
            return self._project_data(key[2:], column, role)
        id = key[2:]
        item = self._items[id]
        state = self._states[id]
        if id in self._stopping and str(item.get("State", "")).lower() in _STOPPABLE:
            state = STOPPING
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(id, item, state, column)
        if role == SORT_ROLE:
            if column == Column.CREATED:
                return int(item.get("Created", 0))
            if column == Column.CPU:
                sample = self._stats.get(id)
                return sample.cpu_percent if sample else -1.0
            if column == Column.MEMORY:
                sample = self._stats.get(id)
                return sample.memory if sample else -1
            return self._text(id, item, state, column).lower()
        if role == Qt.ItemDataRole.ForegroundRole and column == Column.STATE:
            return self._tones[state.tone]
        if role == Qt.ItemDataRole.DecorationRole and column == Column.STATE:
            return self._dot(state.tone)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(item, column)
        if role == ID_ROLE:
            return id
        if role == RUNNING_ROLE:
            return state.running
        if role == STATE_ROLE:
            return str(item.get("State", ""))
        if role == TONE_ROLE:
            return state.tone.value
        if role == HISTORY_ROLE and column == Column.CPU:
            return self._history.get(id, [])
        if role == PORTS_ROLE:
            return published_ports(item)
        return None

    def _project_data(self, project: str, column: Column, role: int) -> Any:
        ids = self._children.get(project, [])
        if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
            if column == Column.NAME:
                return project if role == Qt.ItemDataRole.DisplayRole else project.lower()
            if column == Column.STATE:
                running = sum(1 for id in ids if self._states[id].running)
                return f"{running}/{len(ids)} running"
            if column == Column.CPU:
                total = sum(self._stats[id].cpu_percent for id in ids if id in self._stats)
                return f"{total:.1f}" if role == Qt.ItemDataRole.DisplayRole else total
            if column == Column.MEMORY:
                total_memory = sum(self._stats[id].memory for id in ids if id in self._stats)
                return human_size(total_memory) if role == Qt.ItemDataRole.DisplayRole else total_memory
            if column == Column.CREATED:
                newest = max((int(self._items[id].get("Created", 0)) for id in ids), default=0)
                return human_ago(newest) if role == Qt.ItemDataRole.DisplayRole else newest
            return ""
        if role == Qt.ItemDataRole.FontRole and column == Column.NAME:
            return self._bold
        if role == Qt.ItemDataRole.ToolTipRole and column == Column.NAME:
            return f"compose project {project}: {len(ids)} containers"
        if role == PROJECT_ROLE:
            return project
        if role == ID_ROLE:
            return ""
        if role == RUNNING_ROLE:
            return any(self._states[id].running for id in ids)
        return None

    # -- updates -------------------------------------------------------------------------------------

    def set_containers(self, items: Iterable[dict[str, Any]]) -> None:
        """Bring the rows in line with a full listing, in place (a reset only when empty)."""
        incoming = {str(item.get("Id", "")): item for item in items}
        if sum(1 for id in incoming if id not in self._items) > 50:
            # Many new rows (first listing, a reconnect, another engine): one reset beats many inserts.
            self.beginResetModel()
            stats, history = self._stats, self._history
            self._items, self._states, self._top, self._children = {}, {}, [], {}
            for id, item in incoming.items():
                self._add(id, item)
            self._stats = {id: v for id, v in stats.items() if id in incoming}
            self._history = {id: v for id, v in history.items() if id in incoming}
            self.endResetModel()
            return
        if not self._items:
            self.beginResetModel()
            for id, item in incoming.items():
                self._add(id, item)
            self.endResetModel()
            return
        for id in [id for id in self._items if id not in incoming]:
            self.remove_container(id)
        changed = False
        for id, item in incoming.items():
            if id not in self._items:
                self.upsert(item)
            elif self._items[id] != item:
                # Changed rows are updated quietly and announced in one signal per parent below:
                # a thousand per-row signals would make the sorting proxy re-sort a thousand times.
                self._items[id] = item
                self._states[id] = container_state(item)
                if str(item.get("State", "")).lower() not in _STOPPABLE:
                    self._stopping.discard(id)
                changed = True
        if changed:
            last = _N_COLUMNS - 1
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._top) - 1, last))
            for project, ids in self._children.items():
                parent = self.index(self._top.index(f"p:{project}"), 0)
                self.dataChanged.emit(self.index(0, 0, parent), self.index(len(ids) - 1, last, parent))

    def _add(self, id: str, item: dict[str, Any]) -> None:
        self._items[id] = item
        self._states[id] = container_state(item)
        project = project_of(item)
        if project:
            if project not in self._children:
                self._children[project] = []
                self._number(project)
                self._top.append(f"p:{project}")
            self._children[project].append(id)
        else:
            self._top.append(f"c:{id}")

    def upsert(self, item: dict[str, Any]) -> None:
        id = str(item.get("Id", ""))
        if id not in self._items:
            project = project_of(item)
            if project and project in self._children:
                parent = self.index(self._top.index(f"p:{project}"), 0)
                position = len(self._children[project])
                self.beginInsertRows(parent, position, position)
                self._items[id] = item
                self._states[id] = container_state(item)
                self._children[project].append(id)
                self.endInsertRows()
                self._project_changed(project)
            else:
                position = len(self._top)
                self.beginInsertRows(QModelIndex(), position, position)
                self._add(id, item)
                self.endInsertRows()
            return
        if self._items[id] == item:
            return
        self._items[id] = item
        self._states[id] = container_state(item)
        if str(item.get("State", "")).lower() not in _STOPPABLE:
            self._stopping.discard(id)  # the engine reports it stopped
        index = self.index_of(id)
        if index is not None:
            self.dataChanged.emit(index, index.siblingAtColumn(_N_COLUMNS - 1))
        project = project_of(item)
        if project:
            self._project_changed(project)

    def set_stopping(self, id: str, on: bool) -> None:
        """A stop was asked (on) or failed (off): the row says "stopping…" until the engine reports
        the container stopped, not "running" for the stop's 10 s grace period."""
        if id not in self._items or (id in self._stopping) == on:
            return
        if on:
            self._stopping.add(id)
        else:
            self._stopping.discard(id)
        index = self.index_of(id)
        if index is not None:
            self.dataChanged.emit(index, index.siblingAtColumn(_N_COLUMNS - 1))

    def _project_changed(self, project: str) -> None:
        row = self._top.index(f"p:{project}")
        self.dataChanged.emit(self.index(row, 0), self.index(row, _N_COLUMNS - 1))

    def remove_container(self, id: str) -> None:
        index = self.index_of(id)
        if index is None:
            return
        project = project_of(self._items[id])
        if project and len(self._children[project]) == 1:
            row = self._top.index(f"p:{project}")
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._top[row]
            del self._children[project]
            self._forget(id)
            self.endRemoveRows()
            return
        self.beginRemoveRows(index.parent(), index.row(), index.row())
        if project:
            self._children[project].remove(id)
        else:
            del self._top[index.row()]
        self._forget(id)
        self.endRemoveRows()
        if project:
            self._project_changed(project)

    def _forget(self, id: str) -> None:
        del self._items[id]
        del self._states[id]
        self._stopping.discard(id)
        self._stats.pop(id, None)
        self._history.pop(id, None)

    def clear(self) -> None:
        if not self._items:
            return
        self.beginResetModel()
        self._items.clear()
        self._states.clear()
        self._stopping.clear()
        self._top.clear()
        self._children.clear()
        self._stats.clear()
        self._history.clear()
        self.endResetModel()

    def set_stats(self, samples: Mapping[str, StatsSample], history: Mapping[str, list[float]]) -> None:
        """New readings from the stats reader: one dataChanged per parent for the CPU/memory columns."""
        changed = [id for id in samples if id in self._items]
        if not changed:
            return
        for id in changed:
            self._stats[id] = samples[id]
            self._history[id] = list(history.get(id, []))
        roles = [Qt.ItemDataRole.DisplayRole, SORT_ROLE, HISTORY_ROLE]
        # Only the rows that changed (a project's row with its members): one range over every top row
        # made the proxy filter all of them again each second, 5,000 rows with a few running.
        top = {key: row for row, key in enumerate(self._top)}
        rows = {top[f"c:{id}"] for id in changed if f"c:{id}" in top}
        for project, ids in self._children.items():
            if any(id in samples for id in ids):
                parent = self.index(top[f"p:{project}"], 0)
                rows.add(top[f"p:{project}"])
                self.dataChanged.emit(
                    self.index(0, Column.CPU, parent), self.index(len(ids) - 1, Column.MEMORY, parent), roles
                )
        for first, last in _runs(sorted(rows)):
            self.dataChanged.emit(self.index(first, Column.CPU), self.index(last, Column.MEMORY), roles)

    def set_tone_colors(self, colors: dict[Tone, QColor]) -> None:
        self._tones = dict(colors)
        self._dots.clear()
        if self._top:
            self.dataChanged.emit(self.index(0, Column.STATE), self.index(len(self._top) - 1, Column.STATE))

    def _dot(self, tone: Tone) -> QIcon:
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

    # -- lookups -------------------------------------------------------------------------------------

    def resolve(self, id: str) -> str | None:
        """The full id of a container given its full or short id."""
        if id in self._items:
            return id
        if id:
            for full in self._items:
                if full.startswith(id):
                    return full
        return None

    def index_of(self, id: str, column: int = 0) -> QModelIndex | None:
        full = self.resolve(id)
        if full is None:
            return None
        project = project_of(self._items[full])
        if project:
            parent = self.index(self._top.index(f"p:{project}"), 0)
            return self.index(self._children[project].index(full), column, parent)
        return self.index(self._top.index(f"c:{full}"), column)

    def ids(self) -> list[str]:
        return list(self._items)

    def container(self, id: str) -> dict[str, Any] | None:
        full = self.resolve(id)
        return self._items[full] if full else None

    def state_of(self, id: str) -> ContainerState | None:
        full = self.resolve(id)
        return self._states[full] if full else None

    def project_ids(self, project: str) -> list[str]:
        return list(self._children.get(project, []))

    def find_by_name(self, name: str) -> str | None:
        for id, item in self._items.items():
            if container_name(item) == name:
                return id
        return None

    def stats_of(self, id: str) -> StatsSample | None:
        return self._stats.get(id)

    def __len__(self) -> int:
        return len(self._items)

    # -- text ----------------------------------------------------------------------------------------

    def _text(self, id: str, item: dict[str, Any], state: ContainerState, column: Column) -> str:
        if column == Column.NAME:
            name = container_name(item)
            service = (item.get("Labels") or {}).get(SERVICE_LABEL)
            return f"{name}" if not service else name
        if column == Column.IMAGE:
            return str(item.get("Image", ""))
        if column == Column.STATE:
            return state.word
        if column == Column.CPU:
            sample = self._stats.get(id)
            return f"{sample.cpu_percent:.1f}" if sample and state.running else ""
        if column == Column.MEMORY:
            sample = self._stats.get(id)
            return human_size(sample.memory) if sample and state.running else ""
        if column == Column.CREATED:
            return human_ago(float(item.get("Created", 0)))
        return ports_text(item.get("Ports"))

    @staticmethod
    def _tooltip(item: dict[str, Any], column: Column) -> str | None:
        if column == Column.NAME:
            return f"{item.get('Id', '')}\n{item.get('Command', '')}"
        if column == Column.STATE:
            return str(item.get("Status", ""))
        if column == Column.PORTS and published_ports(item):
            return "Click to open in the browser"
        return None


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Sorted row numbers as (first, last) runs of consecutive rows."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and runs[-1][1] == row - 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs
