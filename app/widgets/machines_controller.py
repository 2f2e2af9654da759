"""The Machines page's controller: what its intents do (through `MachineService`), the machines'
model fed from it, the docker CLI's `berth` context, and the first run on macOS and Windows, where
the Containers page's unreachable panel offers to set up Berth's machine."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget

from app.models.compose import TonedModel
from app.services.engine import EngineStatus
from app.services.machines import MachineService, first_run_needed
from app.widgets.machines_page import MachinesPage
from app.widgets.notices import Notices
from app.widgets.unreachable import EngineUnreachablePanel


class MachinesController(QObject):
    def __init__(self, *, machines: MachineService, model: TonedModel, page: MachinesPage,
                 first_run: EngineUnreachablePanel, notices: Notices, switch_engine: Callable[[str], None],
                 contexts_changed: Callable[[], None], window: QWidget) -> None:
        super().__init__(window)
        self.machines, self.model, self.page, self.first_run, self.notices = machines, model, page, first_run, notices
        self.switch_engine = switch_engine
        machines.listed.connect(model.set_items)
        machines.listed.connect(lambda _items: contexts_changed())
        machines.actionStarted.connect(lambda name, action: page.set_busy(name, action, True))
        machines.actionFinished.connect(lambda name, action: page.set_busy(name, action, False))
        machines.actionFailed.connect(self._failed)
        machines.bootLogReady.connect(page.show_boot_log)
        # The user's own docker CLI: the `berth` context offered once a machine runs, made current on a yes.
        machines.contextOffered.connect(page.offer_context)
        machines.contextUsed.connect(page.context_used)
        machines.contextFailed.connect(page.context_failed)
        page.contextRequested.connect(machines.use_context)
        page.createRequested.connect(machines.create)
        page.startRequested.connect(machines.start)
        page.stopRequested.connect(machines.stop)
        page.removeRequested.connect(machines.remove)
        page.bootLogRequested.connect(machines.boot_log)
        page.reclaimRequested.connect(machines.reclaim)
        page.useRequested.connect(switch_engine)

        if first_run_needed():  # no engine on this system without Berth's machine: offer to set it up
            first_run.enable_first_run()
            first_run.setupRequested.connect(machines.set_up)
            machines.setupOffered.connect(first_run.offer_setup)
            machines.setupProgress.connect(first_run.show_setup_progress)
            machines.setupFailed.connect(first_run.show_setup_failed)
            machines.setupFinished.connect(self._set_up)

    def shown(self) -> None:
        self.machines.refresh()  # read from disk only once someone looks

    def engine_status(self, status: EngineStatus) -> None:
        if status.reachable is False and self.first_run.first_run:
            self.machines.check_setup()

    def _failed(self, name: str, action: str, message: str) -> None:
        self.page.set_busy(name, action, False)
        self.notices.failed(self.page, name, action, message)

    def _set_up(self, host: str) -> None:
        self.first_run.setup_finished()
        self.switch_engine(host)
