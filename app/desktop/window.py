"""The main window: sidebar of places, header (palette, engine switcher), one page per place, the
task panel and the engine status at the bottom.

This is the composition root: it creates the services, models, pages and each page's controller
(`app/widgets/*_controller.py`: what a page's intents do against the engine, its refreshes and
notices), and connects what crosses pages. It holds no page's logic.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import Awaitable, Callable

from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from app.desktop.theme import THEMES, Theme, apply_theme, system_theme_name
from app.dialogs.palette import Command, CommandPalette
from app.dialogs.run import RunDialog
from app.models.compose import project_containers_model, projects_model
from app.models.container_actions import action as container_action
from app.models.containers import ContainersModel
from app.models.machines import machines_model
from app.models.resources import images_model, networks_model, volumes_model
from app.models.stats import stats_overview_model
from app.resources import icon_path, set_icon_colors, themed_icon
from app.services.compose import ComposeService
from app.services.containers import ContainerService
from app.services.engine import EngineConnection, EngineStatus
from app.services.jobs import JobCenter
from app.services.machines import MachineService
from app.services.resources import ImageService, NetworkService, VolumeService
from app.services.settings import Context, Settings
from app.services.stats import StatsService
from app.services.watch import ContainerWatch
from app.widgets.chrome import Header, NoticeBar, TaskPanel, never_widens, refresh_icons
from app.widgets.compose_controller import ComposeController
from app.widgets.compose_page import ComposePage
from app.widgets.container_detail import ContainerDetail
from app.widgets.containers_controller import ContainersController
from app.widgets.containers_page import ContainersPage
from app.widgets.engine_status import EngineStatusLabel
from app.widgets.log_panel import LogPanel
from app.widgets.machines_controller import MachinesController
from app.widgets.machines_page import MachinesPage
from app.widgets.notices import Notices
from app.widgets.resource_pages import ImagesPage, NetworksPage, ResourcePage, VolumesPage
from app.widgets.resources_controller import ResourcesController
from app.widgets.settings_page import SettingsPage
from app.widgets.sidebar import PLACES, Sidebar
from app.widgets.stats_page import StatsPage
from app.widgets.tray import BerthTray
from engine.client.tls import TLSFiles


class MainWindow(QMainWindow):
    def __init__(self, url: str | None = None, theme: Theme | None = None, settings: Settings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Berth")
        self.setWindowIcon(QIcon(str(icon_path("berth"))))
        self.resize(1180, 760)
        self.settings = settings or Settings(parent=self)
        self.theme = theme
        app = QApplication.instance()
        if theme is None and isinstance(app, QApplication):
            # The theme chosen last time, before any widget is made: each is then polished once,
            # instead of all again when a style sheet comes after them (~60 ms at start).
            apply_theme(app, Theme.load(_theme_name(self.settings.theme)))

        # As the docker CLI: --host, then $BERTH_HOST/$DOCKER_HOST, then the engine last chosen here.
        if url is None and not (os.environ.get("BERTH_HOST") or os.environ.get("DOCKER_HOST")):
            url = self.settings.engine or None
        context = self.settings.context(url) if url else None
        self.connection = EngineConnection(url, self, tls=context.tls if context is not None else None)
        self.jobs = JobCenter(self)
        self.containers = ContainerService(self.connection, self)
        self.stats = StatsService(self.connection, self)
        self.images = ImageService(self.connection, self.jobs, self)
        self.volumes = VolumeService(self.connection, self)
        self.networks = NetworkService(self.connection, self)
        self.watch = ContainerWatch(self)
        self.containers_model = ContainersModel(self)
        containers = self.containers_model
        self.images_model = images_model(lambda id: len(containers.names_using_image(id)), self)
        self.volumes_model = volumes_model(containers.names_using_volume, self)
        self.networks_model = networks_model(containers.names_on_network, self)
        self.compose = ComposeService(self.connection, self.jobs, self)
        self.compose_model = projects_model(self)
        self.compose_containers_model = project_containers_model(self)
        self.machine_service = MachineService(self.jobs, parent=self)
        self.machines_model = machines_model(self)
        self.stats_model = stats_overview_model(self)

        self.sidebar = Sidebar(self)
        self.header = Header(self)
        self.pages = QStackedWidget(self)
        self.containers_page = ContainersPage(self.containers_model, self)
        self.detail = ContainerDetail(self.connection, self.stats, self)
        self.containers_page.set_detail(self.detail)
        self.stats_page = StatsPage(self.stats_model, self.stats, self)
        self.images_page = ImagesPage(self.images_model, self)
        self.volumes_page = VolumesPage(self.volumes_model, self)
        self.networks_page = NetworksPage(self.networks_model, self)
        self.settings_page = SettingsPage(self)
        self.compose_page = ComposePage(self.compose_model, self.compose_containers_model, self.compose.log_buffer,
                                        self)
        self.machines_page = MachinesPage(self.machines_model, parent=self)
        self._page_index = {
            "containers": self.pages.addWidget(self.containers_page),
            "stats": self.pages.addWidget(self.stats_page),
            "images": self.pages.addWidget(self.images_page),
            "volumes": self.pages.addWidget(self.volumes_page),
            "networks": self.pages.addWidget(self.networks_page),
        }
        self._page_index["compose"] = self.pages.addWidget(self.compose_page)
        self._page_index["machines"] = self.pages.addWidget(self.machines_page)
        self._page_index["settings"] = self.pages.addWidget(self.settings_page)
        self.notices = NoticeBar(self.pages)  # a toast over the pages, in no layout
        self.task_panel = TaskPanel(self.jobs, self)

        right = QWidget(self)
        column = QVBoxLayout(right)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.header)
        column.addWidget(self.pages, 1)
        column.addWidget(self.task_panel)
        central = QWidget(self)
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.sidebar)
        layout.addWidget(right, 1)
        self.setCentralWidget(central)
        # The header's row first, then the sidebar below its brand, then the page (the sidebar was made first).
        QWidget.setTabOrder(self.header.engine, self.sidebar.places)

        self.command_palette: CommandPalette | None = None
        self.engine_status = EngineStatusLabel(self)
        self.statusBar().addPermanentWidget(never_widens(self.engine_status), 1)
        self.tray: BerthTray | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = BerthTray(QIcon(str(icon_path("berth"))), self)
        self._closed = False
        self._history: list[str] = []
        self._future: list[str] = []

        # Each page's controller: what its intents do against the engine.
        self.notices_controller = Notices(self.notices, self.pages, self, self.containers_model, self.tray)
        self.containers_controller = ContainersController(
            connection=self.connection, service=self.containers, model=self.containers_model,
            page=self.containers_page, detail=self.detail, watch=self.watch, notices=self.notices_controller,
            stats_page=self.stats_page, images=self.images, images_model=self.images_model,
            images_page=self.images_page, show_place=self.show_place, window=self)
        self.resources_controller = ResourcesController(
            images=self.images, volumes=self.volumes, networks=self.networks, images_model=self.images_model,
            volumes_model=self.volumes_model, networks_model=self.networks_model, images_page=self.images_page,
            volumes_page=self.volumes_page, networks_page=self.networks_page, containers=self.containers_model,
            notices=self.notices_controller, open_run_dialog=self.open_run_dialog, window=self)
        self.compose_controller = ComposeController(
            compose=self.compose, projects=self.compose_model, containers=self.compose_containers_model,
            page=self.compose_page, notices=self.notices_controller, window=self)
        # switch_engine looked up at each call, as the window's own methods are (a test replaces it).
        self.machines_controller = MachinesController(
            machines=self.machine_service, model=self.machines_model, page=self.machines_page,
            first_run=self.containers_page.unreachable, notices=self.notices_controller,
            switch_engine=lambda url: self.switch_engine(url), contexts_changed=self._refresh_contexts, window=self)

        self._wire()
        self._shortcuts()
        if theme is not None:
            self.use_theme(theme)
        else:  # no --theme: the one chosen last time
            self.apply_named_theme(self.settings.theme)
        self.settings_page.set_theme(self.settings.theme)
        self._refresh_contexts()
        self.sidebar.select_place("containers")
        self._on_status(self.connection.status)

    # -- wiring ----------------------------------------------------------------------------------

    def _wire(self) -> None:
        """What crosses pages: navigation, the engine's status, the tray, stats, the palette."""
        connection, containers = self.connection, self.containers_controller
        self.sidebar.placeSelected.connect(self._navigate)
        connection.statusChanged.connect(self._on_status)
        connection.switched.connect(self._on_switched)
        connection.containerEvent.connect(self.watch.on_event)
        containers.settled.connect(self._on_containers_settled)
        self.stats.sampled.connect(self.containers_model.set_stats)
        self.stats.sampled.connect(lambda *_: self.stats_page.refresh())
        self.stats_page.containerChosen.connect(containers.open_stats)
        self.stats_page.momentChosen.connect(containers.open_at)
        self.watch.alert.connect(self.notify)
        if self.tray is not None:
            self.tray.openRequested.connect(self._bring_to_front)
            self.tray.containerAction.connect(self._on_tray_container)
            self.tray.contextChosen.connect(self.switch_engine)
            self.tray.quitRequested.connect(QApplication.quit)
            self.tray.show()

        self.header.paletteRequested.connect(self.open_palette)
        self.header.contextChosen.connect(self.switch_engine)
        self.header.backRequested.connect(self.go_back)
        self.header.forwardRequested.connect(self.go_forward)
        self.settings_page.contextChosen.connect(self.switch_engine)
        self.settings_page.contextAdded.connect(self._add_context)
        self.settings_page.contextRemoved.connect(self._remove_context)
        self.settings_page.themeChosen.connect(self.choose_theme)

    def _on_containers_settled(self, running: dict[str, str]) -> None:
        """The containers changed: what follows the running ones, and the other pages' "in use"."""
        self.stats.track(set(running))
        self.stats_page.show_running(running)
        if self.tray is not None:
            self.tray.set_containers(sorted(running.items(), key=lambda item: item[1]))
        self.resources_controller.containers_changed()

    def _bring_to_front(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def _on_tray_container(self, id: str, name: str) -> None:
        if name == "logs":
            self._bring_to_front()
            self.show_place("containers")
        self.containers_controller.perform(name, [id])

    def _shortcuts(self) -> None:
        for keys, handler in (
            ("Ctrl+K", self.open_palette),
            ("Ctrl+F", self.focus_search),
            # The detail's tabs, by the shortcuts the action table gives its Logs and Terminal.
            (container_action("logs").shortcut, lambda: self.open_detail_tab("Logs")),
            (container_action("terminal").shortcut, lambda: self.open_detail_tab("Terminal")),
            ("Alt+Left", self.go_back),
            ("Alt+Right", self.go_forward),
            # Ctrl+1 … Ctrl+8: the places in the sidebar's order.
            *((f"Ctrl+{n}", lambda _=False, key=key: self.show_place(key)) for n, (key, _) in enumerate(PLACES, 1)),
        ):
            action = QAction(self)
            action.setShortcut(QKeySequence(keys))
            action.triggered.connect(handler)
            self.addAction(action)

    def start(self) -> None:
        self.connection.check()

    # -- navigation ------------------------------------------------------------------------------

    def show_place(self, key: str) -> None:
        self.sidebar.select_place(key)

    def current_place(self) -> str:
        index = self.pages.currentIndex()
        return next((k for k, i in self._page_index.items() if i == index), "containers")

    def _navigate(self, key: str) -> None:
        current = self.current_place()
        if key != current and self.pages.currentIndex() >= 0:
            self._history.append(current)
            self._future.clear()
        self.pages.setCurrentIndex(self._page_index.get(key, 0))
        if key == "machines":
            self.machines_controller.shown()

    def go_back(self) -> None:
        if self._history:
            self._future.append(self.current_place())
            place = self._history.pop()
            self.pages.setCurrentIndex(self._page_index[place])
            self.sidebar.select_place(place, quietly=True)

    def go_forward(self) -> None:
        if self._future:
            self._history.append(self.current_place())
            place = self._future.pop()
            self.pages.setCurrentIndex(self._page_index[place])
            self.sidebar.select_place(place, quietly=True)

    def focus_search(self) -> None:
        place = self.current_place()
        # Ctrl+F searches what has the focus: a log (the detail's, compose's) when the focus is in
        # it or in the detail around it, else the page's list (UI.md: the current list or log).
        widget = QApplication.focusWidget()
        while widget is not None:
            if isinstance(widget, LogPanel):
                widget.focus_search()
                return
            if widget is self.detail and self.detail.search_logs():
                return
            widget = widget.parentWidget()
        searchable: dict[str, ContainersPage | ResourcePage] = {
            "containers": self.containers_page, "stats": self.stats_page, "images": self.images_page,
            "volumes": self.volumes_page, "networks": self.networks_page}
        page = searchable.get(place)
        if page is not None:
            page.focus_search()

    def open_detail_tab(self, tab: str) -> None:
        self.containers_controller.open_detail_tab(tab)

    def open_run_dialog(self, image: str = "") -> RunDialog:
        return self.containers_controller.open_run_dialog(image)

    @property
    def run_dialog(self) -> RunDialog | None:
        return self.containers_controller.run_dialog

    @property
    def confirmation(self) -> QMessageBox | None:
        """The question last asked before data would be lost (removing a running container, an image…)."""
        return self.notices_controller.confirmation

    @confirmation.setter
    def confirmation(self, box: QMessageBox | None) -> None:
        self.notices_controller.confirmation = box

    # -- theme and engines -----------------------------------------------------------------------

    def use_theme(self, theme: Theme) -> None:
        self.theme = theme
        # One icon set for every theme, drawn again in this theme's text colours.
        set_icon_colors(*theme.icon_colors())
        refresh_icons(self)
        self.sidebar.set_icons(themed_icon)
        self.containers_model.set_tone_colors({tone: theme.tone_color(tone) for tone in theme.tones})
        self.containers_page.set_link_color(theme.color("link"))
        self.engine_status.set_tones(dict(theme.tones))
        for toned in (self.compose_model, self.compose_containers_model, self.machines_model):
            toned.set_tone_colors({tone: theme.tone_color(tone) for tone in theme.tones})

    def choose_theme(self, name: str) -> None:
        self.settings.theme = name
        self.apply_named_theme(name)

    def apply_named_theme(self, name: str) -> None:
        theme = Theme.load(_theme_name(name))
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, theme)
        self.use_theme(theme)

    def switch_engine(self, url: str) -> None:
        if not url:
            return
        context = self.settings.context(url)
        self.connection.switch(url, context.tls if context is not None else None)
        self.settings.engine = url

    def _add_context(self, name: str, url: str, tls: TLSFiles | None) -> None:
        try:
            context = self.settings.add_context(name, url, tls)
        except ValueError as exc:  # TLSSetupError too: the page says what to fix, nothing is stored
            self.settings_page.show_error(str(exc))
            return
        self.settings_page.added(context)
        self._refresh_contexts()

    def _remove_context(self, name: str) -> None:
        self.settings.remove_context(name)
        self._refresh_contexts()

    def all_contexts(self) -> list[Context]:
        """Every engine the switchers offer: Settings' and each Berth machine's."""
        machines = [Context(f"machine {item['name']}", str(item["docker_host"]), f"a Berth machine ({item['state']})")
                    for item in self.machines_model.items() if item.get("docker_host")]
        return self.settings.contexts(self.connection.url, machines)

    def _refresh_contexts(self) -> None:
        contexts = self.all_contexts()
        self.header.set_contexts(contexts, self.connection.url)
        self.settings_page.set_contexts(contexts, self.connection.url)
        if self.tray is not None:
            self.tray.set_contexts(contexts, self.connection.url)

    def _on_switched(self, url: str) -> None:
        self.stats.stop_all()
        self.containers_controller.engine_switched()
        self.resources_controller.engine_switched()
        self.stats_model.clear()
        self.compose_controller.engine_switched()
        self._refresh_contexts()

    def _on_status(self, status: EngineStatus) -> None:
        self.engine_status.set_status(status)
        self.containers_page.show_engine_status(status)
        self.machines_controller.engine_status(status)
        if self.tray is not None:
            self.tray.set_status(status.reachable, status.description, status.reason)

    # -- notifications ---------------------------------------------------------------------------

    def notify(self, title: str, message: str, key: str = "", action: Callable[[], None] | None = None) -> None:
        """`action`: what clicking the notice does (a detector's finding opens the container then)."""
        self.notices_controller.notify(title, message, key, action)

    # -- palette ---------------------------------------------------------------------------------

    def palette_commands(self) -> list[Command]:
        commands: list[Command] = []
        go = functools.partial
        for key in self._page_index:
            commands.append((f"Go to {key.capitalize()}", "place", go(self.show_place, key)))
        commands += self.containers_controller.palette_commands()
        commands.append(("Pull an image…", "docker pull",
                         _steps(go(self.show_place, "images"), self.images_page.open_pull_dialog)))
        commands.append(("Build an image…", "docker build",
                         _steps(go(self.show_place, "images"), self.images_page.open_build_dialog)))
        commands.append(("Create a volume…", "docker volume create",
                         _steps(go(self.show_place, "volumes"), self.volumes_page.open_create_dialog)))
        commands.append(("Open a compose file…", "docker compose up",
                         _steps(go(self.show_place, "compose"), self.compose_page.ask_file)))
        commands.append(("Create a machine…", "berth machine init",
                         _steps(go(self.show_place, "machines"), self.machines_page.open_create_form)))
        for theme in (*THEMES, "system"):
            commands.append((f"Theme: {theme}", "settings", go(self.choose_theme, theme)))
        commands.append(("About Berth", "version", self.open_about))
        for context in self.all_contexts():
            commands.append((f"Use engine {context.name}", context.url, go(self.switch_engine, context.url)))
        return commands

    def open_about(self) -> None:
        from app.desktop.about import AboutDialog

        AboutDialog(self).open()  # open(), not exec(): never a nested loop under qasync

    def open_palette(self) -> CommandPalette:
        palette = CommandPalette(self.palette_commands(), self)
        palette.open()
        palette.query.setFocus()
        self.command_palette = palette
        return palette

    async def shutdown(self) -> None:
        """Stop background work and close the engine connection (safe after the window is deleted)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(RuntimeError):
            self.containers_controller.close()
        # Every service ends its work together (streams at once, calls given a moment), and only
        # then the connection they share: nothing in flight is left holding a socket.
        closes = (self.detail.aclose, self.stats.close, self.images.close, self.volumes.close,
                  self.networks.close, self.containers.close, self.compose.close, self.machine_service.close)
        await asyncio.gather(*(_closing(close) for close in closes))
        await _closing(self.connection.close)
        await asyncio.sleep(0)


async def _closing(close: Callable[[], Awaitable[None]]) -> None:
    with contextlib.suppress(RuntimeError):  # a Qt object already deleted with the window
        await close()


def _theme_name(name: str) -> str:
    return system_theme_name() if name == "system" else name


def _steps(*actions: Callable[[], object]) -> Callable[[], None]:
    """One palette command doing several things in order (go to a page, open its form, focus it)."""

    def run() -> None:
        for action in actions:
            action()

    return run
