"""The window's chrome: the header (palette, engine switcher), the task panel and notifications."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QMouseEvent, QTextCursor
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QBoxLayout,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QTableView,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.display import breakable
from app.resources import themed_icon
from app.services.jobs import Job, JobCenter
from app.services.settings import Context

ROW_HEIGHT = 28  # every list and tree: one row height on the 4 px grid, room for a state chip
TOOLBAR_PROPERTY = "berthToolbar"  # the toolbar's look, set by style_toolbar_button
FACTORY_PROPERTY = "berthToolbarFactory"  # set only on the buttons toolbar_button made
ICON_PROPERTY = "berthIcon"  # the icon's name, so a theme change can draw it again in its colours
ACCENT_PROPERTY = "berthIconAccent"  # the icon sits on an accent-coloured (primary) button

# An action's first word picks its icon, so the same verb looks the same on every page.
ICON_FOR_WORD = {
    "pull": "pull", "build": "build", "load": "load", "import": "import", "run": "run", "tag": "tag",
    "push": "push", "history": "history", "remove": "remove", "delete": "remove", "create": "create",
    "add": "create", "browse": "browse", "export": "export", "clone": "clone", "open": "open", "up": "up",
    "down": "down", "start": "start", "stop": "stop", "restart": "restart", "pause": "pause",
    "resume": "start", "logs": "logs", "boot": "logs", "yaml": "file", "use": "use", "reclaim": "reclaim",
    "retry": "retry", "choose": "browse", "make": "use", "set": "machines", "trust": "key",
}


def icon_for(text: str) -> str:
    """The icon of an action labelled `text` ("Pull…" -> "pull"), "" when the verb has none."""
    word = text.strip().split(" ", 1)[0].strip("…:.").lower() if text.strip() else ""
    return ICON_FOR_WORD.get(word, "")


def set_icon(widget: QAbstractButton | QAction, name: str, accent: bool = False) -> None:
    """Give `widget` the themed icon `name`, remembered so `refresh_icons` redraws it for a new theme."""
    widget.setProperty(ICON_PROPERTY, name)
    widget.setProperty(ACCENT_PROPERTY, accent)
    widget.setIcon(themed_icon(name, accent))


def icon_beside_text(button: QToolButton, name: str) -> QToolButton:
    """A tool button with words and the icon `name` before them (a tool button shows only its icon
    once it has one, unless told)."""
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    set_icon(button, name)
    return button


def refresh_icons(root: QWidget) -> None:
    """Redraw every icon under `root` that `set_icon` gave, in the current theme's colours."""
    iconed: list[QAbstractButton | QAction] = [*root.findChildren(QAbstractButton), *root.findChildren(QAction)]
    for widget in iconed:
        name = widget.property(ICON_PROPERTY)
        if name:
            widget.setIcon(themed_icon(str(name), bool(widget.property(ACCENT_PROPERTY))))


def style_toolbar_button(button: QPushButton, icon: str = "", primary: bool = False) -> QPushButton:
    """The toolbar's one button look: an icon beside the words, the theme's toolbar style, and the
    accent colour for the page's primary action."""
    button.setProperty(TOOLBAR_PROPERTY, True)
    button.setProperty("primary", primary)
    button.setIconSize(QSize(16, 16))
    button.setAutoDefault(False)
    name = icon or icon_for(button.text())
    if name:
        set_icon(button, name, accent=primary)
    if not button.accessibleName():
        button.setAccessibleName(button.text().rstrip("…"))
    return button


def toolbar_button(parent: QWidget, layout: QBoxLayout | None, text: str, tip: str, name: str, icon: str = "",
                   primary: bool = False) -> QPushButton:
    """A page's action button, the one factory of toolbar buttons: its icon from its verb (or
    `icon`), its tooltip naming the docker command, as UI.md asks; `primary` for the page's main
    action, drawn in the accent colour."""
    button = QPushButton(text, parent)
    button.setObjectName(name)
    button.setToolTip(tip)
    button.setProperty(FACTORY_PROPERTY, True)
    style_toolbar_button(button, icon, primary)
    if layout is not None:
        layout.addWidget(button)
    return button


def row_button(parent: QWidget, text: str, tip: str, name: str, icon: str) -> QPushButton:
    """A small icon-only button for a row's own actions (its words as accessible name and tooltip)."""
    button = QPushButton(parent)
    button.setObjectName(name)
    button.setToolTip(tip)
    button.setAccessibleName(text)
    button.setProperty("rowAction", True)
    button.setIconSize(QSize(16, 16))
    button.setFixedSize(QSize(26, ROW_HEIGHT - 6))
    button.setAutoDefault(False)
    set_icon(button, icon)
    return button


class ToolbarLayout(QHBoxLayout):
    """A toolbar's row: buttons from `toolbar_button` (the test of every page's toolbar refuses any
    other), and the page's pickers (a range, a container)."""

    def addWidget(self, widget: QWidget, *args: Any, **kwargs: Any) -> None:
        super().addWidget(widget, *args, **kwargs)
        toolbar = self.parentWidget()
        if isinstance(toolbar, Toolbar) and toolbar.trailing is not None:
            # The filter at the right end was made before the page's buttons: Tab reaches it after them.
            QWidget.setTabOrder(widget, toolbar.trailing)


class Toolbar(QWidget):
    """A page's toolbar: its action buttons from `toolbar_button` on the left, then whatever the page
    puts at the right (its filter field)."""

    def __init__(self, parent: QWidget, name: str, accessible: str) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setAccessibleName(accessible)
        self.buttons = ToolbarLayout()
        self.buttons.setSpacing(4)
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.setSpacing(8)
        self._row.addLayout(self.buttons)
        self._row.addStretch(1)
        self._for_action: dict[int, QPushButton] = {}
        self.trailing: QWidget | None = None

    def button(self, text: str, tip: str, name: str, icon: str = "", primary: bool = False) -> QPushButton:
        return toolbar_button(self, self.buttons, text, tip, name, icon, primary)

    def action_button(self, action: QAction, name: str, icon: str = "", primary: bool = False) -> QPushButton:
        """A toolbar button that triggers `action` and follows its text and enabled state (the action
        also serves shortcuts and the context menu)."""
        button = self.button(action.text(), action.toolTip(), name, icon, primary)
        button.setAccessibleName(action.text().rstrip("…"))
        button.clicked.connect(action.trigger)

        def follow() -> None:
            button.setText(action.text())
            button.setEnabled(action.isEnabled())

        action.changed.connect(follow)
        follow()
        self._for_action[id(action)] = button
        return button

    def add_trailing(self, widget: QWidget, stretch: int = 1) -> None:
        """A widget at the toolbar's right end (the page's filter), never squeezed below a useful width."""
        widget.setMinimumWidth(max(widget.minimumWidth(), 200))
        self._row.addWidget(widget, stretch)
        self.trailing = widget

    def widgetForAction(self, action: QAction) -> QPushButton | None:
        return self._for_action.get(id(action))

    def factory_buttons(self) -> list[QPushButton]:
        return [b for b in self.findChildren(QPushButton) if b.parentWidget() is self]


def uniform_rows(view: QTableView | QTreeView) -> None:
    """One row height and header alignment for every table and tree: headers left-aligned as their
    text is, rows ROW_HEIGHT tall and one line each (a long value is elided, its whole in the tooltip)."""
    view.setWordWrap(False)
    view.setTextElideMode(Qt.TextElideMode.ElideRight)
    if isinstance(view, QTableView):
        rows = view.verticalHeader()
        rows.setMinimumSectionSize(ROW_HEIGHT)
        rows.setDefaultSectionSize(ROW_HEIGHT)
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = view.horizontalHeader()
    else:
        view.setUniformRowHeights(True)
        header = view.header()
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    header.setHighlightSections(False)
    header.setMinimumHeight(ROW_HEIGHT)


def row_height(view: QAbstractItemView) -> int:
    """The height a view gives its first row (what people see), for tests and checks."""
    model = view.model()
    if model is None or model.rowCount() == 0:
        return -1
    return view.visualRect(model.index(0, 0)).height()


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
    backRequested = Signal()
    forwardRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("header")
        self.back = QToolButton(self)
        self.back.setObjectName("back")
        self.back.setAccessibleName("Back")
        self.back.setToolTip("Back (Alt+Left)")
        set_icon(self.back, "back")
        self.forward = QToolButton(self)
        self.forward.setObjectName("forward")
        self.forward.setAccessibleName("Forward")
        self.forward.setToolTip("Forward (Alt+Right)")
        set_icon(self.forward, "forward")
        self.back.clicked.connect(self.backRequested)
        self.forward.clicked.connect(self.forwardRequested)
        self.palette_button = QPushButton("Search or run a command…   Ctrl+K", self)
        self.palette_button.setObjectName("palette-button")
        self.palette_button.setAccessibleName("Search or run a command")
        set_icon(self.palette_button, "search")
        self.palette_button.clicked.connect(self.paletteRequested)
        self.engine = QComboBox(self)
        self.engine.setObjectName("engine-switcher")
        self.engine.setAccessibleName("Engine")
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
        self.toggle.setObjectName("task-drawer-toggle")
        self.toggle.setAccessibleName("Show every task")
        self.toggle.setText("▴")
        self.toggle.setToolTip("Show every task with its status and log")
        self.toggle.setCheckable(True)
        self.drawer = QWidget(self)
        self.drawer.setObjectName("task-drawer")
        self.drawer.setFixedHeight(160)
        self.table = QTableView(self.drawer)
        self.table.setObjectName("task-table")
        self.table.setAccessibleName("Tasks")
        self.table.setModel(jobs)
        uniform_rows(self.table)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().hide()
        self.table.setColumnWidth(0, 320)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        self.log = QPlainTextEdit(self.drawer)
        self.log.setObjectName("task-log")
        self.log.setAccessibleName("Task log")
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
        self.close_button.setObjectName("notice-close")
        self.close_button.setAccessibleName("Dismiss")
        self.close_button.setToolTip("Dismiss")
        set_icon(self.close_button, "close")
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
