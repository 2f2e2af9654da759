"""The Images, Volumes and Networks pages' controller: what their intents do against the engine
(through `ImageService`, `VolumeService`, `NetworkService`), the models fed from them, the questions
asked before data is lost, and where a failure is said (the page's "…" dialog, else the page)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget

from app.dialogs.confirm import ask_to_lose_data, image_loss, volume_loss
from app.models.containers import ContainersModel
from app.models.resources import ResourceModel, image_rows, volume_size
from app.services.resources import ImageService, NetworkService, VolumeService
from app.widgets.chrome import ask_for_file
from app.widgets.notices import Notices
from app.widgets.resource_pages import ImagesPage, NetworksPage, VolumesPage


class ResourcesController(QObject):
    def __init__(self, *, images: ImageService, volumes: VolumeService, networks: NetworkService,
                 images_model: ResourceModel, volumes_model: ResourceModel, networks_model: ResourceModel,
                 images_page: ImagesPage, volumes_page: VolumesPage, networks_page: NetworksPage,
                 containers: ContainersModel, notices: Notices, open_run_dialog: Callable[[str], object],
                 window: QWidget) -> None:
        super().__init__(window)
        self.images, self.volumes, self.networks = images, volumes, networks
        self.images_model, self.volumes_model, self.networks_model = images_model, volumes_model, networks_model
        self.images_page, self.volumes_page, self.networks_page = images_page, volumes_page, networks_page
        self.containers, self.notices, self.window = containers, notices, window

        # A failed action of a page's service shows on that page.
        for service, page in ((images, images_page), (volumes, volumes_page), (networks, networks_page)):
            service.actionFailed.connect(functools.partial(notices.failed, page))
            service.actionStarted.connect(functools.partial(notices.superseded, page))
            service.actionFinished.connect(functools.partial(notices.superseded, page))
            service.actionFinished.connect(page.dialog_finished)
        images.listed.connect(lambda items: images_model.set_items(image_rows(items)))
        images.historyReady.connect(images_page.show_history)
        images_page.pullRequested.connect(images.pull)
        images_page.buildRequested.connect(images.build)
        images_page.loadRequested.connect(images.load)
        images_page.importRequested.connect(images.import_file)
        images_page.pushRequested.connect(images.push)
        images_page.removeRequested.connect(self.ask_remove_image)
        images_page.tagRequested.connect(images.tag)
        images_page.historyRequested.connect(images.history)
        images_page.runRequested.connect(open_run_dialog)

        volumes.listed.connect(volumes_model.set_items)
        volumes.actionFinished.connect(self._on_volume_done)
        volumes.unsupported.connect(lambda _: volumes_page.disable_extensions())
        volumes.filesListed.connect(volumes_page.show_files)
        volumes.contentsKnown.connect(self._remove_volume_holding)
        volumes_page.createRequested.connect(volumes.create)
        volumes_page.removeRequested.connect(self.ask_remove_volume)
        volumes_page.browseRequested.connect(volumes.browse)
        volumes_page.cloneRequested.connect(volumes.clone)
        volumes_page.exportRequested.connect(self._export_volume)
        volumes_page.importRequested.connect(self._import_volume)

        networks.listed.connect(networks_model.set_items)
        networks_page.createRequested.connect(networks.create)
        networks_page.removeRequested.connect(networks.remove)

    # -- "in use" --------------------------------------------------------------------------------

    def containers_changed(self, *_: Any) -> None:
        """The containers changed: the "in use" columns are read again."""
        for model in (self.images_model, self.volumes_model, self.networks_model):
            if model.rowCount():
                model.dataChanged.emit(model.index(0, 0), model.index(model.rowCount() - 1, model.columnCount() - 1))

    def engine_switched(self) -> None:
        for model in (self.images_model, self.volumes_model, self.networks_model):
            model.clear()
        self.volumes_page.berth_extensions = True  # until the new engine says it has none

    # -- images ----------------------------------------------------------------------------------

    def ask_remove_image(self, reference: str) -> None:
        """Remove an image name, after saying what goes with it and which containers use it."""
        item = self.images_model.item(reference) or {}
        others = [t for t in item.get("RepoTags") or [] if t not in (reference, "<none>:<none>")]
        users = self.containers.names_using_image(str(item.get("Id", "")))
        text, details = image_loss(reference, int(item.get("Size", 0)), others, users)
        self.notices.asked(ask_to_lose_data(self.window, "Remove image?", text, details, "Remove image",
                                            lambda: self.images.remove(reference)))

    # -- volumes ---------------------------------------------------------------------------------

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
        text, details = volume_loss(name, size, self.containers.names_using_volume(name), entries)
        self.notices.asked(ask_to_lose_data(self.window, "Remove volume and its files?", text, details,
                                            "Remove volume", lambda: self.volumes.remove(name)))

    def _export_volume(self, name: str) -> None:
        ask_for_file(self.window, f"Export volume {name}", lambda path: self.volumes.export(name, path), save=True,
                     suggested=f"{name}.tar")

    def _import_volume(self, name: str) -> None:
        ask_for_file(self.window, f"Import a tar into {name}", lambda path: self.volumes.import_tar(name, path))
