"""The Compose page's controller: what its intents do against the engine (through `ComposeService`),
the projects' models fed from it, and where a failure is said."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget

from app.models.compose import TonedModel
from app.services.compose import ComposeService
from app.widgets.compose_page import ComposePage
from app.widgets.notices import Notices


class ComposeController(QObject):
    def __init__(self, *, compose: ComposeService, projects: TonedModel, containers: TonedModel, page: ComposePage,
                 notices: Notices, window: QWidget) -> None:
        super().__init__(window)
        self.compose, self.projects, self.containers, self.page, self.notices = (
            compose, projects, containers, page, notices)
        compose.listed.connect(projects.set_items)
        compose.containersListed.connect(lambda _name, items: containers.set_items(items))
        compose.actionStarted.connect(lambda name, action: page.set_busy(name, action, True))
        compose.actionFinished.connect(lambda name, action: page.set_busy(name, action, False))
        compose.actionFailed.connect(self._failed)
        compose.cameUp.connect(page.select_project)
        page.follow_logs(compose.follower)
        page.openRequested.connect(compose.up_files)
        page.projectSelected.connect(compose.select)
        page.upRequested.connect(compose.up)
        page.downRequested.connect(compose.down)
        page.startRequested.connect(compose.start)
        page.stopRequested.connect(compose.stop)
        page.restartRequested.connect(compose.restart)
        page.logsRequested.connect(compose.follow_logs)

    def _failed(self, name: str, action: str, message: str) -> None:
        self.page.set_busy(name, action, False)
        self.notices.failed(self.page, name, f"compose {action}", message)

    def engine_switched(self) -> None:
        self.containers.set_items([])
