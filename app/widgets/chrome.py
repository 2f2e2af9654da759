"""The window's chrome: the header (palette, engine switcher), the task panel and notifications."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.services.jobs import Job, JobCenter
from app.services.settings import Context


def toolbar_button(parent: QWidget, layout: QBoxLayout, text: str, tip: str, name: str) -> QPushButton:
    """A page's action button: its tooltip names the docker command, as UI.md asks."""
    button = QPushButton(text, parent)
    button.setObjectName(name)
    button.setToolTip(tip)
    layout.addWidget(button)
    return button


def show_message(label: QLabel, text: str, role: str) -> None:
    """A page's in-place message: the role ("error", "hint") picks its look from the theme, so the
    label is re-polished when the role changes."""
    label.setProperty("role", role)
    label.setText(html.escape(text))
    label.style().polish(label)
    label.show()


def ask_for_file(parent: QWidget, title: str, chosen: Callable[[str], object], *, save: bool = False,
                 suggested: str = "", filters: Sequence[str] = (), suffix: str = "") -> QFileDialog:
    """A file dialog opened with open(), never a nested exec() under qasync, and deleted once it is
    closed; `chosen` gets the path."""
    dialog = QFileDialog(parent, title)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    if save:
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    else:
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    if suggested:
        dialog.selectFile(suggested)
    if filters:
        dialog.setNameFilters(list(filters))
    if suffix:
        dialog.setDefaultSuffix(suffix)
    dialog.fileSelected.connect(chosen)
    dialog.open()
    return dialog


class Header(QWidget):
    paletteRequested = Signal()
    contextChosen = Signal(str)  # url

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("header")
        self.back = QToolButton(self)
        self.back.setText("←")
        self.back.setToolTip("Back (Alt+Left)")
        self.forward = QToolButton(self)
        self.forward.setText("→")
        self.forward.setToolTip("Forward (Alt+Right)")
        self.palette_button = QPushButton("Search or run a command…   Ctrl+K", self)
        self.palette_button.setObjectName("palette-button")
        self.palette_button.clicked.connect(self.paletteRequested)
        self.engine = QComboBox(self)
        self.engine.setObjectName("engine-switcher")
        self.engine.setToolTip("Which engine this window talks to (berth context)")
        self.engine.setMinimumWidth(220)
        self.engine.activated.connect(self._on_activated)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 2)
        layout.addWidget(self.back)
        layout.addWidget(self.forward)
        layout.addWidget(self.palette_button, 1)
        layout.addWidget(QLabel("engine:", self))
        layout.addWidget(self.engine)

    def set_contexts(self, contexts: list[Context], current_url: str) -> None:
        self.engine.blockSignals(True)
        self.engine.clear()
        for context in contexts:
            self.engine.addItem(f"{context.name}  ({context.url})", context.url)
            index = self.engine.count() - 1
            self.engine.setItemData(index, context.note, Qt.ItemDataRole.ToolTipRole)
            if context.url == current_url:
                self.engine.setCurrentIndex(index)
        self.engine.blockSignals(False)

    def _on_activated(self, index: int) -> None:
        self.contextChosen.emit(str(self.engine.itemData(index)))


class TaskPanel(QWidget):
    """One line of running and recent tasks; expands to a table with each task's status."""

    def __init__(self, jobs: JobCenter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("task-panel")
        self.jobs = jobs
        self.summary = QLabel("tasks: none", self)
        self.summary.setObjectName("task-summary")
        self.toggle = QToolButton(self)
        self.toggle.setText("▴")
        self.toggle.setToolTip("Show every task with its status")
        self.toggle.setCheckable(True)
        self.table = QTableView(self)
        self.table.setModel(jobs)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().hide()
        self.table.setColumnWidth(0, 320)
        self.table.setMaximumHeight(140)
        self.table.hide()
        self.toggle.toggled.connect(self.table.setVisible)
        row = QHBoxLayout()
        row.setContentsMargins(8, 0, 8, 0)
        row.addWidget(self.summary, 1)
        row.addWidget(self.toggle)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(row)
        layout.addWidget(self.table)
        jobs.jobChanged.connect(self._update)

    def _update(self, job: Job | None = None) -> None:
        recent = self.jobs.jobs[-4:]
        self.summary.setText("tasks: " + " · ".join(j.summary() for j in recent) if recent else "tasks: none")


class NoticeBar(QWidget):
    """Notifications inside the window (engine errors, containers that died), newest on top."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notices")
        self.notices: list[str] = []
        self.label = QLabel(self)
        self.label.setObjectName("notice-text")
        self.label.setWordWrap(True)
        self.label.setProperty("role", "error")
        self.close_button = QToolButton(self)
        self.close_button.setText("✕")
        self.close_button.setToolTip("Dismiss")
        self.close_button.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 2, 8, 2)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.close_button)
        self._fade = QTimer(self)
        self._fade.setSingleShot(True)
        self._fade.setInterval(15_000)
        self._fade.timeout.connect(self.dismiss)
        self.hide()

    def notify(self, title: str, message: str) -> None:
        self.notices.append(f"{title}: {message}")
        self.label.setText(f"<b>{html.escape(title)}</b> — {html.escape(message)}")
        self.show()
        self._fade.start()

    def dismiss(self) -> None:
        self.hide()
