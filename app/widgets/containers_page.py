"""The Containers page: a tree grouped by compose project, live CPU/memory, search, actions on a
multi-selection, and the selected container's detail below.

A view only: it asks for actions through its intents (`actionRequested` with an action of
`app.models.container_actions`, which also says each action's words and when it applies); the
containers controller decides what they do.
"""

from __future__ import annotations

import html

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPointF,
    QRect,
    QRectF,
    QSize,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QDesktopServices, QIcon, QKeySequence, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSplitter,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.display import breakable, cli_command
from app.models.container_actions import MENU, TOOLBAR, ContainerAction, Facts, action, offered
from app.models.containers import (
    HISTORY_ROLE,
    ID_ROLE,
    PORTS_ROLE,
    PROJECT_ROLE,
    RUNNING_ROLE,
    SORT_ROLE,
    STATE_ROLE,
    TONE_ROLE,
    Column,
    ContainersModel,
)
from app.services.engine import EngineStatus
from app.widgets.chrome import ICON_PROPERTY, ROW_HEIGHT, Toolbar, row_button, set_icon, uniform_rows, wraps_in_place
from app.widgets.unreachable import EngineUnreachablePanel


def empty_hint(cli: str) -> str:
    """The empty list's first steps, each one that works as written on a fresh or offline machine:
    an image first (pulled, or loaded from a file), then Run; the CLI as it is typed here."""
    return (
        "<h3>No containers yet</h3>"
        "Containers are running (or stopped) instances of images.<br><br>"
        "1. Get an image on <a href=\"images\">Images</a>: <b>Pull…</b> one (e.g. <code>busybox</code>),<br>"
        "or with no network <b>Load…</b> a file saved with <code>docker save</code>.<br>"
        "2. Select it there and press <b>Run…</b>. The container appears here at once.<br><br>"
        "From a terminal: <code>" + html.escape(cli) + " run -d --name hello busybox sleep 300</code>"
    )


def facts_of(index: QModelIndex | QPersistentModelIndex) -> Facts:
    """What the action table needs to know of a container's row."""
    return Facts(str(index.data(STATE_ROLE) or ""), bool(index.data(RUNNING_ROLE)))


class ContainersProxy(QSortFilterProxyModel):
    """The page's filter over the containers model. Sorting is the model's own (`ContainersModel.sort`):
    the proxy keeps the model's order, so sorting 5,000 rows costs one key per row, not a Python data()
    call per side of every comparison (issue 24)."""

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        model = self.sourceModel()
        if isinstance(model, ContainersModel):
            model.sort(column, order)
        else:
            super().sort(column, order)


class ContainerDelegate(QStyledItemDelegate):
    """CPU as its number with a sparkline beside it (never through it); published ports drawn as links."""

    link = QColor("#2f6fde")
    spark = QColor(47, 111, 222, 200)
    SPARK_MIN = 24  # pixels: a narrower sparkline says nothing, so the number keeps the cell

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cpu_painted: tuple[QRect, QRect] | None = None  # the last CPU cell's text and sparkline
        # Each container's state chip as last drawn: its rect, fill, tone and word (for tests and checks).
        self.chips_painted: dict[str, tuple[QRect, QColor, QColor, str]] = {}
        self.trailing_reserve = 0  # pixels at the list's right end kept for the row's hover actions

    def cpu_rects(self, cell: QRect, option: QStyleOptionViewItem) -> tuple[QRect, QRect]:
        """The CPU cell split: the number on the left at the width of "1000.0" (ten CPUs busy), the sparkline in the
        rest (empty when too narrow)."""
        inner = cell.adjusted(4, 0, -4, 0)
        text_width = option.fontMetrics.horizontalAdvance("1000.0") + 4
        spark_width = inner.width() - text_width - 4
        if spark_width < self.SPARK_MIN:
            return inner, QRect()
        text = QRect(inner.left(), inner.top(), text_width, inner.height())
        return text, QRect(text.right() + 5, inner.top() + 3, spark_width, inner.height() - 6)

    def _paint_cpu(self, painter: QPainter, option: QStyleOptionViewItem,
                   index: QModelIndex | QPersistentModelIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text, opt.text = opt.text, ""
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)  # background, selection
        text_rect, spark_rect = self.cpu_rects(opt.rect, opt)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        painter.save()
        painter.setPen(opt.palette.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text))
        drawn = painter.drawText(text_rect, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), text)
        history = index.data(HISTORY_ROLE) or []
        if len(history) > 1 and not spark_rect.isEmpty():
            top = max(max(history), 5.0)
            step = spark_rect.width() / (len(history) - 1)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(self.spark, 1.2))
            points = [
                QPointF(spark_rect.left() + i * step, spark_rect.bottom() - spark_rect.height() * min(1.0, v / top))
                for i, v in enumerate(history)
            ]
            painter.drawPolyline(points)
        painter.restore()
        self.cpu_painted = (drawn, spark_rect)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(super().sizeHint(option, index).width(), ROW_HEIGHT)  # one row height on every page

    @staticmethod
    def chip_rect(cell: QRect, option: QStyleOptionViewItem, text: str) -> QRect:
        """The state chip: the word with 8 px either side, 18 px tall, centred in the row."""
        width = option.fontMetrics.horizontalAdvance(text) + 16
        height = min(cell.height() - 4, ROW_HEIGHT - 10)
        return QRect(cell.left() + 4, cell.top() + (cell.height() - height) // 2, min(width, cell.width() - 8), height)

    @staticmethod
    def chip_fill(base: QColor, tone: QColor) -> QColor:
        """The chip's background: the tone over the list's base, light enough for the tone's word on it."""
        mix = 0.18
        return QColor(round(base.red() + (tone.red() - base.red()) * mix),
                      round(base.green() + (tone.green() - base.green()) * mix),
                      round(base.blue() + (tone.blue() - base.blue()) * mix))

    def _paint_state(self, painter: QPainter, option: QStyleOptionViewItem,
                     index: QModelIndex | QPersistentModelIndex, tone: QColor) -> None:
        """A container's state as a chip with its word (never colour alone, UI.md): the tone as the
        chip's border, a tint of it as its fill, the word in the text's colour on it."""
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text, opt.text = opt.text, ""
        opt.icon = QIcon()
        opt.features &= ~QStyleOptionViewItem.ViewItemFeature.HasDecoration
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)  # background, selection
        chip = self.chip_rect(opt.rect, opt, text)
        fill = self.chip_fill(opt.palette.color(QPalette.ColorRole.Base), tone)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(tone, 1))
        painter.setBrush(fill)
        radius = chip.height() / 2
        painter.drawRoundedRect(QRectF(chip).adjusted(0.5, 0.5, -0.5, -0.5), radius, radius)
        # The word in the list's text colour (the option's is the tone, from the model): it always reads.
        painter.setPen((widget.palette() if widget is not None else QApplication.palette()).color(
            QPalette.ColorRole.Text))
        elided = opt.fontMetrics.elidedText(text, Qt.TextElideMode.ElideRight, chip.width() - 12)
        painter.drawText(chip, int(Qt.AlignmentFlag.AlignCenter), elided)
        painter.restore()
        self.chips_painted[str(index.data(ID_ROLE))] = (chip, fill, QColor(tone), text)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        column = index.column()
        if column == Column.CPU:
            self._paint_cpu(painter, option, index)
            return
        if column == Column.STATE and index.data(TONE_ROLE):
            tone = index.data(Qt.ItemDataRole.ForegroundRole)
            if isinstance(tone, QColor):
                self._paint_state(painter, option, index, tone)
                return
        if column == Column.PORTS and index.data(PORTS_ROLE):
            option.font.setUnderline(True)
            option.palette.setColor(option.palette.ColorRole.Text, self.link)
        if column == Column.CREATED and self.trailing_reserve:
            self._paint_before_actions(painter, option, index)
            return
        super().paint(painter, option, index)

    def _paint_before_actions(self, painter: QPainter, option: QStyleOptionViewItem,
                              index: QModelIndex | QPersistentModelIndex) -> None:
        """The last column: its background across the cell, its text elided before the row's hover
        actions, which sit at the list's right end (so they never cover the words)."""
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text, opt.text = opt.text, ""
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        viewport = widget.viewport() if isinstance(widget, QAbstractItemView) else None
        end = min(opt.rect.right(), (viewport.width() if viewport is not None else opt.rect.right())
                  - self.trailing_reserve)
        opt.rect.setRight(end)
        opt.text = text
        if opt.rect.width() > 8:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        if index.column() == Column.PORTS and index.data(PORTS_ROLE):
            option.font.setUnderline(True)
            option.palette.setColor(option.palette.ColorRole.Text, self.link)


class RowActions(QWidget):
    """A row's own actions at its right end, as Docker Desktop shows them: Start or Stop (as its state
    allows), Logs, Remove. They sit on the row under the pointer, else on the selected row; they are
    real buttons, so the mouse clicks them and the keyboard reaches them with Tab from the list (the
    selected row's, next in the focus chain)."""

    def __init__(self, page: ContainersPage) -> None:
        table = page.table
        super().__init__(table.viewport())
        self.setObjectName("row-actions")
        self.page = page
        self.table = table
        self.index = QPersistentModelIndex()  # the proxy row the actions are on
        self.hovered = QPersistentModelIndex()
        start, logs, remove = action("start"), action("logs"), action("remove")
        self.toggle = row_button(self, start.label, start.tooltip(start.row_tip), "row-toggle", start.icon)
        self.logs = row_button(self, logs.label, logs.tooltip(logs.row_tip), "row-logs", logs.icon)
        self.remove = row_button(self, remove.label, remove.tooltip(remove.row_tip), "row-remove", remove.icon)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        for button in (self.toggle, self.logs, self.remove):
            layout.addWidget(button)
        QWidget.setTabOrder(table, self.toggle)
        QWidget.setTabOrder(self.toggle, self.logs)
        QWidget.setTabOrder(self.logs, self.remove)
        self.toggle.clicked.connect(self._toggle)
        self.logs.clicked.connect(self._logs)
        self.remove.clicked.connect(lambda: self._emit(remove, self.ids()))
        table.setMouseTracking(True)
        table.entered.connect(self._on_entered)
        table.viewport().installEventFilter(self)
        table.verticalScrollBar().valueChanged.connect(lambda *_: self.place())
        table.header().sectionResized.connect(lambda *_: self.place())
        table.selectionModel().currentChanged.connect(lambda *_: self.place())
        proxy = page.proxy
        for signal in (proxy.dataChanged, proxy.layoutChanged, proxy.rowsInserted, proxy.rowsRemoved,
                       proxy.modelReset):
            signal.connect(lambda *_: self.place())
        self.hide()

    def current(self) -> QModelIndex:
        """The row the actions are on, as a plain index of the proxy (invalid when none)."""
        if not self.index.isValid():
            return QModelIndex()
        return self.page.proxy.index(self.index.row(), 0, self.index.parent())

    def ids(self) -> list[str]:
        """The row's container, or a compose group's members for its row."""
        if not self.index.isValid():
            return []
        source = self.page.proxy.mapToSource(self.current())
        if source.data(PROJECT_ROLE):
            model = self.page.model
            return [str(model.index(r, 0, source).data(ID_ROLE)) for r in range(model.rowCount(source))]
        return [str(source.data(ID_ROLE))]

    def up(self) -> bool:
        """Whether the row's container (any of a group's) runs or is paused: then it is stopped, not started."""
        model = self.page.model
        for id in self.ids():
            index = model.index_of(id)
            if index is not None and facts_of(index).up:
                return True
        return False

    def place(self) -> None:
        """Put the actions on the hovered row, else on the current one; hidden when there is none."""
        focus = QApplication.focusWidget()
        focused = focus is not None and self.isAncestorOf(focus)
        if not focused:  # a button holding the focus keeps its row under the keyboard
            target = self.hovered if self.hovered.isValid() else QPersistentModelIndex(self.table.currentIndex())
            self.index = QPersistentModelIndex(target.sibling(target.row(), 0)) if target.isValid() else target
        if not self.index.isValid():
            self.hide()
            return
        row = self.table.visualRect(self.current())
        viewport = self.table.viewport()
        if row.isEmpty() or row.bottom() < 0 or row.top() > viewport.height():
            self.hide()
            return
        toggle = action("stop" if self.up() else "start")
        if self.toggle.property(ICON_PROPERTY) != toggle.icon:  # stats redraw rows each second
            self.toggle.setAccessibleName(toggle.label)
            self.toggle.setToolTip(toggle.tooltip(toggle.row_tip))
            set_icon(self.toggle, toggle.icon)
        self.logs.setVisible(not self.page.proxy.mapToSource(self.current()).data(PROJECT_ROLE))
        enabled = self.page.toolbar.isEnabled()
        for button in (self.toggle, self.logs, self.remove):
            button.setEnabled(enabled)
        self.adjustSize()
        self.move(viewport.width() - self.width() - 6, row.top() + (row.height() - self.height()) // 2)
        self.show()
        self.raise_()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Leave:
            # The pointer left the list (or went onto these buttons, which are inside it: keep the row).
            if not self.rect().contains(self.mapFromGlobal(self.cursor().pos())):
                self.hovered = QPersistentModelIndex()
                self.place()
        elif event.type() == QEvent.Type.Resize:
            self.place()
        return False

    def _on_entered(self, index: QModelIndex) -> None:
        self.hovered = QPersistentModelIndex(index)
        self.place()

    def _toggle(self) -> None:
        self._emit(action("stop" if self.up() else "start"), self.ids())

    def _logs(self) -> None:
        ids = self.ids()
        if len(ids) == 1:
            self.page.actionRequested.emit("logs", ids)

    def _emit(self, chosen: ContainerAction, ids: list[str]) -> None:
        if ids:
            self.page.clear_message()
            self.page.actionRequested.emit(chosen.name, ids)


class ContainersPage(QWidget):
    actionRequested = Signal(str, list)  # an action of the table (its name), on these container ids
    retryRequested = Signal()
    trustRequested = Signal(str)
    selectionChanged = Signal()
    portOpened = Signal(str)  # the URL opened
    placeRequested = Signal(str)  # a place the empty state's steps link to ("images")
    runRequested = Signal()  # Run…: a new container, from an image to choose

    def __init__(self, model: ContainersModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = ContainersProxy(self)
        self.proxy.setSourceModel(model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setRecursiveFilteringEnabled(True)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)

        self.toolbar = Toolbar(self, "containers-toolbar", "Container actions")
        self.run_button = self.toolbar.button(
            "Run…", "Start a new container from an image: choose it on the Images page (docker run)",
            "containers-run", primary=True)
        self.run_button.clicked.connect(self.runRequested)
        # The selection's actions, from the action table: on the toolbar, and all of them in the
        # list's context menu (its shortcuts work while the window is active).
        self.actions_by_name: dict[str, QAction] = {}
        self._offered = offered(MENU)
        for described in self._offered:
            qaction = QAction(described.label, self)
            qaction.setObjectName(f"action-{described.name}")
            qaction.setToolTip(described.tooltip(described.tip))
            set_icon(qaction, described.icon)
            if described.shortcut and not described.single:
                qaction.setShortcut(QKeySequence(described.shortcut))
            qaction.triggered.connect(lambda _=False, chosen=described: self._request(chosen))
            self.actions_by_name[described.name] = qaction
        for described in offered(TOOLBAR):
            self.toolbar.action_button(self.actions_by_name[described.name], f"containers-{described.name}",
                                       described.icon)
        self.action_start = self.actions_by_name["start"]
        self.action_stop = self.actions_by_name["stop"]
        self.action_remove = self.actions_by_name["remove"]
        self._busy: dict[str, int] = {}

        self.search = QLineEdit(self)
        self.search.setObjectName("containers-search")
        self.search.setAccessibleName("Filter containers")
        self.search.setPlaceholderText("Filter containers (name, image, state, project)   Ctrl+F")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._on_filter)
        self.toolbar.add_trailing(self.search)

        self.table = QTreeView(self)
        self.table.setObjectName("containers-table")
        self.table.setModel(self.proxy)
        self.table.setItemDelegate(ContainerDelegate(self.table))
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(Column.CREATED, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setUniformRowHeights(True)
        self.table.setRootIsDecorated(True)
        self.table.setAccessibleName("Containers")
        uniform_rows(self.table)
        # Room left for Created beside the row actions at its end in a window of the default size.
        for column, width in ((Column.NAME, 180), (Column.IMAGE, 150), (Column.STATE, 120), (Column.CPU, 100),
                              (Column.MEMORY, 80), (Column.PORTS, 140)):
            self.table.setColumnWidth(column, width)
        self.table.addActions(list(self.actions_by_name.values()))  # the context menu
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.table.clicked.connect(self._on_clicked)
        # A row's whole change (a state) says no roles; a second's readings say theirs and change
        # nothing an action depends on: following them walked the selection each second.
        model.dataChanged.connect(lambda _first, _last, roles=(): None if roles else self._update_actions())
        model.rowsInserted.connect(self._on_rows)
        model.rowsRemoved.connect(self._update_view)
        model.modelReset.connect(lambda: self._on_rows())
        self.row_actions = RowActions(self)
        delegate = self.table.itemDelegate()
        if isinstance(delegate, ContainerDelegate):
            delegate.trailing_reserve = self.row_actions.sizeHint().width() + 12

        self.message = QLabel(self)
        self.message.setObjectName("containers-message")
        self.message.setProperty("role", "error")
        wraps_in_place(self.message)
        self.message.hide()

        self.empty = QLabel(empty_hint(cli_command()), self)
        self.empty.setObjectName("containers-empty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.empty.linkActivated.connect(self.placeRequested)
        self.connecting = QLabel("Connecting to the engine…", self)
        self.connecting.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.connecting.setProperty("role", "hint")
        self.unreachable = EngineUnreachablePanel(self)
        self.unreachable.retryRequested.connect(self.retryRequested)
        self.unreachable.trustRequested.connect(self.trustRequested)

        self.stack = QStackedWidget(self)
        for widget in (self.connecting, self.table, self.empty, self.unreachable):
            self.stack.addWidget(widget)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(self.stack)
        self.detail_holder = QWidget(self)
        self.detail_layout = QVBoxLayout(self.detail_holder)
        self.detail_layout.setContentsMargins(0, 0, 0, 0)
        self.splitter.addWidget(self.detail_holder)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.detail_holder.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.setSpacing(4)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.message)
        layout.addWidget(self.splitter, 1)

        self._reachable: bool | None = None
        self._clock = QTimer(self)
        self._clock.setInterval(30_000)
        # "5 minutes ago" becomes "6 minutes ago": the rows in view are painted again, which reads them anew.
        # Not a dataChanged over every row: the proxy sorts by Created and would sort 5,000 rows again.
        self._clock.timeout.connect(self.table.viewport().update)
        self._clock.start()
        self._update_actions()

    def set_detail(self, widget: QWidget) -> None:
        self.detail_layout.addWidget(widget)

    def set_link_color(self, color: QColor) -> None:
        delegate = self.table.itemDelegate()
        if isinstance(delegate, ContainerDelegate):
            delegate.link = color

    # -- engine status ---------------------------------------------------------------------------

    def show_engine_status(self, status: EngineStatus) -> None:
        self._reachable = status.reachable
        if status.reachable is False:
            self.unreachable.show_unreachable(status.url, status.reason or "it does not answer")
            self.clear_message()
        self.unreachable.offer_trust(status.unknown_host_key)  # only while a key waits to be trusted
        self._update_view()

    def show_error(self, text: str) -> None:
        self.message.setText(html.escape(breakable(text)))
        self.message.show()

    def focus_search(self) -> None:
        """Ctrl+F: the list's filter, its text selected to type over."""
        self.search.setFocus()
        self.search.selectAll()

    def clear_message(self) -> None:
        self.message.clear()
        self.message.hide()

    def set_busy(self, name: str, delta: int) -> None:
        """An action started (+1) or ended (-1): its button says so while any runs."""
        if name not in self.actions_by_name:
            return
        self._busy[name] = max(0, self._busy.get(name, 0) + delta)
        described = action(name)
        count = self._busy[name]
        self.actions_by_name[name].setText(
            f"{described.busy} ({count})" if count > 1 else described.busy if count else described.label)
        self._update_actions()

    def busy(self, action: str) -> int:
        return self._busy.get(action, 0)

    # -- selection -------------------------------------------------------------------------------

    def selected_ids(self, applying: ContainerAction | None = None) -> list[str]:
        """The selected containers (a compose group's members for its row), those `applying` applies
        to when given (Start: those not up, Pause: those running, ...)."""
        ids: list[str] = []
        for index in self.table.selectionModel().selectedRows():
            source = self.proxy.mapToSource(index)
            project = source.data(PROJECT_ROLE)
            members = (
                [self.model.index(r, 0, source) for r in range(self.model.rowCount(source))] if project else [source]
            )
            for member in members:
                id = str(member.data(ID_ROLE))
                if id in ids or (applying is not None and not applying.applies(facts_of(member))):
                    continue
                ids.append(id)
        return ids

    def current_id(self) -> str:
        index = self.table.currentIndex()
        if not index.isValid():
            return ""
        return str(self.proxy.mapToSource(index).data(ID_ROLE) or "")

    def current_project(self) -> str:
        index = self.table.currentIndex()
        return str(self.proxy.mapToSource(index).data(PROJECT_ROLE) or "") if index.isValid() else ""

    def select_container(self, id: str) -> bool:
        index = self.model.index_of(id)
        if index is None:
            return False
        proxied = self.proxy.mapFromSource(index)
        if not proxied.isValid():
            return False
        self.table.expand(proxied.parent())
        self.table.setCurrentIndex(proxied)
        self.table.selectionModel().select(
            proxied,
            self.table.selectionModel().SelectionFlag.ClearAndSelect | self.table.selectionModel().SelectionFlag.Rows,
        )
        return True

    def _request(self, chosen: ContainerAction) -> None:
        ids = self.selected_ids(chosen)
        if ids:
            self.clear_message()
            self.actionRequested.emit(chosen.name, ids)

    # -- detail ----------------------------------------------------------------------------------

    def show_detail(self) -> None:
        self.detail_holder.show()

    def hide_detail(self) -> None:
        self.detail_holder.hide()

    def _on_selection(self, *args: object) -> None:
        self._update_actions()
        self.selectionChanged.emit()

    def _on_clicked(self, index: QModelIndex) -> None:
        source = self.proxy.mapToSource(index)
        if source.column() == Column.PORTS:
            ports = source.data(PORTS_ROLE) or []
            if ports:
                url = f"http://localhost:{ports[0]}"
                QDesktopServices.openUrl(QUrl(url))
                self.portOpened.emit(url)

    def _on_filter(self, text: str) -> None:
        self.proxy.setFilterFixedString(text)
        self._expand_projects()

    def _expand_projects(self) -> None:
        """Open every compose group: the model names their rows (expandAll asked each of 5,000 rows)."""
        for index in self.model.project_indexes():
            self.table.expand(self.proxy.mapFromSource(index))

    def _on_rows(self, parent: QModelIndex | None = None, first: int = 0, last: int = -1) -> None:
        # Open new compose groups (only those: expandAll walks every row).
        if parent is None or last < 0:
            self._expand_projects()
        elif not parent.isValid():
            for row in range(first, last + 1):
                index = self.model.index(row, 0)
                if index.data(PROJECT_ROLE):
                    self.table.expand(self.proxy.mapFromSource(index))
        self._update_view()

    def _update_actions(self, *args: object) -> None:
        reachable = self._reachable is True
        for described in self._offered:
            self.actions_by_name[described.name].setEnabled(
                reachable and bool(self.selected_ids(described)) and not self._busy.get(described.name))

    def _update_view(self, *args: object) -> None:
        if self._reachable is False:
            target: QWidget = self.unreachable
        elif self._reachable is None:
            target = self.connecting
        elif self.model.rowCount() == 0:
            target = self.empty
        else:
            target = self.table
        self.stack.setCurrentWidget(target)
        self.toolbar.setEnabled(self._reachable is True)
        self._update_actions()
