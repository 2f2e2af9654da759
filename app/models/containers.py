"""`ContainersModel`: containers as a tree, grouped by compose project, updated row by row.

Top-level rows are either a container or a compose project (label `com.docker.compose.project`)
whose children are its containers: each row is a node object (`ContainerNode`, `ProjectNode`) that
knows its row, so an index finds its node and a node its index without searching. Rows change in
place from events; CPU and memory columns come from the one stats reader of the engine
(`StatsService`), never from a timer per row.

The model sorts itself (`sort`), by one key per row, and keeps its rows in that order as they change:
a sorting proxy over 5,000 rows asked ~68,000 cells through Python for its comparisons, half a
second's stall at the first listing (issue 24). The page's proxy only filters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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


class ContainerNode:
    """One container's row: its `/containers/json` entry, its state, and where it sits."""

    __slots__ = ("_state", "id", "item", "project", "row", "seq")

    def __init__(self, id: str, item: dict[str, Any], project: ProjectNode | None, seq: int) -> None:
        self.id = id
        self.item = item
        self._state: ContainerState | None = None  # read at its first use: a listing of 5,000 reads a screenful
        self.project = project  # the compose project whose row holds it, or None at the top
        self.row = 0  # its row under its parent, kept current by the model
        self.seq = seq  # arrival order: ties in a sort keep it, as a stable sort of the listing would

    @property
    def state(self) -> ContainerState:
        if self._state is None:
            self._state = container_state(self.item)
        return self._state

    def update(self, item: dict[str, Any]) -> None:
        self.item = item
        self._state = None


class ProjectNode:
    """A compose project's row and its containers' rows."""

    __slots__ = ("children", "name", "number", "row", "seq")

    def __init__(self, name: str, number: int, seq: int) -> None:
        self.name = name
        self.children: list[ContainerNode] = []
        self.number = number  # the internal id of its children's indexes (never _TOP)
        self.row = 0
        self.seq = seq


Node = ContainerNode | ProjectNode


class ContainersModel(QAbstractItemModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._nodes: dict[str, ContainerNode] = {}  # id -> its row, in arrival order
        self._projects: dict[str, ProjectNode] = {}
        self._numbered: dict[int, ProjectNode] = {}  # an index's internal id -> the project holding it
        self._top: list[Node] = []
        self._stopping: set[str] = set()  # a stop asked and not yet seen to end: shown as "stopping…"
        self._stats: dict[str, StatsSample] = {}
        self._history: dict[str, list[float]] = {}
        self._sort_column = -1  # -1: arrival order
        self._descending = False
        self._seq = 0
        self._next_number = _TOP + 1
        self._tones = {tone: QColor(color) for tone, color in _DEFAULT_TONES.items()}
        self._dots: dict[Tone, QIcon] = {}
        self._bold = QFont()
        self._bold.setBold(True)

    # -- structure ---------------------------------------------------------------------------------

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        if column < 0 or column >= _N_COLUMNS or row < 0:
            return QModelIndex()
        if not parent.isValid():
            if row >= len(self._top):
                return QModelIndex()
            return self.createIndex(row, column, _TOP)
        node = self.node(parent)
        if not isinstance(node, ProjectNode) or row >= len(node.children):
            return QModelIndex()
        return self.createIndex(row, column, node.number)

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
        project = self._numbered.get(child.internalId())
        if project is None:
            return QModelIndex()
        return self.createIndex(project.row, 0, _TOP)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if not parent.isValid():
            return len(self._top)
        if parent.column() != 0:
            return 0
        node = self.node(parent)
        return len(node.children) if isinstance(node, ProjectNode) else 0

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

    def node(self, index: Index) -> Node | None:
        """The row an index of this model points at (None for an invalid or stale one)."""
        if not index.isValid():
            return None
        row = index.row()
        internal = index.internalId()
        if internal == _TOP:
            return self._top[row] if row < len(self._top) else None
        project = self._numbered.get(internal)
        if project is None or row >= len(project.children):
            return None
        return project.children[row]

    def index_of_node(self, node: Node, column: int = 0) -> QModelIndex:
        if isinstance(node, ContainerNode) and node.project is not None:
            return self.createIndex(node.row, column, node.project.number)
        return self.createIndex(node.row, column, _TOP)

    # -- data ----------------------------------------------------------------------------------------

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role not in _ANSWERED:
            return None
        node = self.node(index)
        if node is None:
            return None
        column = _COLUMNS[index.column()]
        if isinstance(node, ProjectNode):
            return self._project_data(node, column, role)
        id, item = node.id, node.item
        state = self._shown_state(node)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(id, item, state, column)
        if role == SORT_ROLE:
            return self._container_key(node, column)
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

    def _shown_state(self, node: ContainerNode) -> ContainerState:
        if node.id in self._stopping and str(node.item.get("State", "")).lower() in _STOPPABLE:
            return STOPPING
        return node.state

    def _container_key(self, node: ContainerNode, column: Column) -> Any:
        """What a container's row sorts by in `column` (its SORT_ROLE)."""
        if column == Column.CREATED:
            return int(node.item.get("Created", 0))
        if column == Column.CPU:
            sample = self._stats.get(node.id)
            return sample.cpu_percent if sample else -1.0
        if column == Column.MEMORY:
            sample = self._stats.get(node.id)
            return sample.memory if sample else -1
        return self._text(node.id, node.item, self._shown_state(node), column).lower()

    def _project_data(self, project: ProjectNode, column: Column, role: int) -> Any:
        children = project.children
        if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
            if column == Column.NAME:
                return project.name if role == Qt.ItemDataRole.DisplayRole else project.name.lower()
            if column == Column.STATE:
                running = sum(1 for node in children if node.state.running)
                return f"{running}/{len(children)} running"
            if column == Column.CPU:
                total = sum(self._stats[node.id].cpu_percent for node in children if node.id in self._stats)
                return f"{total:.1f}" if role == Qt.ItemDataRole.DisplayRole else total
            if column == Column.MEMORY:
                total_memory = sum(self._stats[node.id].memory for node in children if node.id in self._stats)
                return human_size(total_memory) if role == Qt.ItemDataRole.DisplayRole else total_memory
            if column == Column.CREATED:
                newest = max((int(node.item.get("Created", 0)) for node in children), default=0)
                return human_ago(newest) if role == Qt.ItemDataRole.DisplayRole else newest
            return ""
        if role == Qt.ItemDataRole.FontRole and column == Column.NAME:
            return self._bold
        if role == Qt.ItemDataRole.ToolTipRole and column == Column.NAME:
            return f"compose project {project.name}: {len(children)} containers"
        if role == PROJECT_ROLE:
            return project.name
        if role == ID_ROLE:
            return ""
        if role == RUNNING_ROLE:
            return any(node.state.running for node in children)
        return None

    # -- sorting -------------------------------------------------------------------------------------

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort every level by `column` (-1: arrival order) and keep it sorted as rows change."""
        self._sort_column = column if 0 <= column < _N_COLUMNS else -1
        self._descending = order == Qt.SortOrder.DescendingOrder
        self._resort()

    def sort_column(self) -> int:
        return self._sort_column

    def _key(self, node: Node) -> Any:
        column = _COLUMNS[self._sort_column]
        if isinstance(node, ProjectNode):
            return self._project_data(node, column, SORT_ROLE)
        return self._container_key(node, column)

    def _sorted(self, level: Sequence[Node]) -> list[Node]:
        # Arrival order, then a stable sort by key: equal keys stay in arrival order in either
        # direction, as QSortFilterProxyModel's stable sort of the listing left them.
        ordered = sorted(level, key=_arrival)
        if self._sort_column >= 0:
            ordered.sort(key=self._key, reverse=self._descending)
        return ordered

    def _precedes(self, first: Node, second: Node) -> bool:
        """Whether `first` sorts before `second` (equal keys: the one that came first)."""
        mine, theirs = self._key(first), self._key(second)
        if mine == theirs:
            return first.seq < second.seq
        return bool(mine > theirs) if self._descending else bool(mine < theirs)

    def _sort_all(self) -> bool:
        """Put every level in order, quietly; whether any row moved."""
        moved = False
        top = self._sorted(self._top)
        if top != self._top:
            self._top[:] = top
            moved = True
        for project in self._projects.values():
            children = self._sorted(project.children)
            if children != project.children:
                project.children[:] = children  # type: ignore[assignment]
                moved = True
        _renumber(self._top)
        for project in self._projects.values():
            _renumber(project.children)
        return moved

    def _resort(self) -> None:
        """Bring the rows in order, telling views (and their selections) where rows went."""
        if not self._top:
            return
        self.layoutAboutToBeChanged.emit()
        kept = [(index, self.node(index), index.column()) for index in self.persistentIndexList()]
        if self._sort_all():
            self.changePersistentIndexList(
                [index for index, _, _ in kept],
                [self.index_of_node(node, column) if node is not None else QModelIndex() for _, node, column in kept])
        self.layoutChanged.emit()

    def _in_order(self, node: Node) -> bool:
        """Whether `node` still sits between its neighbours in the sort order."""
        if self._sort_column < 0:
            return True
        level: Sequence[Node] = (
            node.project.children if isinstance(node, ContainerNode) and node.project is not None else self._top)
        row = node.row
        if row > 0 and not self._precedes(level[row - 1], node):
            return False
        return not (row + 1 < len(level) and not self._precedes(node, level[row + 1]))

    def _keep_sorted(self, nodes: Iterable[Node]) -> None:
        """After `nodes` changed: sort again if one of them (or its project) is out of order."""
        if self._sort_column < 0:
            return
        for node in nodes:
            if not self._in_order(node) or (
                    isinstance(node, ContainerNode) and node.project is not None and not self._in_order(node.project)):
                self._resort()
                return

    def _position(self, level: Sequence[Node], node: Node) -> int:
        """Where a new `node` goes in a sorted `level`: before the first row it precedes."""
        if self._sort_column < 0:
            return len(level)
        low, high = 0, len(level)
        while low < high:
            middle = (low + high) // 2
            if self._precedes(node, level[middle]):
                high = middle
            else:
                low = middle + 1
        return low

    # -- updates -------------------------------------------------------------------------------------

    def set_containers(self, items: Iterable[dict[str, Any]]) -> None:
        """Bring the rows in line with a full listing, in place (a reset only when empty)."""
        incoming = {str(item.get("Id", "")): item for item in items}
        if not self._nodes or sum(1 for id in incoming if id not in self._nodes) > 50:
            # Many new rows (first listing, a reconnect, another engine): one reset beats many inserts.
            self.beginResetModel()
            stats, history = self._stats, self._history
            self._reset()
            for id, item in incoming.items():
                self._add(id, item)
            self._stats = {id: v for id, v in stats.items() if id in incoming}
            self._history = {id: v for id, v in history.items() if id in incoming}
            self._sort_all()
            self.endResetModel()
            return
        for id in [id for id in self._nodes if id not in incoming]:
            self.remove_container(id)
        changed: list[Node] = []
        for id, item in incoming.items():
            node = self._nodes.get(id)
            if node is None:
                self.upsert(item)
            elif node.item != item:
                # Changed rows are updated quietly and announced in one signal per parent below:
                # a thousand per-row signals would make the sorting proxy re-sort a thousand times.
                self._update(node, item)
                changed.append(node)
        if changed:
            last = _N_COLUMNS - 1
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._top) - 1, last))
            for project in self._projects.values():
                parent = self.index_of_node(project)
                self.dataChanged.emit(self.index(0, 0, parent), self.index(len(project.children) - 1, last, parent))
            self._keep_sorted(changed)

    def _reset(self) -> None:
        self._nodes, self._projects, self._numbered, self._top = {}, {}, {}, []

    def _update(self, node: ContainerNode, item: dict[str, Any]) -> None:
        node.update(item)
        if str(item.get("State", "")).lower() not in _STOPPABLE:
            self._stopping.discard(node.id)  # the engine reports it stopped

    def _project(self, name: str) -> ProjectNode:
        """The project's node, made (not yet placed) when it is new."""
        project = self._projects.get(name)
        if project is None:
            self._seq += 1
            project = self._projects[name] = ProjectNode(name, self._next_number, self._seq)
            self._numbered[project.number] = project
            self._next_number += 1
        return project

    def _add(self, id: str, item: dict[str, Any]) -> None:
        """A container's row at the end of its level, quietly (inside a reset)."""
        name = project_of(item)
        project = None
        if name:
            new = name not in self._projects
            project = self._project(name)
            if new:
                project.row = len(self._top)
                self._top.append(project)
        self._seq += 1
        node = self._nodes[id] = ContainerNode(id, item, project, self._seq)
        level: list[Any] = project.children if project is not None else self._top
        node.row = len(level)
        level.append(node)

    def upsert(self, item: dict[str, Any]) -> None:
        id = str(item.get("Id", ""))
        node = self._nodes.get(id)
        if node is None:
            self._insert(id, item)
            return
        if node.item == item:
            return
        self._update(node, item)
        index = self.index_of_node(node)
        self.dataChanged.emit(index, index.siblingAtColumn(_N_COLUMNS - 1))
        if node.project is not None:
            self._project_changed(node.project)
        self._keep_sorted([node])

    def _insert(self, id: str, item: dict[str, Any]) -> None:
        """A new container's row, at its place in the order (a new project's row with it)."""
        name = project_of(item)
        project = self._projects.get(name) if name else None
        self._seq += 1
        node = ContainerNode(id, item, project, self._seq)
        if project is not None:
            position = self._position(project.children, node)
            self.beginInsertRows(self.index_of_node(project), position, position)
            self._nodes[id] = node
            project.children.insert(position, node)
            _renumber(project.children, position)
            self.endInsertRows()
            self._project_changed(project)
            self._keep_sorted([project])
            return
        top: Node = node
        if name:
            project = node.project = self._project(name)
            project.children.append(node)
            top = project
        position = self._position(self._top, top)
        self.beginInsertRows(QModelIndex(), position, position)
        self._nodes[id] = node
        self._top.insert(position, top)
        _renumber(self._top, position)
        self.endInsertRows()

    def set_stopping(self, id: str, on: bool) -> None:
        """A stop was asked (on) or failed (off): the row says "stopping…" until the engine reports
        the container stopped, not "running" for the stop's 10 s grace period."""
        node = self._nodes.get(id)
        if node is None or (id in self._stopping) == on:
            return
        if on:
            self._stopping.add(id)
        else:
            self._stopping.discard(id)
        index = self.index_of_node(node)
        self.dataChanged.emit(index, index.siblingAtColumn(_N_COLUMNS - 1))
        self._keep_sorted([node])

    def _project_changed(self, project: ProjectNode) -> None:
        self.dataChanged.emit(self.index_of_node(project), self.index_of_node(project, _N_COLUMNS - 1))

    def remove_container(self, id: str) -> None:
        full = self.resolve(id)
        if full is None:
            return
        node = self._nodes[full]
        project = node.project
        if project is not None and len(project.children) == 1:
            self.beginRemoveRows(QModelIndex(), project.row, project.row)
            del self._top[project.row]
            _renumber(self._top, project.row)
            del self._projects[project.name]
            del self._numbered[project.number]
            self._forget(full)
            self.endRemoveRows()
            return
        parent = self.index_of_node(project) if project is not None else QModelIndex()
        level: list[Any] = project.children if project is not None else self._top
        self.beginRemoveRows(parent, node.row, node.row)
        del level[node.row]
        _renumber(level, node.row)
        self._forget(full)
        self.endRemoveRows()
        if project is not None:
            self._project_changed(project)
            self._keep_sorted([project])

    def _forget(self, id: str) -> None:
        del self._nodes[id]
        self._stopping.discard(id)
        self._stats.pop(id, None)
        self._history.pop(id, None)

    def clear(self) -> None:
        if not self._nodes:
            return
        self.beginResetModel()
        self._reset()
        self._stopping.clear()
        self._stats.clear()
        self._history.clear()
        self.endResetModel()

    def set_stats(self, samples: Mapping[str, StatsSample], history: Mapping[str, list[float]]) -> None:
        """New readings from the stats reader: one dataChanged per parent for the CPU/memory columns."""
        changed = [node for id in samples if (node := self._nodes.get(id)) is not None]
        if not changed:
            return
        for node in changed:
            self._stats[node.id] = samples[node.id]
            self._history[node.id] = list(history.get(node.id, []))
        roles = [Qt.ItemDataRole.DisplayRole, SORT_ROLE, HISTORY_ROLE]
        # Only the rows that changed (a project's row with its members): one range over every top row
        # made the proxy filter all of them again each second, 5,000 rows with a few running.
        rows = {node.row for node in changed if node.project is None}
        projects = {id(node.project): node.project for node in changed if node.project is not None}
        for project in projects.values():
            parent = self.index_of_node(project)
            rows.add(project.row)
            self.dataChanged.emit(
                self.index(0, Column.CPU, parent), self.index(len(project.children) - 1, Column.MEMORY, parent), roles
            )
        for first, last in _runs(sorted(rows)):
            self.dataChanged.emit(self.index(first, Column.CPU), self.index(last, Column.MEMORY), roles)
        if self._sort_column in (Column.CPU, Column.MEMORY):
            self._keep_sorted(changed)

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
        if id in self._nodes:
            return id
        if id:
            for full in self._nodes:
                if full.startswith(id):
                    return full
        return None

    def index_of(self, id: str, column: int = 0) -> QModelIndex | None:
        full = self.resolve(id)
        if full is None:
            return None
        return self.index_of_node(self._nodes[full], column)

    def ids(self) -> list[str]:
        return list(self._nodes)

    def container(self, id: str) -> dict[str, Any] | None:
        full = self.resolve(id)
        return self._nodes[full].item if full else None

    def state_of(self, id: str) -> ContainerState | None:
        full = self.resolve(id)
        return self._nodes[full].state if full else None

    def project_indexes(self) -> list[QModelIndex]:
        """The compose projects' rows."""
        return [self.createIndex(project.row, 0, _TOP) for project in self._projects.values()]

    def project_ids(self, project: str) -> list[str]:
        node = self._projects.get(project)
        return [child.id for child in node.children] if node is not None else []

    def find_by_name(self, name: str) -> str | None:
        for id, node in self._nodes.items():
            if container_name(node.item) == name:
                return id
        return None

    def running_names(self) -> dict[str, str]:
        """id -> name of every running container."""
        return {id: container_name(node.item) for id, node in self._nodes.items() if node.state.running}

    def names_using_image(self, image_id: str) -> list[str]:
        return [container_name(node.item) for node in self._nodes.values() if node.item.get("ImageID") == image_id]

    def names_using_volume(self, name: str) -> list[str]:
        return [container_name(node.item) for node in self._nodes.values()
                if any(m.get("Name") == name for m in node.item.get("Mounts") or [])]

    def names_on_network(self, name: str) -> list[str]:
        return [container_name(node.item) for node in self._nodes.values()
                if name in ((node.item.get("NetworkSettings") or {}).get("Networks") or {})]

    def stats_of(self, id: str) -> StatsSample | None:
        return self._stats.get(id)

    def __len__(self) -> int:
        return len(self._nodes)

    # -- text ----------------------------------------------------------------------------------------

    def _text(self, id: str, item: dict[str, Any], state: ContainerState, column: Column) -> str:
        if column == Column.NAME:
            return container_name(item)
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


def _arrival(node: Node) -> int:
    return node.seq


def _renumber(level: Sequence[Node], start: int = 0) -> None:
    for row in range(start, len(level)):
        level[row].row = row


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Sorted row numbers as (first, last) runs of consecutive rows."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and runs[-1][1] == row - 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs
