"""The Containers page's controller (issue 21) against a recording service: the page's intents and
the palette's commands become the service's calls the action table says, a running container's
removal is asked first, a failure is said on the page in words, and the rows' changes are followed."""

from __future__ import annotations

import time
from typing import Any

import pytest
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QStackedWidget, QWidget

from app.models.containers import ContainersModel
from app.models.resources import images_model
from app.services.engine import EngineStatus
from app.services.watch import ContainerWatch
from app.widgets.chrome import NoticeBar
from app.widgets.containers_controller import ContainersController
from app.widgets.containers_page import ContainersPage
from app.widgets.notices import Notices

pytestmark = pytest.mark.gui


class RecordingService(QObject):
    """ContainerService's signals, and its calls written down instead of sent."""

    listed = Signal(list)
    changed = Signal(dict)
    removed = Signal(str)
    actionStarted = Signal(str, str)
    actionFailed = Signal(str, str, str)
    actionFinished = Signal(str, str)
    ran = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def __getattr__(self, name: str) -> Any:
        if name in ("start", "stop", "restart", "pause", "unpause", "kill"):
            return lambda id: self.calls.append((name, id))
        raise AttributeError(name)

    def remove(self, id: str, force: bool = False) -> None:
        self.calls.append(("remove --force" if force else "remove", id))


class Flow(QObject):
    recreated = Signal(str, str)


class Progress:
    def finish(self, id: str = "") -> None:
        pass


class Detail:
    """The detail view's part the controller drives."""

    def __init__(self) -> None:
        self.id = ""
        self.edit_flow = Flow()
        self.stop_progress = Progress()
        self.shown: list[tuple[str, ...]] = []

    def show_container(self, id: str, name: str, running: bool) -> None:
        self.id = id
        self.shown.append(("container", name, str(running)))

    def show_project(self, project: str, ids: list[str], names: list[str]) -> None:
        self.shown.append(("project", project, *names))

    def show_tab(self, tab: str) -> None:
        self.shown.append(("tab", tab))

    def set_running(self, running: bool) -> None:
        pass

    def stop_started(self, id: str) -> None:
        self.shown.append(("stopping", id))

    def clear(self) -> None:
        self.id = ""


class Images(QObject):
    runDetails = Signal(str, dict, list)

    def run_details(self, image: str) -> None:
        pass


class ImagesPage:
    def show_info(self, text: str) -> None:
        pass


class Connection:
    def check(self) -> None:
        pass

    def trust_host_key(self, line: str) -> None:
        pass


def listing(n: int, state: str, project: str = "") -> dict[str, Any]:
    return {"Id": f"{n:064x}", "Names": [f"/c{n}"], "Image": "busybox", "Command": "sleep 1",
            "Created": int(time.time()) - n, "State": state,
            "Status": "Up 1 minute" if state == "running" else "Exited (0) 1 minute ago",
            "Labels": {"com.docker.compose.project": project} if project else {}}


def make(qtbot: Any) -> tuple[ContainersController, RecordingService, ContainersPage, Detail, list[str]]:
    window = QWidget()
    qtbot.addWidget(window)
    pages = QStackedWidget(window)
    model = ContainersModel(window)
    page = ContainersPage(model, window)
    pages.addWidget(page)
    service, detail = RecordingService(), Detail()
    places: list[str] = []
    notices = Notices(NoticeBar(pages), pages, window, model, None)
    controller = ContainersController(
        connection=Connection(), service=service, model=model, page=page, detail=detail,  # type: ignore[arg-type]
        watch=ContainerWatch(window), notices=notices, stats_page=None,  # type: ignore[arg-type]
        images=Images(window), images_model=images_model(lambda _: 0, window),  # type: ignore[arg-type]
        images_page=ImagesPage(), show_place=places.append, window=window)  # type: ignore[arg-type]
    page.show_engine_status(EngineStatus("unix:///x.sock", True))
    service.listed.emit([listing(1, "running"), listing(2, "exited"), listing(3, "paused")])
    return controller, service, page, detail, places


def test_the_pages_actions_ask_the_service_as_the_table_says(qtbot: Any) -> None:
    controller, service, page, detail, _ = make(qtbot)
    one, two, three = (f"{n:064x}" for n in (1, 2, 3))
    page.table.selectAll()
    assert page.action_stop.isEnabled() and page.action_start.isEnabled()
    assert page.actions_by_name["kill"].isEnabled()  # in the context menu only
    page.action_stop.trigger()  # the running and the paused one: those up
    page.action_start.trigger()  # the exited one
    page.actions_by_name["unpause"].trigger()
    page.actions_by_name["pause"].trigger()
    assert service.calls == [("stop", one), ("stop", three), ("start", two), ("unpause", three), ("pause", one)]

    # Remove: the exited one goes at once, the running and paused ones are asked about first.
    service.calls.clear()
    page.action_remove.trigger()
    assert service.calls == [("remove", two)]
    box = controller.notices.confirmation
    assert box is not None and box.isVisible() and "c1" in box.text() + box.informativeText()
    [destructive] = [b for b in box.buttons() if box.buttonRole(b) == box.ButtonRole.DestructiveRole]
    destructive.click()
    qtbot.waitUntil(lambda: ("remove --force", one) in service.calls)
    assert ("remove --force", three) in service.calls

    # A row's own Logs button: that container selected, its detail at Logs.
    assert page.select_container(two)
    page.actionRequested.emit("logs", [two])
    assert list(detail.shown[-1]) == ["tab", "Logs"] and page.current_id() == two


def test_the_palette_offers_each_containers_actions_by_its_state(qtbot: Any) -> None:
    controller, service, _, _, _ = make(qtbot)
    commands = {title: (hint, run) for title, hint, run in controller.palette_commands()}
    assert {"Stop c1", "Restart c1", "Pause c1", "Kill c1", "Terminal in c1", "Remove c1", "Container c1"} <= set(
        commands)
    assert {"Start c2", "Remove c2"} <= set(commands) and "Stop c2" not in commands and "Start c1" not in commands
    assert {"Resume c3", "Stop c3"} <= set(commands) and "Terminal in c3" not in commands
    assert commands["Kill c1"][0] == "docker kill"
    commands["Kill c1"][1]()
    commands["Start c2"][1]()
    assert service.calls == [("kill", f"{1:064x}"), ("start", f"{2:064x}")]


def test_a_stop_shows_stopping_and_a_failure_is_said_on_the_page(qtbot: Any) -> None:
    controller, service, page, _, _ = make(qtbot)
    one = f"{1:064x}"
    service.actionStarted.emit(one, "stop")
    index = controller.model.index_of(one, 2)
    assert index is not None and index.data() == "stopping…" and page.action_stop.text() == "Stopping…"
    service.actionFailed.emit(one, "stop", f"Error response from daemon: cannot stop container {one[:12]}: "
                                           "address already in use")
    assert page.action_stop.text() == "Stop" and index.data() == "running"
    text = page.message.text()
    assert "Could not stop c1" in text and "cannot stop container c1" in text, text
    assert "choose another host port" in text


def test_selection_shows_the_detail_and_changes_are_followed(qtbot: Any) -> None:
    controller, service, page, detail, _ = make(qtbot)
    settled: list[dict[str, str]] = []
    controller.settled.connect(settled.append)
    assert page.select_container(f"{1:064x}")
    assert list(detail.shown[-1]) == ["container", "c1", "True"]
    service.changed.emit(listing(2, "running"))
    qtbot.waitUntil(lambda: bool(settled) and set(settled[-1].values()) == {"c1", "c2"})
    service.listed.emit([listing(1, "running"), listing(4, "running", "shop"), listing(5, "exited", "shop")])
    qtbot.waitUntil(lambda: set(settled[-1].values()) == {"c1", "c4"})
    shop = controller.model.project_indexes()[0]
    page.table.setCurrentIndex(page.proxy.mapFromSource(shop))
    assert list(detail.shown[-1]) == ["project", "shop", "c4", "c5"]
    controller.engine_switched()
    assert controller.model.rowCount() == 0 and detail.id == ""
