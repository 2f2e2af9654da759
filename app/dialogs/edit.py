"""Edit and recreate (issue #23): the Run dialog's form filled from a container's inspect, its
`docker run` line shown, and Recreate replacing the container under the same name with its named
volumes. A compose service is not edited here: its compose file is what defines it."""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QWidget

from app.dialogs.run import RunDialog
from app.dialogs.run_form import form_from_inspect, recreate_body
from app.services.compose_yaml import config_files, read_project_yaml
from app.services.engine import EngineConnection
from app.services.recreate import Recreator
from app.services.tasks import TaskSet
from engine.client import EngineClientError, EngineUnreachable
from engine.compose.model import LABEL_PROJECT, LABEL_SERVICE


class EditFlow(QObject):
    recreated = Signal(str, str)  # old id, new id
    said = Signal(str, str)  # what to tell the user in place, its role ("hint" or "error")

    def __init__(self, connection: EngineConnection, parent: QWidget) -> None:
        super().__init__(parent)
        self._connection = connection
        self._parent = parent
        self._tasks = TaskSet()
        self.recreator = Recreator(connection, self)
        self.recreator.recreated.connect(self._on_recreated)
        self.recreator.failed.connect(self._on_failed)
        self.dialog: RunDialog | None = None

    def edit(self, container: dict[str, Any]) -> None:
        labels = (container.get("Config") or {}).get("Labels") or {}
        if labels.get(LABEL_PROJECT):
            self._open_compose_file(container, labels)
            return
        self._tasks.spawn(self._open(container), name="edit-container")

    def _open_compose_file(self, container: dict[str, Any], labels: dict[str, str]) -> None:
        name = str(container.get("Name", "")).lstrip("/")
        project, service = labels.get(LABEL_PROJECT, ""), labels.get(LABEL_SERVICE, "")
        files = config_files(labels)
        found = read_project_yaml(files)
        intro = (f"{name} is the {service} service of the compose project {project}: its settings live in its "
                 "compose file, so it is edited there, not here.")
        if found.problem:
            self.said.emit(f"{intro} {found.problem}", "error")
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(files[0]))
        self.said.emit(f"{intro} Opened {', '.join(files)}; after editing, bring the project Up on the Compose "
                       "page (docker compose up -d) to recreate what changed.", "hint")

    async def _open(self, container: dict[str, Any]) -> None:
        client = self._connection.client
        image_name = str((container.get("Config") or {}).get("Image") or "")

        async def image() -> dict[str, Any] | None:
            # By the container's image id first: the name may have moved to a newer image since.
            for reference in (str(container.get("Image") or ""), image_name):
                try:
                    return await client.inspect_image(reference)
                except (EngineClientError, EngineUnreachable):
                    continue
            return None

        async def networks() -> list[str]:
            try:
                return sorted(str(n.get("Name", "")) for n in await client.request("GET", "networks"))
            except (EngineClientError, EngineUnreachable):
                return []

        details, names = await asyncio.gather(image(), networks())
        form = form_from_inspect(container, details)
        dialog = RunDialog(form.image, self._parent)
        dialog.setObjectName("edit-dialog")
        dialog.fill(form)
        dialog.edit(form.name)
        if details is not None:
            dialog.set_image_details(details, names)
        old_line = form.docker_run_line()
        dialog.runRequested.connect(
            lambda body, _name, platform: self.recreator.recreate(container, recreate_body(body, container),
                                                                  platform, old_line))
        dialog.open()  # never exec(): no nested loop under qasync
        self.dialog = dialog

    def _on_recreated(self, old_id: str, new_id: str) -> None:
        if self.dialog is not None:
            self.dialog.finished_run()
        self.recreated.emit(old_id, new_id)

    def _on_failed(self, old_id: str, message: str) -> None:
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.show_error(message)  # the dialog keeps everything typed
        else:
            self.said.emit(message, "error")

    async def close(self) -> None:
        await self._tasks.close()
        await self.recreator.close()
