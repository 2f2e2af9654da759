"""Settings: which engine (contexts) and the look (theme)."""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.services.settings import Context


class SettingsPage(QWidget):
    themeChosen = Signal(str)
    contextChosen = Signal(str)
    contextAdded = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settings-page")
        engines = QGroupBox("Engines", self)
        self.contexts = QListWidget(engines)
        self.contexts.setObjectName("contexts")
        self.contexts.itemActivated.connect(self._on_context)
        self.use = QPushButton("Use this engine", engines)
        self.use.clicked.connect(lambda: self.contexts.currentItem() and self._on_context(self.contexts.currentItem()))
        self.new_name = QLineEdit(engines)
        self.new_name.setPlaceholderText("name")
        self.new_url = QLineEdit(engines)
        self.new_url.setPlaceholderText("unix:///path/to/engine.sock or tcp://host:2376")
        add = QPushButton("Add", engines)
        add.clicked.connect(self._add)
        box = QVBoxLayout(engines)
        box.addWidget(QLabel("Berth talks the Docker Engine API: berthd, a stock dockerd or podman all work "
                             "(like <code>docker context use</code>).", engines))
        box.addWidget(self.contexts)
        row = QHBoxLayout()
        row.addWidget(self.use)
        row.addStretch(1)
        row.addWidget(self.new_name)
        row.addWidget(self.new_url, 2)
        row.addWidget(add)
        box.addLayout(row)

        look = QGroupBox("Theme", self)
        self.themes = QButtonGroup(self)
        look_row = QHBoxLayout(look)
        self.theme_buttons: dict[str, QRadioButton] = {}
        for key, label in (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark")):
            button = QRadioButton(label, look)
            button.setObjectName(f"theme-{key}")
            self.themes.addButton(button)
            self.theme_buttons[key] = button
            button.toggled.connect(lambda on, k=key: on and self.themeChosen.emit(k))
            look_row.addWidget(button)
        look_row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addWidget(engines, 1)
        layout.addWidget(look)
        layout.addStretch(0)

    def set_contexts(self, contexts: list[Context], current_url: str) -> None:
        self.contexts.clear()
        for context in contexts:
            mark = "●  " if context.url == current_url else "    "
            item = QListWidgetItem(f"{mark}{context.name} — {context.url}   ({context.note})", self.contexts)
            item.setData(256, context.url)
            item.setToolTip(html.escape(context.note))
            if not context.available:
                item.setFlags(item.flags() & ~item.flags().ItemIsEnabled)

    def set_theme(self, name: str) -> None:
        button = self.theme_buttons.get(name)
        if button is not None:
            button.blockSignals(True)
            button.setChecked(True)
            button.blockSignals(False)

    def _on_context(self, item: QListWidgetItem) -> None:
        self.contextChosen.emit(str(item.data(256)))

    def _add(self) -> None:
        name, url = self.new_name.text().strip(), self.new_url.text().strip()
        if name and url:
            self.contextAdded.emit(name, url)
            self.new_name.clear()
            self.new_url.clear()
