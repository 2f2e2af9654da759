"""The command palette (Ctrl+K): type to find a place, a container or an action; Enter runs it."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

Command = tuple[str, str, Callable[[], object]]  # title, hint, action (its result is ignored)


class CommandPalette(QDialog):
    def __init__(self, commands: list[Command], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("command-palette")
        self.setWindowTitle("Command palette")
        self.commands = commands
        self.query = QLineEdit(self)
        self.query.setObjectName("palette-query")
        self.query.setPlaceholderText("Go to a place, a container, or run an action…")
        self.query.setAccessibleName("Command")
        self.query.setAccessibleDescription("Type to filter; Up and Down choose, Enter runs")
        self.list = QListWidget(self)
        self.list.setObjectName("palette-list")
        self.list.setAccessibleName("Commands")
        self.query.textChanged.connect(self._filter)
        self.query.returnPressed.connect(self.run_current)
        self.list.itemActivated.connect(lambda _: self.run_current())
        self.no_match = QLabel(self)
        self.no_match.setObjectName("palette-no-match")
        self.no_match.setProperty("role", "hint")
        self.no_match.setWordWrap(True)
        self.no_match.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.query)
        layout.addWidget(self.no_match)
        layout.addWidget(self.list)
        self.resize(520, 360)
        self._filter("")

    def _filter(self, text: str) -> None:
        words = text.lower().split()
        self.list.clear()
        for index, (title, hint, _) in enumerate(self.commands):
            haystack = f"{title} {hint}".lower()
            if all(word in haystack for word in words):
                item = QListWidgetItem(f"{title}    {hint}" if hint else title, self.list)
                item.setData(Qt.ItemDataRole.UserRole, index)
        if self.list.count():
            self.list.setCurrentRow(0)
        # Nothing found is said, with what can be found, instead of an empty list.
        self.no_match.setText(f"Nothing matches “{text.strip()}”. Try a place (images), a container's name, "
                              "or an action (stop, restart, logs, terminal, pull, build).")
        self.no_match.setVisible(self.list.count() == 0)

    def visible_titles(self) -> list[str]:
        return [self.commands[self.list.item(i).data(Qt.ItemDataRole.UserRole)][0] for i in range(self.list.count())]

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up):
            row = self.list.currentRow() + (1 if event.key() == Qt.Key.Key_Down else -1)
            self.list.setCurrentRow(max(0, min(self.list.count() - 1, row)))
            return
        super().keyPressEvent(event)

    def run_current(self) -> None:
        item: QListWidgetItem | None = self.list.currentItem()
        if item is None:
            return
        _, _, action = self.commands[item.data(Qt.ItemDataRole.UserRole)]
        self.accept()
        action()
