"""The main window: sidebar of places, one page per place, engine status in the status bar.

This is the composition root: it creates the services and the model, and wires views to them.
"""

from __future__ import annotations

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QHBoxLayout, QMainWindow, QMessageBox, QStackedWidget, QWidget

from app.desktop.theme import Theme
from app.dialogs.confirm import ask_to_remove_running
from app.display import container_name
from app.models.containers import ContainersModel
from app.resources import icon_path
from app.services.containers import ContainerService
from app.services.engine import EngineConnection, EngineStatus
from app.widgets.containers_page import ContainersPage
from app.widgets.engine_status import EngineStatusLabel
from app.widgets.placeholder import ComingSoonPage
from app.widgets.sidebar import Sidebar

# What each place will be for, and a first step people can take today.
PLACEHOLDERS = {
    "images": ("Images", "Pull, build, tag and push images.", "list them with <code>berth images</code>."),
    "volumes": ("Volumes", "Browse, export, import and clone volumes.", "use <code>docker volume ls</code>."),
    "networks": ("Networks", "See and create networks.", "use <code>docker network ls</code>."),
    "compose": ("Compose", "Compose projects as first-class objects.", "use <code>docker compose up</code>."),
    "machines": (
        "Machines",
        "Linux VMs running berthd on macOS and Windows.",
        "on Linux, berthd runs natively: start it with <code>berthd</code>.",
    ),
    "settings": ("Settings", "Engines, theme and resources.", "choose the engine with <code>--host</code>."),
}


class MainWindow(QMainWindow):
    def __init__(self, url: str | None = None, theme: Theme | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Berth")
        self.setWindowIcon(QIcon(str(icon_path("berth"))))
        self.resize(1040, 640)

        self.connection = EngineConnection(url, self)
        self.containers = ContainerService(self.connection, self)
        self.containers_model = ContainersModel(self)

        self.sidebar = Sidebar(self)
        self.pages = QStackedWidget(self)
        self.containers_page = ContainersPage(self.containers_model, self)
        self._page_index = {"containers": self.pages.addWidget(self.containers_page)}
        for key, (title, purpose, step) in PLACEHOLDERS.items():
            self._page_index[key] = self.pages.addWidget(ComingSoonPage(title, purpose, step, self))
        self.sidebar.placeSelected.connect(self.show_place)

        central = QWidget(self)
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.sidebar)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self.confirmation: QMessageBox | None = None  # the open question, if any (tests answer it)
        self.engine_status = EngineStatusLabel(self)
        self.statusBar().addPermanentWidget(self.engine_status, 1)

        self._wire()
        if theme is not None:
            self.use_theme(theme)
        self.sidebar.select_place("containers")
        self.engine_status.set_status(self.connection.status)
        self.containers_page.show_engine_status(self.connection.status)

    def _wire(self) -> None:
        connection, service, model, page = (
            self.connection,
            self.containers,
            self.containers_model,
            self.containers_page,
        )
        connection.statusChanged.connect(self._on_status)
        service.listed.connect(model.set_containers)
        service.changed.connect(model.upsert)
        service.removed.connect(model.remove_container)
        service.actionFailed.connect(self._on_action_failed)
        page.retryRequested.connect(connection.check)
        page.startRequested.connect(self._start)
        page.stopRequested.connect(self._stop)
        page.removeRequested.connect(self._remove)

    def start(self) -> None:
        """Begin talking to the engine (needs the asyncio loop to be running in Qt)."""
        self.connection.check()

    def show_place(self, key: str) -> None:
        self.pages.setCurrentIndex(self._page_index.get(key, 0))

    def use_theme(self, theme: Theme) -> None:
        self.containers_model.set_tone_colors({tone: theme.tone_color(tone) for tone in theme.tones})
        self.engine_status.set_tones(dict(theme.tones))

    def _on_status(self, status: EngineStatus) -> None:
        self.engine_status.set_status(status)
        self.containers_page.show_engine_status(status)

    def _on_action_failed(self, id: str, action: str, message: str) -> None:
        row = self.containers_model.row_of(id) if id else None
        name = container_name(self.containers_model.container_at(row)) if row is not None else id[:12]
        self.containers_page.show_error(f"Could not {action} {name}: {message}" if name else message)

    def _start(self, ids: list[str]) -> None:
        for id in ids:
            self.containers.start(id)

    def _stop(self, ids: list[str]) -> None:
        for id in ids:
            self.containers.stop(id)

    def _force_remove(self, ids: list[str]) -> None:
        for id in ids:
            self.containers.remove(id, force=True)

    def _remove(self, ids: list[str]) -> None:
        running = []
        for id in ids:
            row = self.containers_model.row_of(id)
            if row is not None and self.containers_model.state_at(row).running:
                running.append(id)
        stopped = [id for id in ids if id not in running]
        for id in stopped:
            self.containers.remove(id)
        if running:
            names = [container_name(self.containers_model.container_at(r)) for r in self._rows(running)]
            # Only running containers lose something (their processes): ask only for them.
            self.confirmation = ask_to_remove_running(self, names, lambda: self._force_remove(running))

    def _rows(self, ids: list[str]) -> list[int]:
        return [row for id in ids if (row := self.containers_model.row_of(id)) is not None]

    async def shutdown(self) -> None:
        """Stop background work and close the engine connection."""
        await self.containers.close()
        await self.connection.close()
