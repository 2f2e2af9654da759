"""The window's chrome: the header (palette, engine switcher), the task panel and notifications."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QMouseEvent, QTextCursor
from PySide6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.display import breakable
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
    label.setText(html.escape(breakable(text)))
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
        # A long engine address must not widen the window: the combo sizes to a fixed length.
        self.engine.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.engine.setMinimumContentsLength(28)
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


def wraps_in_place(label: QLabel) -> QLabel:
    """A message label that wraps to the width it is given and never asks for more (a long word
    would otherwise set the window's minimum width)."""
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
    return label


def never_widens(label: QLabel) -> QLabel:
    """A one-line label whose text, however long, never sets a minimum width: the window keeps its
    size and the layout its place (the full text is in the tooltip)."""
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    label.setMinimumWidth(0)
    return label


class TaskPanel(QWidget):
    """One line of running and recent tasks; expands to a drawer listing each task with its
    progress and result, and the log of the task selected in it."""

    def __init__(self, jobs: JobCenter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("task-panel")
        self.jobs = jobs
        self.summary = never_widens(QLabel("tasks: none", self))
        self.summary.setObjectName("task-summary")
        self.toggle = QToolButton(self)
        self.toggle.setText("▴")
        self.toggle.setToolTip("Show every task with its status and log")
        self.toggle.setCheckable(True)
        self.drawer = QWidget(self)
        self.drawer.setObjectName("task-drawer")
        self.drawer.setFixedHeight(160)
        self.table = QTableView(self.drawer)
        self.table.setModel(jobs)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().hide()
        self.table.setColumnWidth(0, 320)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        self.log = QPlainTextEdit(self.drawer)
        self.log.setObjectName("task-log")
        self.log.setReadOnly(True)
        self.log.setPlaceholderText("Select a task to read its log")
        self.log.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        drawer = QHBoxLayout(self.drawer)
        drawer.setContentsMargins(8, 0, 8, 4)
        drawer.addWidget(self.table, 3)
        drawer.addWidget(self.log, 2)
        self.drawer.hide()
        self.toggle.toggled.connect(self.drawer.setVisible)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._show_log())
        row = QHBoxLayout()
        row.setContentsMargins(8, 0, 8, 0)
        row.addWidget(self.summary, 1)
        row.addWidget(self.toggle)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(row)
        layout.addWidget(self.drawer)
        jobs.jobChanged.connect(self._update)

    def selected_job(self) -> Job | None:
        rows = self.table.selectionModel().selectedRows()
        return self.jobs.jobs[rows[0].row()] if rows and rows[0].row() < len(self.jobs.jobs) else None

    def _show_log(self) -> None:
        job = self.selected_job()
        lines = list(job.log) + ([f"failed: {job.error}"] if job is not None and job.error else []) if job else []
        self.log.setPlainText("\n".join(lines))
        self.log.moveCursor(QTextCursor.MoveOperation.End)

    def _update(self, job: Job | None = None) -> None:
        """Running tasks first (two at most), else the latest result: a line that never grows; a
        failure's words are in the drawer and where the action was, not repeated here."""
        running = self.jobs.running()
        shown = running[:2] if running else self.jobs.jobs[-1:]
        parts = [j.summary() if j.state != "failed" else f"{j.title} ✗ failed" for j in shown]
        more = len(running) - len(shown) if running else 0
        if more > 0:
            parts.append(f"+{more} more")
        text = "tasks: " + " · ".join(parts) if parts else "tasks: none"
        self.summary.setText(text)
        self.summary.setToolTip(text)
        if job is not None and job is self.selected_job():
            self._show_log()


class NoticeBar(QFrame):
    """Notifications as a toast over the page's bottom-right corner: a fixed width, text wrapped to
    it, never part of a layout (the window and its content never move for it). Each notice has a
    key; a notice with a key already shown replaces it, and `retire(key)` takes it back when a later
    result supersedes it. `notices` records everything said, in order."""

    WIDTH = 420
    MAX_HEIGHT = 140
    activated = Signal(str)  # the key of the notice clicked (the newest shown)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("notices")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.notices: list[str] = []
        self._shown: dict[str, str] = {}  # key -> rich text, newest last
        self.label = QLabel(self)
        self.label.setObjectName("notice-text")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setProperty("role", "error")
        self.close_button = QToolButton(self)
        self.close_button.setText("✕")
        self.close_button.setToolTip("Dismiss")
        self.close_button.clicked.connect(self.dismiss)
        layout = self._layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 6, 6, 6)
        layout.addWidget(self.label, 1, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.setFixedWidth(self.WIDTH)
        self._fade = QTimer(self)
        self._fade.setSingleShot(True)
        self._fade.setInterval(15_000)
        self._fade.timeout.connect(self.dismiss)
        parent.installEventFilter(self)
        self.hide()

    def notify(self, title: str, message: str, key: str = "") -> None:
        self.notices.append(f"{title}: {message}")
        key = key or f"{title}: {message}"
        self._shown.pop(key, None)
        self._shown[key] = f"<b>{html.escape(title)}</b> — {html.escape(breakable(message))}"
        self._render()
        self._fade.start()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._shown:
            self.activated.emit(list(self._shown)[-1])

    def retire(self, key: str) -> None:
        if self._shown.pop(key, None) is not None:
            self._render()

    def dismiss(self) -> None:
        self._shown.clear()
        self._render()

    def _render(self) -> None:
        if not self._shown:
            self.hide()
            return
        newest = list(self._shown.values())[-1]
        earlier = len(self._shown) - 1
        self.label.setText(newest + (f"<br><small>and {earlier} earlier</small>" if earlier else ""))
        self.label.setToolTip(newest)
        margins = self._layout.contentsMargins()
        inner = self.WIDTH - margins.left() - margins.right() - self.close_button.sizeHint().width() - 6
        height = self.label.heightForWidth(inner) + margins.top() + margins.bottom()
        self.setFixedHeight(min(max(height, self.close_button.sizeHint().height() + 12), self.MAX_HEIGHT))
        self._place()
        self.show()
        self.raise_()

    def _place(self) -> None:
        parent = self.parentWidget()
        if parent is not None:
            self.move(max(0, parent.width() - self.width() - 12), max(0, parent.height() - self.height() - 12))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and watched is self.parentWidget():
            self._place()
        return False
