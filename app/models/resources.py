"""Table models for the images, volumes and networks lists: one generic keyed table, updated in place."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from app.display import human_ago, human_size, short_id

Index = QModelIndex | QPersistentModelIndex
KEY_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 4
ITEM_ROLE = Qt.ItemDataRole.UserRole + 9


@dataclass(frozen=True)
class ColumnSpec:
    header: str
    text: Callable[[dict[str, Any]], str]
    sort: Callable[[dict[str, Any]], Any] | None = None
    tooltip: Callable[[dict[str, Any]], str] | None = None


class ResourceModel(QAbstractTableModel):
    """Rows are engine objects (dicts) keyed by `key`; `set_items` diffs a listing into the rows."""

    def __init__(self, columns: list[ColumnSpec], key: Callable[[dict[str, Any]], str], parent: Any = None) -> None:
        super().__init__(parent)
        self.columns = columns
        self._key = key
        self._rows: list[dict[str, Any]] = []
        self._keys: list[str] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(self.columns):
            return self.columns[section].header
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        item = self._rows[index.row()]
        spec = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return spec.text(item)
        if role == SORT_ROLE:
            return spec.sort(item) if spec.sort else spec.text(item).lower()
        if role == Qt.ItemDataRole.ToolTipRole and spec.tooltip:
            return spec.tooltip(item)
        if role == KEY_ROLE:
            return self._keys[index.row()]
        if role == ITEM_ROLE:
            return item
        return None

    def set_items(self, items: Iterable[dict[str, Any]]) -> None:
        incoming = {self._key(item): item for item in items}
        if not self._rows:
            if incoming:
                self.beginResetModel()
                self._keys = list(incoming)
                self._rows = list(incoming.values())
                self.endResetModel()
            return
        for key in [k for k in self._keys if k not in incoming]:
            row = self._keys.index(key)
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._keys[row]
            del self._rows[row]
            self.endRemoveRows()
        positions = {key: row for row, key in enumerate(self._keys)}
        new = [key for key in incoming if key not in positions]
        for key, row in positions.items():
            if self._rows[row] != incoming[key]:
                self._rows[row] = incoming[key]
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.columns) - 1))
        if new:
            self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows) + len(new) - 1)
            for key in new:
                self._keys.append(key)
                self._rows.append(incoming[key])
            self.endInsertRows()

    def clear(self) -> None:
        """Empty at once (another engine: nothing of the old one's rows is worth diffing)."""
        self.beginResetModel()
        self._rows, self._keys = [], []
        self.endResetModel()

    def item(self, key: str) -> dict[str, Any] | None:
        try:
            return self._rows[self._keys.index(key)]
        except ValueError:
            return None

    def row_of(self, key: str) -> int | None:
        try:
            return self._keys.index(key)
        except ValueError:
            return None

    def all_keys(self) -> list[str]:
        return list(self._keys)

    def items(self) -> list[dict[str, Any]]:
        return list(self._rows)


# -- images ---------------------------------------------------------------------------------------


def image_name(item: Mapping[str, Any]) -> str:
    if item.get("Tag"):
        return str(item["Tag"])
    tags = [t for t in item.get("RepoTags") or [] if t != "<none>:<none>"]
    return tags[0] if tags else "<none>"


def image_rows(images: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per name, as `docker images` lists them (an untagged image is one row of its own):
    acting on a row acts on that name (push it, remove it: an image with other names keeps them)."""
    rows: list[dict[str, Any]] = []
    for image in images:
        tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
        rows.extend({**image, "Tag": tag} for tag in tags or [""])
    return rows


def images_model(in_use: Callable[[str], int], parent: Any = None) -> ResourceModel:
    """`in_use(image id)`: how many containers use it (from the containers list)."""
    columns = [
        ColumnSpec("Name", image_name,
                   tooltip=lambda i: "also: " + ", ".join(t for t in i.get("RepoTags") or [] if t != i.get("Tag"))
                   if len(i.get("RepoTags") or []) > 1 else ("untagged" if not i.get("Tag") else str(i["Tag"]))),
        ColumnSpec("Id", lambda i: short_id(str(i.get("Id", ""))), tooltip=lambda i: str(i.get("Id", ""))),
        ColumnSpec("Size", lambda i: human_size(int(i.get("Size", 0))), sort=lambda i: int(i.get("Size", 0))),
        ColumnSpec("Created", lambda i: human_ago(float(i.get("Created", 0))), sort=lambda i: int(i.get("Created", 0))),
        ColumnSpec(
            "In use",
            lambda i: (f"{n} container{'s' if n != 1 else ''}" if (n := in_use(str(i.get("Id", "")))) else "unused"),
            sort=lambda i: in_use(str(i.get("Id", ""))),
        ),
    ]
    return ResourceModel(columns, lambda i: str(i.get("Tag") or i.get("Id", "")), parent)


# -- volumes --------------------------------------------------------------------------------------


def volume_size(item: Mapping[str, Any]) -> int:
    usage = item.get("UsageData") or {}
    return int(usage.get("Size", -1)) if isinstance(usage, Mapping) else -1


def volumes_model(users: Callable[[str], list[str]], parent: Any = None) -> ResourceModel:
    """`users(volume name)`: names of the containers that mount it."""
    columns = [
        ColumnSpec("Name", lambda v: str(v.get("Name", "")), tooltip=lambda v: str(v.get("Mountpoint", ""))),
        ColumnSpec("Driver", lambda v: str(v.get("Driver", ""))),
        ColumnSpec("Size", lambda v: human_size(s) if (s := volume_size(v)) >= 0 else "—", sort=volume_size),
        ColumnSpec(
            "Used by",
            lambda v: ", ".join(users(str(v.get("Name", "")))) or "unused",
            sort=lambda v: len(users(str(v.get("Name", "")))),
        ),
        ColumnSpec("Created", lambda v: str(v.get("CreatedAt", ""))[:19].replace("T", " ")),
    ]
    return ResourceModel(columns, lambda v: str(v.get("Name", "")), parent)


# -- networks -------------------------------------------------------------------------------------


def network_subnet(item: Mapping[str, Any]) -> str:
    ipam = item.get("IPAM") or {}
    configs = ipam.get("Config") or [] if isinstance(ipam, Mapping) else []
    return ", ".join(str(c.get("Subnet", "")) for c in configs if isinstance(c, Mapping) and c.get("Subnet"))


def networks_model(attached: Callable[[str], list[str]], parent: Any = None) -> ResourceModel:
    """`attached(network name)`: names of the containers connected to it."""
    columns = [
        ColumnSpec("Name", lambda n: str(n.get("Name", "")), tooltip=lambda n: str(n.get("Id", ""))),
        ColumnSpec("Driver", lambda n: str(n.get("Driver", ""))),
        ColumnSpec("Scope", lambda n: str(n.get("Scope", ""))),
        ColumnSpec("Subnet", network_subnet),
        ColumnSpec(
            "Containers",
            lambda n: ", ".join(attached(str(n.get("Name", "")))) or "none",
            sort=lambda n: len(attached(str(n.get("Name", "")))),
        ),
    ]
    return ResourceModel(columns, lambda n: str(n.get("Id", "")), parent)
