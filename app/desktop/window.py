"""The main window: sidebar of places, header (palette, engine switcher), one page per place, the
task panel and the engine status at the bottom.

This is the composition root: it creates the services and models, and wires views to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import QTimer
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
from app.dialogs.confirm import ask_to_lose_data, ask_to_remove_running, image_loss, volume_loss
from app.dialogs.palette import Command, CommandPalette
from app.dialogs.run import RunDialog
from app.display import container_name, plain_reason
from app.models.compose import project_containers_model, projects_model
from app.models.containers import ContainersModel
from app.models.machines import machines_model
from app.models.resources import image_rows, images_model, networks_model, volume_size, volumes_model
from app.models.stats import stats_overview_model
from app.resources import icon_path, set_icon_colors, themed_icon
from app.services.compose import ComposeService
from app.services.containers import ContainerService
from app.services.engine import EngineConnection, EngineStatus
from app.services.jobs import JobCenter
from app.services.machines import MachineService, first_run_needed
from app.services.resources import ImageService, NetworkService, VolumeService
from app.services.settings import Context, Settings
from app.services.stats import StatsService
from app.services.watch import ContainerWatch
from app.widgets.chrome import Header, NoticeBar, TaskPanel, ask_for_file, never_widens, refresh_icons
from app.widgets.compose_page import ComposePage
from app.widgets.container_detail import ContainerDetail
from app.widgets.containers_page import ContainersPage
from app.widgets.engine_status import EngineStatusLabel
from app.widgets.log_panel import LogPanel
from app.widgets.machines_page import MachinesPage
from app.widgets.resource_pages import ImagesPage, NetworksPage, VolumesPage
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
        self.images_model = images_model(self._image_users, self)
        self.volumes_model = volumes_model(self._volume_users, self)
        self.networks_model = networks_model(self._network_members, self)
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

        self.confirmation: QMessageBox | None = None
        self.run_dialog: RunDialog | None = None
        self.command_palette: CommandPalette | None = None
        self.engine_status = EngineStatusLabel(self)
        self.statusBar().addPermanentWidget(never_widens(self.engine_status), 1)
        self.tray: BerthTray | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = BerthTray(QIcon(str(icon_path("berth"))), self)
            self.tray.openRequested.connect(self._bring_to_front)
            self.tray.containerAction.connect(self._on_tray_container)
            self.tray.contextChosen.connect(self.switch_engine)
            self.tray.quitRequested.connect(QApplication.quit)
            self.tray.show()
        self._closed = False
        self._history: list[str] = []
        self._future: list[str] = []

        # Coalesced follow-ups of container changes: stats streams to keep, "in use" columns.
        self._containers_settled = QTimer(self)
        self._containers_settled.setSingleShot(True)
        self._containers_settled.setInterval(50)
        self._containers_settled.timeout.connect(self._after_containers_changed)

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
        connection, service, model, page = self.connection, self.containers, self.containers_model, self.containers_page
        self.sidebar.placeSelected.connect(self._navigate)
        connection.statusChanged.connect(self._on_status)
        connection.switched.connect(self._on_switched)
        connection.containerEvent.connect(self.watch.on_event)
        service.listed.connect(model.set_containers)
        service.changed.connect(model.upsert)
        service.removed.connect(model.remove_container)
        service.actionFailed.connect(self._on_action_failed)
        service.actionStarted.connect(lambda id, action: page.set_busy(action, +1))
        service.actionFinished.connect(lambda id, action: page.set_busy(action, -1))
        service.actionFailed.connect(lambda id, action, message: page.set_busy(action, -1))
        service.actionStarted.connect(lambda id, action: self._on_stop(id, action, True))
        # A recreated container is selected in its predecessor's place.
        self.detail.edit_flow.recreated.connect(
            lambda old, new: QTimer.singleShot(0, lambda: self._show_new_container(new, 40)))
        service.actionFailed.connect(lambda id, action, message: self._on_stop(id, action, False))
        service.ran.connect(self._on_ran)
        service.actionFinished.connect(functools.partial(self._superseded, page))
        for signal in (model.rowsInserted, model.rowsRemoved, model.modelReset):
            signal.connect(lambda *_: self._containers_settled.start())
        # A row's whole change (a state) says no roles; a second's readings say theirs and change no
        # state: following them walked every row each second with thousands listed.
        model.dataChanged.connect(lambda _first, _last, roles=(): None if roles else self._containers_settled.start())
        self.stats.sampled.connect(model.set_stats)
        self.stats.sampled.connect(lambda *_: self.stats_page.refresh())
        self.stats_page.containerChosen.connect(self._open_container_stats)
        self.stats_page.momentChosen.connect(self.open_container_at)
        self.notice_actions: dict[str, Callable[[], None]] = {}  # a notice's key -> what clicking it does
        self.notices.activated.connect(self._on_notice_clicked)
        page.retryRequested.connect(connection.check)
        page.trustRequested.connect(connection.trust_host_key)
        page.startRequested.connect(lambda ids: _each(ids, service.start))
        page.stopRequested.connect(self._stop)
        page.restartRequested.connect(self._restart)
        page.pauseRequested.connect(lambda ids: _each(ids, service.pause))
        page.unpauseRequested.connect(lambda ids: _each(ids, service.unpause))
        page.removeRequested.connect(self._remove)
        page.selectionChanged.connect(self._on_container_selected)
        page.placeRequested.connect(self.show_place)
        page.runRequested.connect(self._choose_image_to_run)
        page.logsRequested.connect(lambda id: self._open_container_tab(id, "Logs"))
        self.watch.alert.connect(self.notify)

        # A failed action of a page's service shows on that page.
        for resources, resource_page in ((self.images, self.images_page), (self.volumes, self.volumes_page),
                                         (self.networks, self.networks_page)):
            resources.actionFailed.connect(functools.partial(self._failed, resource_page))
            resources.actionStarted.connect(functools.partial(self._superseded, resource_page))
            resources.actionFinished.connect(functools.partial(self._superseded, resource_page))
            resources.actionFinished.connect(resource_page.dialog_finished)
        self.images.listed.connect(lambda items: self.images_model.set_items(image_rows(items)))
        self.images.historyReady.connect(self.images_page.show_history)
        self.images_page.pullRequested.connect(self.images.pull)
        self.images_page.buildRequested.connect(self.images.build)
        self.images_page.loadRequested.connect(self.images.load)
        self.images_page.importRequested.connect(self.images.import_file)
        self.images_page.pushRequested.connect(self.images.push)
        self.images_page.removeRequested.connect(self.ask_remove_image)
        self.images_page.tagRequested.connect(self.images.tag)
        self.images_page.historyRequested.connect(self.images.history)
        self.images_page.runRequested.connect(self.open_run_dialog)
        self.images.runDetails.connect(self._on_run_details)

        self.volumes.listed.connect(self.volumes_model.set_items)
        self.volumes.actionFinished.connect(self._on_volume_done)
        self.volumes.unsupported.connect(lambda _: self.volumes_page.disable_extensions())
        self.volumes.filesListed.connect(self.volumes_page.show_files)
        self.volumes.contentsKnown.connect(self._remove_volume_holding)
        self.volumes_page.createRequested.connect(self.volumes.create)
        self.volumes_page.removeRequested.connect(self.ask_remove_volume)
        self.volumes_page.browseRequested.connect(self.volumes.browse)
        self.volumes_page.cloneRequested.connect(self.volumes.clone)
        self.volumes_page.exportRequested.connect(self._export_volume)
        self.volumes_page.importRequested.connect(self._import_volume)

        self.networks.listed.connect(self.networks_model.set_items)
        self.networks_page.createRequested.connect(self.networks.create)
        self.networks_page.removeRequested.connect(self.networks.remove)

        self.header.paletteRequested.connect(self.open_palette)
        self.header.contextChosen.connect(self.switch_engine)
        self.header.back.clicked.connect(self.go_back)
        self.header.forward.clicked.connect(self.go_forward)
        self.settings_page.contextChosen.connect(self.switch_engine)
        self.settings_page.contextAdded.connect(self._add_context)
        self.settings_page.contextRemoved.connect(self._remove_context)
        self.settings_page.themeChosen.connect(self.choose_theme)
        self._wire_compose_and_machines()

    def _wire_compose_and_machines(self) -> None:
        compose, page = self.compose, self.compose_page
        compose.listed.connect(self.compose_model.set_items)
        compose.containersListed.connect(lambda _name, items: self.compose_containers_model.set_items(items))
        compose.actionStarted.connect(lambda name, action: page.set_busy(name, action, True))
        compose.actionFinished.connect(lambda name, action: page.set_busy(name, action, False))
        compose.actionFailed.connect(self._compose_failed)
        compose.cameUp.connect(page.select_project)
        compose.follower.appended.connect(page.logs.on_appended)
        compose.follower.ended.connect(lambda reason: page.logs.show_status(
            f"log stream ended: {reason}" if reason else ""))
        compose.follower.waiting.connect(page.logs.show_waiting)
        page.openRequested.connect(compose.up_files)
        page.projectSelected.connect(compose.select)
        page.upRequested.connect(compose.up)
        page.downRequested.connect(compose.down)
        page.startRequested.connect(compose.start)
        page.stopRequested.connect(compose.stop)
        page.restartRequested.connect(compose.restart)
        page.logsRequested.connect(compose.follow_logs)

        machines, mpage = self.machine_service, self.machines_page
        machines.listed.connect(self.machines_model.set_items)
        machines.listed.connect(lambda _items: self._refresh_contexts())
        machines.actionStarted.connect(lambda name, action: mpage.set_busy(name, action, True))
        machines.actionFinished.connect(lambda name, action: mpage.set_busy(name, action, False))
        machines.actionFailed.connect(self._machine_failed)
        machines.bootLogReady.connect(mpage.show_boot_log)
        # The user's own docker CLI: the `berth` context offered once a machine runs, made current on a yes.
        machines.contextOffered.connect(mpage.offer_context)
        machines.contextUsed.connect(mpage.context_used)
        machines.contextFailed.connect(mpage.context_failed)
        mpage.contextRequested.connect(machines.use_context)
        mpage.createRequested.connect(machines.create)
        mpage.startRequested.connect(machines.start)
        mpage.stopRequested.connect(machines.stop)
        mpage.removeRequested.connect(machines.remove)
        mpage.bootLogRequested.connect(machines.boot_log)
        mpage.reclaimRequested.connect(machines.reclaim)
        mpage.useRequested.connect(self.switch_engine)

        if first_run_needed():  # no engine on this system without Berth's machine: offer to set it up
            panel = self.containers_page.unreachable
            panel.enable_first_run()
            panel.setupRequested.connect(machines.set_up)
            machines.setupOffered.connect(panel.offer_setup)
            machines.setupProgress.connect(panel.show_setup_progress)
            machines.setupFailed.connect(panel.show_setup_failed)
            machines.setupFinished.connect(self._machine_set_up)

    def _restart(self, ids: list[str]) -> None:
        for id in ids:
            self._expect(id)  # a restart's exit is no crash
            self.containers.restart(id)

    def _compose_failed(self, name: str, action: str, message: str) -> None:
        self.compose_page.set_busy(name, action, False)
        self._failed(self.compose_page, name, f"compose {action}", message)

    def _machine_failed(self, name: str, action: str, message: str) -> None:
        self.machines_page.set_busy(name, action, False)
        self._failed(self.machines_page, name, action, message)

    def _machine_set_up(self, host: str) -> None:
        self.containers_page.unreachable.setup_finished()
        self.switch_engine(host)

    def _bring_to_front(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def _on_tray_container(self, id: str, action: str) -> None:
        if action == "logs":
            self._bring_to_front()
            self.show_place("containers")
            self._open_container_tab(id, "Logs")
        elif action == "restart":
            self._restart([id])
        elif action == "stop":
            self._stop([id])

    def _shortcuts(self) -> None:
        for keys, handler in (
            ("Ctrl+K", self.open_palette),
            ("Ctrl+F", self.focus_search),
            ("Ctrl+L", lambda: self.open_detail_tab("Logs")),
            ("Ctrl+T", lambda: self.open_detail_tab("Terminal")),
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
            self.machine_service.refresh()  # read from disk only once someone looks

    def go_back(self) -> None:
        if self._history:
            self._future.append(self.current_place())
            place = self._history.pop()
            self.pages.setCurrentIndex(self._page_index[place])
            self.sidebar.places.blockSignals(True)
            self.sidebar.select_place(place)
            self.sidebar.places.blockSignals(False)

    def go_forward(self) -> None:
        if self._future:
            self._history.append(self.current_place())
            place = self._future.pop()
            self.pages.setCurrentIndex(self._page_index[place])
            self.sidebar.places.blockSignals(True)
            self.sidebar.select_place(place)
            self.sidebar.places.blockSignals(False)

    def focus_search(self) -> None:
        place = self.current_place()
        # Ctrl+F searches what has the focus: a log (the detail's, compose's) when the focus is in
        # it or in the detail around it, else the page's list (UI.md: the current list or log).
        widget = QApplication.focusWidget()
        while widget is not None:
            if isinstance(widget, LogPanel) or (widget is self.detail and self.detail.logs.isVisible()):
                (widget if isinstance(widget, LogPanel) else self.detail.logs).focus_search()
                return
            widget = widget.parentWidget()
        search = {"containers": self.containers_page.search, "stats": self.stats_page.search,
                  "images": self.images_page.search, "volumes": self.volumes_page.search,
                  "networks": self.networks_page.search}.get(place)
        if search is not None:
            search.setFocus()
            search.selectAll()

    def open_detail_tab(self, tab: str) -> None:
        self.show_place("containers")
        if self.containers_page.current_id():
            self.containers_page.detail_holder.show()
            self.detail.show_tab(tab)

    # -- theme and engines -----------------------------------------------------------------------

    def use_theme(self, theme: Theme) -> None:
        self.theme = theme
        # One icon set for every theme, drawn again in this theme's text colours.
        set_icon_colors(*theme.icon_colors())
        refresh_icons(self)
        for row, (key, _) in enumerate(PLACES):
            item = self.sidebar.places.item(row)
            if item is not None:
                item.setIcon(themed_icon(key))
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
        self.detail.clear()
        self.containers_page.detail_holder.hide()
        self.containers_model.clear()
        for model in (self.images_model, self.volumes_model, self.networks_model, self.stats_model):
            model.clear()
        self.volumes_page.berth_extensions = True
        self.compose_containers_model.set_items([])
        self._refresh_contexts()

    def _on_status(self, status: EngineStatus) -> None:
        self.engine_status.set_status(status)
        self.containers_page.show_engine_status(status)
        if status.reachable is False and self.containers_page.unreachable.first_run:
            self.machine_service.check_setup()
        if self.tray is not None:
            self.tray.set_status(status.reachable, status.description, status.reason)

    # -- notifications ---------------------------------------------------------------------------

    def notify(self, title: str, message: str, key: str = "", action: Callable[[], None] | None = None) -> None:
        """`action`: what clicking the notice does (a detector's finding opens the container then)."""
        self.notices.notify(title, message, key)
        if action is not None:
            self.notice_actions[key or f"{title}: {message}"] = action
        if self.tray is not None and not self.isActiveWindow():
            self.tray.showMessage(title, message, QSystemTrayIcon.MessageIcon.Warning, 8000)

    def _on_notice_clicked(self, key: str) -> None:
        action = self.notice_actions.pop(key, None)
        if action is not None:
            self.notices.retire(key)  # it has been read: what it pointed to is in view
            action()

    def _say_failure(self, page: Any, key: str, title: str, text: str) -> None:
        """A failure is said once: in place on its page, and as a toast only when that page is not
        the one in view (the task drawer keeps a job's error; the tasks line does not repeat it)."""
        page.show_error(text)
        if self.pages.currentWidget() is not page:
            self.notify(title, text, key)

    def _superseded(self, page: Any, target: str, action: str) -> None:
        """A later attempt or result on a page retires that page's older error and its toast."""
        if page.message.isVisible() and page.message.property("role") == "error":
            page.clear_message()
        self.notices.retire(f"{page.objectName()}:{action}:{target}")

    def _readable(self, message: str) -> str:
        """An engine's message as people read it: plain words, container names for their ids."""
        message = plain_reason(message)
        for id in re.findall(r"\b[0-9a-f]{12,64}\b", message):
            match = next((c for c in self.containers_model.ids() if c.startswith(id)), None)
            if match is not None:
                message = message.replace(id, container_name(self.containers_model.container(match) or {}))
        return message

    def _failed(self, page: Any, target: str, action: str, message: str) -> None:
        message = self._readable(message)
        text = f"Could not {action} {target[:40]}: {message}" if target else message
        if "in use" in message and action == "remove":
            text += " — stop and remove the containers that use it first."
        in_dialog = getattr(page, "dialog_failed", None)  # the resource pages' "…" dialogs
        if in_dialog is not None and in_dialog(target, action, text):
            return  # said inside the dialog that started it, where the input is to fix
        self._say_failure(page, f"{page.objectName()}:{action}:{target}", f"{action} failed", text)

    def _on_stop(self, id: str, action: str, asked: bool) -> None:
        """A stop waits for the process (10 s by default): the row says "stopping…" and the detail
        counts the seconds until the engine reports the container stopped (or the stop failed)."""
        if action != "stop" or not id:
            return
        self.containers_model.set_stopping(id, asked)
        if asked:
            self.detail.stop_started(id)
        else:
            self.detail.stop_progress.finish(id)

    def _on_action_failed(self, id: str, action: str, message: str) -> None:
        message = self._readable(message)
        item = self.containers_model.container(id) if id else None
        name = container_name(item) if item else id[:12]
        text = f"Could not {action} {name}: {message}" if name else f"Could not {action}: {message}"
        if "port is already allocated" in message or "address already in use" in message:
            text += " — choose another host port."
        if action == "run" and self.run_dialog is not None and self.run_dialog.isVisible():
            self.run_dialog.show_error(text)  # said where it was typed, which keeps its input
            return
        page = self.containers_page
        self._say_failure(page, f"{page.objectName()}:{action}:{id}", f"{action} failed", text)

    # -- containers ------------------------------------------------------------------------------

    def _expect(self, id: str) -> None:
        self.watch.expect_stop(id)

    def _stop(self, ids: list[str]) -> None:
        for id in ids:
            self.watch.expect_stop(id)
            self.containers.stop(id)

    def _force_remove(self, ids: list[str]) -> None:
        for id in ids:
            self.watch.expect_stop(id)
            self.containers.remove(id, force=True)

    def _remove(self, ids: list[str]) -> None:
        # A paused container is up too: removing it needs force, so it is asked like a running one.
        running = [id for id in ids if (state := self.containers_model.state_of(id)) is not None and state.up]
        for id in ids:
            if id not in running:
                self.containers.remove(id)
        if running:
            names = [container_name(self.containers_model.container(id) or {"Id": id}) for id in running]
            self.confirmation = ask_to_remove_running(self, names, lambda: self._force_remove(running))

    def _on_container_selected(self) -> None:
        page = self.containers_page
        id = page.current_id()
        project = page.current_project()
        if id:
            item = self.containers_model.container(id) or {}
            state = self.containers_model.state_of(id)
            page.detail_holder.show()
            self.detail.show_container(id, container_name(item), bool(state and state.running))
        elif project:
            ids = self.containers_model.project_ids(project)
            names = [container_name(self.containers_model.container(i) or {}) for i in ids]
            page.detail_holder.show()
            self.detail.show_project(project, ids, names)

    def _open_container_stats(self, id: str) -> None:
        self.show_place("containers")
        self._open_container_tab(id, "Stats")

    def open_container_at(self, id: str, when: float) -> None:
        """The container's Stats tab at a moment (a finding's, a point on the Stats page); a
        container no longer listed is shown on the Stats page from its history."""
        self.show_place("containers")
        if self.containers_page.select_container(id):
            self.open_detail_tab("Stats")
            self.detail.show_stats_at(when)
        elif self.stats_page.choose(id):
            self.show_place("stats")

    def _after_containers_changed(self) -> None:
        if self._closed:
            return
        model = self.containers_model
        running = {id: container_name(model.container(id) or {}) for id in model.ids()
                   if (state := model.state_of(id)) is not None and state.running}
        self.stats.track(set(running))
        self.stats_page.show_running(running)
        if self.tray is not None:
            self.tray.set_containers(sorted(running.items(), key=lambda item: item[1]))
        if self.detail.id:
            state = model.state_of(self.detail.id)
            self.detail.set_running(bool(state and state.running))
        for resource in (self.images_model, self.volumes_model, self.networks_model):
            if resource.rowCount():
                resource.dataChanged.emit(resource.index(0, 0),
                                          resource.index(resource.rowCount() - 1, resource.columnCount() - 1))

    def _image_users(self, image_id: str) -> int:
        return len(self._image_user_names(image_id))

    def _image_user_names(self, image_id: str) -> list[str]:
        model = self.containers_model
        return [container_name(item) for id in model.ids()
                if (item := model.container(id) or {}).get("ImageID") == image_id]

    def _volume_users(self, name: str) -> list[str]:
        users = []
        for id in self.containers_model.ids():
            item = self.containers_model.container(id) or {}
            if any(m.get("Name") == name for m in item.get("Mounts") or []):
                users.append(container_name(item))
        return users

    def _network_members(self, name: str) -> list[str]:
        members = []
        for id in self.containers_model.ids():
            item = self.containers_model.container(id) or {}
            if name in ((item.get("NetworkSettings") or {}).get("Networks") or {}):
                members.append(container_name(item))
        return members

    # -- images, volumes -------------------------------------------------------------------------

    def open_run_dialog(self, image: str = "") -> RunDialog:
        """The Run dialog for `image`, or with the image to choose among the local ones."""
        names = sorted({str(item.get("Tag")) for key in self.images_model.all_keys()
                        if (item := self.images_model.item(key)) and item.get("Tag")})
        dialog = RunDialog(image, self, images=names)
        dialog.runRequested.connect(lambda config, name, platform: self.containers.run(config, name, platform))
        dialog.imageChosen.connect(self.images.run_details)
        dialog.open()  # never exec(): no nested loop
        self.run_dialog = dialog
        if image:
            self.images.run_details(image)  # its EXPOSE ports, whether it has a command, the networks
        else:
            dialog.image_box.setFocus()
        return dialog

    def _on_run_details(self, image: str, details: dict[str, Any], networks: list[str]) -> None:
        dialog = self.run_dialog
        if dialog is not None and dialog.isVisible() and dialog.image == image:
            dialog.set_image_details(details, networks)

    def _on_ran(self, id: str) -> None:
        if self.run_dialog is not None and self.run_dialog.isVisible():
            self.run_dialog.finished_run()
        self.images_page.show_info("Started. It is on the Containers page, its logs below it.")
        QTimer.singleShot(0, lambda: self._show_new_container(id, 40))

    def _show_new_container(self, id: str, attempts: int) -> None:
        if self.containers_page.select_container(id):
            self.show_place("containers")
            self.detail.show_tab("Logs")
        elif attempts > 0:
            QTimer.singleShot(50, lambda: self._show_new_container(id, attempts - 1))

    def _on_volume_done(self, target: str, action: str) -> None:
        if action in ("create", "remove", "clone", "import"):
            self.volumes_page.clear_message()
            self.volumes.refresh()
        elif action == "export":
            self.volumes_page.show_info(f"Exported {target}.")

    def ask_remove_volume(self, name: str) -> None:
        """Remove a volume; one that holds files asks first, saying what: its top folder is listed
        first where the engine can (a size of 0 may still be empty files), else its size decides."""
        if self.volumes_page.berth_extensions:
            self.volumes.check_contents(name)
        else:
            self._remove_volume_holding(name, None)

    def _remove_volume_holding(self, name: str, entries: list[str] | None) -> None:
        size = volume_size(self.volumes_model.item(name) or {})
        if entries == [] or (entries is None and size == 0):  # empty: nothing would be lost
            self.volumes.remove(name)
            return
        text, details = volume_loss(name, size, self._volume_users(name), entries)
        self.confirmation = ask_to_lose_data(self, "Remove volume and its files?", text, details,
                                             "Remove volume", lambda: self.volumes.remove(name))

    def ask_remove_image(self, reference: str) -> None:
        """Remove an image name, after saying what goes with it and which containers use it."""
        item = self.images_model.item(reference) or {}
        others = [t for t in item.get("RepoTags") or [] if t not in (reference, "<none>:<none>")]
        users = self._image_user_names(str(item.get("Id", "")))
        text, details = image_loss(reference, int(item.get("Size", 0)), others, users)
        self.confirmation = ask_to_lose_data(self, "Remove image?", text, details, "Remove image",
                                             lambda: self.images.remove(reference))

    def _export_volume(self, name: str) -> None:
        ask_for_file(self, f"Export volume {name}", lambda path: self.volumes.export(name, path), save=True,
                     suggested=f"{name}.tar")

    def _import_volume(self, name: str) -> None:
        ask_for_file(self, f"Import a tar into {name}", lambda path: self.volumes.import_tar(name, path))

    # -- palette ---------------------------------------------------------------------------------

    def palette_commands(self) -> list[Command]:
        commands: list[Command] = []
        go = functools.partial
        for key in self._page_index:
            commands.append((f"Go to {key.capitalize()}", "place", go(self.show_place, key)))
        for id in self.containers_model.ids():
            name = container_name(self.containers_model.container(id) or {})
            state = self.containers_model.state_of(id)
            commands.append((f"Container {name}", "show its logs", go(self._open_container_tab, id, "Logs")))
            # Its actions, those its state allows, as the list's toolbar offers them.
            if state is not None and state.up:
                commands.append((f"Stop {name}", "docker stop", go(self._stop, [id])))
                commands.append((f"Restart {name}", "docker restart", go(self._restart, [id])))
            else:
                commands.append((f"Start {name}", "docker start", go(self.containers.start, id)))
            if state is not None and state.running:
                commands.append((f"Terminal in {name}", "docker exec -it … sh",
                                 go(self._open_container_tab, id, "Terminal")))
            commands.append((f"Remove {name}", "docker rm", go(self._remove, [id])))
        commands.append(("Pull an image…", "docker pull",
                         _steps(go(self.show_place, "images"), self.images_page.open_pull_dialog)))
        commands.append(("Build an image…", "docker build",
                         _steps(go(self.show_place, "images"), self.images_page.open_build_dialog)))
        commands.append(("Create a volume…", "docker volume create",
                         _steps(go(self.show_place, "volumes"), self.volumes_page.open_create_dialog)))
        commands.append(("Open a compose file…", "docker compose up",
                         _steps(go(self.show_place, "compose"), self.compose_page.ask_file)))
        commands.append(("Create a machine…", "berth machine init",
                         _steps(go(self.show_place, "machines"), self.machines_page.form.show)))
        for theme in (*THEMES, "system"):
            commands.append((f"Theme: {theme}", "settings", go(self.choose_theme, theme)))
        commands.append(("About Berth", "version", self.open_about))
        for context in self.all_contexts():
            commands.append((f"Use engine {context.name}", context.url, go(self.switch_engine, context.url)))
        return commands

    def _choose_image_to_run(self) -> RunDialog:
        """Run… on the Containers page: the Run dialog at once, its image picked among the local ones."""
        return self.open_run_dialog("")

    def _open_container_tab(self, id: str, tab: str) -> None:
        if self.containers_page.select_container(id):
            self.open_detail_tab(tab)

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
            self._containers_settled.stop()
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


def _each(ids: list[str], action: Callable[[str], object]) -> None:
    for id in ids:
        action(id)


def _theme_name(name: str) -> str:
    return system_theme_name() if name == "system" else name


def _steps(*actions: Callable[[], object]) -> Callable[[], None]:
    """One palette command doing several things in order (go to a page, open its form, focus it)."""

    def run() -> None:
        for action in actions:
            action()

    return run
