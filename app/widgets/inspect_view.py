"""`InspectView`: an object's inspect as the raw JSON `docker inspect` prints (pretty, monospace),
with a search that finds and highlights every match and a Copy of the whole document."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtGui import QColor, QFontDatabase, QGuiApplication, QKeySequence, QShortcut, QTextCursor, QTextDocument
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.widgets.accessibility import announce, named
from app.widgets.chrome import set_icon

_MATCH = QColor(255, 200, 0, 110)  # every match
_CURRENT = QColor(255, 140, 0, 200)  # the one the cursor is on


class InspectView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("inspect-view")
        self.search = QLineEdit(self)
        self.search.setObjectName("inspect-search")
        self.search.setPlaceholderText("Find in the JSON (Enter: next, Shift+Enter: previous)")
        self.search.setClearButtonEnabled(True)
        named(self.search, "Find in the JSON", "Enter: next match, Shift+Enter: previous")
        self.search.textChanged.connect(lambda _: self.go_to_match(0))
        self.search.returnPressed.connect(lambda: self.go_to_match(+1))
        previous = QShortcut(QKeySequence("Shift+Return"), self.search)
        previous.activated.connect(lambda: self.go_to_match(-1))
        self.count = QLabel(self)
        self.count.setObjectName("inspect-count")
        self.count.setProperty("role", "hint")
        self.copy_button = QPushButton("Copy", self)
        self.copy_button.setObjectName("inspect-copy")
        set_icon(self.copy_button, "copy")
        self.copy_button.setToolTip("Copy the whole JSON (docker inspect)")
        self.copy_button.clicked.connect(self.copy)
        named(self.copy_button, "Copy the JSON")
        self.text = QPlainTextEdit(self)
        self.text.setObjectName("inspect-json")
        self.text.setReadOnly(True)
        named(self.text, "Inspect JSON", "docker inspect's output")
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.matches: list[QTextCursor] = []
        self.current = -1
        row = QHBoxLayout()
        row.addWidget(self.search, 1)
        row.addWidget(self.count)
        row.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.text, 1)

    def set_data(self, data: Any) -> None:
        # As `docker inspect` prints it: a list of one object, indented, keys in the engine's order.
        self.text.setPlainText(json.dumps([data], indent=4, ensure_ascii=False))
        self.go_to_match(0)

    def json_text(self) -> str:
        return self.text.toPlainText()

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.json_text())

    def go_to_match(self, step: int) -> None:
        """Highlight every match of the search (case-insensitive); `step` moves to the next (+1) or
        previous (-1) one, 0 starts again at the first."""
        needle = self.search.text()
        if step == 0 or not self.matches:
            self.matches = []
            if needle:
                document = self.text.document()
                cursor = document.find(needle, 0)
                while not cursor.isNull():
                    self.matches.append(cursor)
                    cursor = document.find(needle, cursor, QTextDocument.FindFlag(0))
            self.current = 0 if self.matches else -1
        elif self.matches:
            self.current = (self.current + step) % len(self.matches)
        selections = []
        for i, cursor in enumerate(self.matches):
            selection = QTextEdit.ExtraSelection()
            selection.cursor = cursor
            selection.format.setBackground(_CURRENT if i == self.current else _MATCH)
            selections.append(selection)
        self.text.setExtraSelections(selections)
        if self.current >= 0:
            self.text.setTextCursor(self.matches[self.current])
            self.text.ensureCursorVisible()
        if needle:
            self.count.setText(f"{self.current + 1} of {len(self.matches)}" if self.matches else "no match")
            announce(self.search, self.count.text())  # the count is said, not only shown
        else:
            self.count.setText("")
