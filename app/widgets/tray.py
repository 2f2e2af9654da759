"""The tray icon: the engine's state at a glance (a coloured dot on the icon, a tooltip) and quick
actions without opening the window: running containers (logs, restart, stop), engines, quit."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon, QWidget

from app.models.container_actions import TRAY, TRAY_ORDER, offered
from app.services.settings import Context

# The dot's colours say the state; the tooltip and the menu's first line say it in words too.
STATE_COLORS = {True: "#1a7f37", False: "#cf222e", None: "#9a6700"}
MAX_CONTAINERS = 15  # a tray menu is no place for a long list: the window has the table


def state_icon(base: QIcon, reachable: bool | None, size: int = 64) -> QIcon:
    """`base` with a dot in its lower right corner: green answers, red does not, amber not known yet."""
    pixmap = base.pixmap(size, size) if not base.isNull() else QPixmap(size, size)
    if base.isNull():
        pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QColor("white"))
    painter.setBrush(QColor(STATE_COLORS[reachable]))
    dot = size * 0.42
    painter.drawEllipse(QRectF(size - dot - 1, size - dot - 1, dot, dot))
    painter.end()
    return QIcon(pixmap)


class BerthTray(QSystemTrayIcon):
    openRequested = Signal()
    containerAction = Signal(str, str)  # container id, an action of the table offered in the tray
    contextChosen = Signal(str)  # engine url
    quitRequested = Signal()

    def __init__(self, icon: QIcon, parent: QWidget | None = None) -> None:
        super().__init__(icon, parent)
        self._base = icon
        self.menu = QMenu(parent)
        self.menu.setObjectName("tray-menu")
        self.state = QAction("Engine: checking…", self.menu)
        self.state.setEnabled(False)
        self.containers = QMenu("Running containers", self.menu)
        self.engines = QMenu("Engine", self.menu)
        open_action = QAction("Open Berth", self.menu)
        open_action.triggered.connect(self.openRequested)
        quit_action = QAction("Quit Berth", self.menu)
        quit_action.triggered.connect(self.quitRequested)
        self.menu.addAction(self.state)
        self.menu.addSeparator()
        self.menu.addAction(open_action)
        self.menu.addMenu(self.containers)
        self.menu.addMenu(self.engines)
        self.menu.addSeparator()
        self.menu.addAction(quit_action)
        self.setContextMenu(self.menu)
        self.activated.connect(self._on_activated)
        self.set_status(None, "")
        self.set_containers([])

    def set_status(self, reachable: bool | None, description: str, reason: str = "") -> None:
        if reachable:
            words = f"{description or 'the engine'} answers"
        elif reachable is False:
            words = f"not answering ({reason})" if reason else "not answering"
        else:
            words = "checking…"
        self.state.setText(f"Engine: {words}")
        self.setToolTip(f"Berth — engine {words}")
        self.setIcon(state_icon(self._base, reachable))

    def set_containers(self, running: Sequence[tuple[str, str]]) -> None:
        """(id, name) of the running containers, each with its quick actions."""
        self.containers.clear()
        for id, name in list(running)[:MAX_CONTAINERS]:
            sub = self.containers.addMenu(name)
            for action in offered(TRAY, TRAY_ORDER):
                sub.addAction(action.menu_text).triggered.connect(
                    lambda _=False, i=id, a=action.name: self.containerAction.emit(i, a))
        if len(running) > MAX_CONTAINERS:
            self.containers.addAction(f"… {len(running) - MAX_CONTAINERS} more in the window").setEnabled(False)
        if not running:
            self.containers.addAction("none running").setEnabled(False)

    def set_contexts(self, contexts: Sequence[Context], current_url: str) -> None:
        self.engines.clear()
        for context in contexts:
            action = self.engines.addAction(context.name)
            action.setCheckable(True)
            action.setChecked(context.url == current_url)
            action.setToolTip(context.url)
            action.triggered.connect(lambda _=False, url=context.url: self.contextChosen.emit(url))

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        # A click opens the window; the context menu is Qt's to show on a right click.
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.openRequested.emit()
