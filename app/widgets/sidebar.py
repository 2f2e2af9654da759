"""The sidebar of places (Containers, Images, ...), as in UI.md's shape."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QFrame, QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

PLACES: list[tuple[str, str]] = [
    ("containers", "Containers"),
    ("stats", "Stats"),
    ("images", "Images"),
    ("volumes", "Volumes"),
    ("networks", "Networks"),
    ("compose", "Compose"),
    ("machines", "Machines"),
    ("settings", "Settings"),
]


class Sidebar(QWidget):
    """The product's name on top, then the places; emits the key of the place chosen."""

    placeSelected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setFixedWidth(168)
        brand = QLabel("Berth", self)
        brand.setObjectName("brand")
        self.places = QListWidget(self)
        self.places.setObjectName("places")
        self.places.setAccessibleName("Places")
        self.places.setFrameShape(QFrame.Shape.NoFrame)
        for key, label in PLACES:
            item = QListWidgetItem(label, self.places)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setSizeHint(QSize(0, 28))  # 4 px grid: comfortable click targets
        self.places.currentRowChanged.connect(self._on_row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 12, 8, 8)
        layout.setSpacing(8)
        layout.addWidget(brand)
        layout.addWidget(self.places, 1)

    def setCurrentRow(self, row: int) -> None:
        self.places.setCurrentRow(row)

    def select_place(self, key: str, quietly: bool = False) -> None:
        """Select `key`'s row; `quietly`: without saying so (back and forward move the page themselves)."""
        for row, (place, _) in enumerate(PLACES):
            if place == key:
                blocked = self.places.blockSignals(quietly)
                self.setCurrentRow(row)
                self.places.blockSignals(blocked)
                return

    def set_icons(self, icon: Callable[[str], QIcon]) -> None:
        """Each place's icon by its key (drawn again for a new theme)."""
        for row, (key, _) in enumerate(PLACES):
            item = self.places.item(row)
            if item is not None:
                item.setIcon(icon(key))

    def _on_row(self, row: int) -> None:
        if 0 <= row < len(PLACES):
            self.placeSelected.emit(PLACES[row][0])
