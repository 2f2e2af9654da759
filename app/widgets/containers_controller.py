"""The Containers page's controller: what its intents do against the engine (through
`ContainerService`), the model fed from the service, the selected container's detail, the Run dialog,
and what a failed action says. It implements `ContainerIntents`, so every place offering the action
table's actions (the page, the command palette, the tray) asks the same thing of it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QWidget

from app.dialogs.confirm import ask_to_remove_running
from app.dialogs.palette import Command
from app.dialogs.run import RunDialog
from app.display import container_name
from app.models.container_actions import PALETTE, PALETTE_ORDER, Facts, action, applicable
from app.models.containers import ContainersModel
from app.models.resources import ResourceModel
from app.services.containers import ContainerService
from app.services.engine import EngineConnection
from app.services.resources import ImageService
from app.services.watch import ContainerWatch
from app.widgets.container_detail import ContainerDetail
from app.widgets.containers_page import ContainersPage
from app.widgets.notices import Notices
from app.widgets.resource_pages import ImagesPage
from app.widgets.stats_page import StatsPage


class ContainersController(QObject):
    # The containers' rows changed (coalesced): id -> name of those running, for what follows them
    # (the stats reader, the Stats page, the tray, the "in use" columns of the other pages).
    settled = Signal(dict)

    def __init__(self, *, connection: EngineConnection, service: ContainerService, model: ContainersModel,
                 page: ContainersPage, detail: ContainerDetail, watch: ContainerWatch, notices: Notices,
                 stats_page: StatsPage, images: ImageService, images_model: ResourceModel, images_page: ImagesPage,
                 show_place: Callable[[str], None], window: QWidget) -> None:
        super().__init__(window)
        self.connection, self.service, self.model, self.page, self.detail = connection, service, model, page, detail
        self.watch, self.notices, self.stats_page = watch, notices, stats_page
        self.images, self.images_model, self.images_page = images, images_model, images_page
        self.show_place = show_place
        self.window = window
        self.run_dialog: RunDialog | None = None
        self.closed = False

        # Coalesced follow-ups of container changes: stats streams to keep, "in use" columns.
        self._settling = QTimer(self)
        self._settling.setSingleShot(True)
        self._settling.setInterval(50)
        self._settling.timeout.connect(self._settle)

        service.listed.connect(model.set_containers)
        service.changed.connect(model.upsert)
        service.removed.connect(model.remove_container)
        service.actionFailed.connect(self._on_action_failed)
        service.actionStarted.connect(lambda id, name: page.set_busy(name, +1))
        service.actionFinished.connect(lambda id, name: page.set_busy(name, -1))
        service.actionFailed.connect(lambda id, name, message: page.set_busy(name, -1))
        service.actionStarted.connect(lambda id, name: self._on_stop(id, name, True))
        service.actionFailed.connect(lambda id, name, message: self._on_stop(id, name, False))
        service.actionFinished.connect(functools.partial(notices.superseded, page))
        service.ran.connect(self._on_ran)
        # A recreated container is selected in its predecessor's place.
        detail.edit_flow.recreated.connect(lambda old, new: QTimer.singleShot(0, lambda: self._show_new(new, 40)))
        for signal in (model.rowsInserted, model.rowsRemoved, model.modelReset):
            signal.connect(lambda *_: self._settling.start())
        # A row's whole change (a state) says no roles; a second's readings say theirs and change no
        # state: following them walked every row each second with thousands listed.
        model.dataChanged.connect(lambda _first, _last, roles=(): None if roles else self._settling.start())

        page.retryRequested.connect(connection.check)
        page.trustRequested.connect(connection.trust_host_key)
        page.actionRequested.connect(self.perform)
        page.selectionChanged.connect(self._on_selected)
        page.placeRequested.connect(show_place)
        page.runRequested.connect(lambda: self.open_run_dialog(""))
        images.runDetails.connect(self._on_run_details)

    # -- the action table's intents (ContainerIntents) ---------------------------------------------

    def perform(self, name: str, ids: list[str]) -> None:
        """An action of the table, by name, on these containers (the page's and the tray's requests)."""
        action(name).perform(self, ids)

    def start(self, ids: list[str]) -> None:
        for id in ids:
            self.service.start(id)

    def stop(self, ids: list[str]) -> None:
        for id in ids:
            self.watch.expect_stop(id)  # an exit asked for is no crash
            self.service.stop(id)

    def restart(self, ids: list[str]) -> None:
        for id in ids:
            self.watch.expect_stop(id)  # a restart's exit is no crash
            self.service.restart(id)

    def pause(self, ids: list[str]) -> None:
        for id in ids:
            self.service.pause(id)

    def unpause(self, ids: list[str]) -> None:
        for id in ids:
            self.service.unpause(id)

    def kill(self, ids: list[str]) -> None:
        for id in ids:
            self.watch.expect_stop(id)
            self.service.kill(id)

    def remove(self, ids: list[str]) -> None:
        # A paused container is up too: removing it needs force, so it is asked like a running one.
        running = [id for id in ids if (state := self.model.state_of(id)) is not None and state.up]
        for id in ids:
            if id not in running:
                self.service.remove(id)
        if running:
            names = [container_name(self.model.container(id) or {"Id": id}) for id in running]
            self.notices.asked(ask_to_remove_running(self.window, names, lambda: self._force_remove(running)))

    def _force_remove(self, ids: list[str]) -> None:
        for id in ids:
            self.watch.expect_stop(id)
            self.service.remove(id, force=True)

    def logs(self, ids: list[str]) -> None:
        self.open_tab(ids[0], "Logs")

    def terminal(self, ids: list[str]) -> None:
        self.open_tab(ids[0], "Terminal")

    # -- the detail ------------------------------------------------------------------------------

    def open_tab(self, id: str, tab: str) -> None:
        """The container selected and its detail open at `tab`."""
        if self.page.select_container(id):
            self.open_detail_tab(tab)

    def open_detail_tab(self, tab: str) -> None:
        """The current container's detail at `tab` (Ctrl+L, Ctrl+T)."""
        self.show_place("containers")
        if self.page.current_id():
            self.page.show_detail()
            self.detail.show_tab(tab)

    def open_at(self, id: str, when: float) -> None:
        """The container's Stats tab at a moment (a finding's, a point on the Stats page); a
        container no longer listed is shown on the Stats page from its history."""
        self.show_place("containers")
        if self.page.select_container(id):
            self.open_detail_tab("Stats")
            self.detail.show_stats_at(when)
        elif self.stats_page.choose(id):
            self.show_place("stats")

    def open_stats(self, id: str) -> None:
        self.show_place("containers")
        self.open_tab(id, "Stats")

    def _on_selected(self) -> None:
        id = self.page.current_id()
        project = self.page.current_project()
        if id:
            item = self.model.container(id) or {}
            state = self.model.state_of(id)
            self.page.show_detail()
            self.detail.show_container(id, container_name(item), bool(state and state.running))
        elif project:
            ids = self.model.project_ids(project)
            names = [container_name(self.model.container(i) or {}) for i in ids]
            self.page.show_detail()
            self.detail.show_project(project, ids, names)

    def _on_stop(self, id: str, name: str, asked: bool) -> None:
        """A stop waits for the process (10 s by default): the row says "stopping…" and the detail
        counts the seconds until the engine reports the container stopped (or the stop failed)."""
        if name != "stop" or not id:
            return
        self.model.set_stopping(id, asked)
        if asked:
            self.detail.stop_started(id)
        else:
            self.detail.stop_progress.finish(id)

    def _on_action_failed(self, id: str, name: str, message: str) -> None:
        message = self.notices.readable(message)
        item = self.model.container(id) if id else None
        shown = container_name(item) if item else id[:12]
        text = f"Could not {name} {shown}: {message}" if shown else f"Could not {name}: {message}"
        if "port is already allocated" in message or "address already in use" in message:
            text += " — choose another host port."
        if name == "run" and self.run_dialog is not None and self.run_dialog.isVisible():
            self.run_dialog.show_error(text)  # said where it was typed, which keeps its input
            return
        page = self.page
        self.notices.say_failure(page, f"{page.objectName()}:{name}:{id}", f"{name} failed", text)

    def _settle(self) -> None:
        if self.closed:
            return
        running = self.model.running_names()
        if self.detail.id:
            state = self.model.state_of(self.detail.id)
            self.detail.set_running(bool(state and state.running))
        self.settled.emit(running)

    def engine_switched(self) -> None:
        """Another engine: nothing of the last one's containers stays."""
        self.detail.clear()
        self.page.hide_detail()
        self.model.clear()

    def close(self) -> None:
        self.closed = True
        self._settling.stop()

    # -- run -------------------------------------------------------------------------------------

    def open_run_dialog(self, image: str = "") -> RunDialog:
        """The Run dialog for `image`, or with the image to choose among the local ones."""
        names = sorted({str(item.get("Tag")) for key in self.images_model.all_keys()
                        if (item := self.images_model.item(key)) and item.get("Tag")})
        dialog = RunDialog(image, self.window, images=names)
        dialog.runRequested.connect(lambda config, name, platform: self.service.run(config, name, platform))
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
        QTimer.singleShot(0, lambda: self._show_new(id, 40))

    def _show_new(self, id: str, attempts: int) -> None:
        if self.page.select_container(id):
            self.show_place("containers")
            self.detail.show_tab("Logs")
        elif attempts > 0:
            QTimer.singleShot(50, lambda: self._show_new(id, attempts - 1))

    # -- the command palette ---------------------------------------------------------------------

    def palette_commands(self) -> list[Command]:
        """Each container's actions its state allows, as the action table offers them in the palette."""
        commands: list[Command] = []
        for id in self.model.ids():
            item = self.model.container(id) or {}
            name = container_name(item)
            state = self.model.state_of(id)
            facts = Facts(str(item.get("State", "")), bool(state and state.running))
            for offered in applicable(PALETTE, facts, PALETTE_ORDER):
                commands.append((offered.title(name), offered.hint(), functools.partial(offered.perform, self, [id])))
        return commands
