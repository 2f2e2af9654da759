"""Logs followed from a real berthd: across restarts (earlier runs kept above a restart line),
compose services merged in time order with colours from their names, and the container's events
as marks in the log that a click brings into view."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt

from app.models.logs import MARK, LogBuffer
from app.widgets.log_view import source_color
from tests.support.api import RawApi
from tests.support.daemon import Berthd

pytestmark = [pytest.mark.gui, pytest.mark.integration]

PREFIX = "berth-gui-logs-"


class Containers:
    def __init__(self, api: RawApi) -> None:
        self.api = api
        self.ids: list[str] = []

    def create(self, name: str, script: str, **config: Any) -> str:
        id = str(self.api.json("POST", f"/containers/create?name={PREFIX}{name}",
                               {"Image": "busybox:latest", "Cmd": ["sh", "-c", script], **config})["Id"])
        self.ids.append(id)
        return id

    def start(self, id: str) -> None:
        status, _, body = self.api.request("POST", f"/containers/{id}/start")
        assert status == 204, body

    def wait(self, id: str) -> int:
        return int(self.api.json("POST", f"/containers/{id}/wait")["StatusCode"])


@pytest.fixture
def containers(berthd: Berthd, busybox_image: str) -> Iterator[Containers]:
    made = Containers(berthd.api)
    try:
        yield made
    finally:
        for id in made.ids:
            made.api.request("DELETE", f"/containers/{id}?force=1")


def _texts(buffer: LogBuffer) -> list[str]:
    return [buffer.plain(i) for i in range(len(buffer))]


# Each run counts itself in a file of the container's own (kept across restarts), says so, and
# exits 3 a moment later.
RUN = 'n=$(($(cat /runs 2>/dev/null || echo 0) + 1)); echo $n > /runs; echo "run $n"; sleep 0.3; echo "bye $n"; exit 3'


def test_follow_goes_on_after_restarts_with_earlier_runs_above(
        berthd: Berthd, containers: Containers, make_window: Callable[[str], Any], qtbot: Any) -> None:
    id = containers.create("restarts", RUN)
    containers.start(id)
    window = make_window(berthd.url)
    detail = window.detail
    detail.show_container(id, PREFIX + "restarts", True)
    buffer = detail.log_buffer
    qtbot.waitUntil(lambda: "── exited with code 3 ──" in _texts(buffer), timeout=15_000)
    qtbot.waitUntil(lambda: "not running" in detail.logs.status.text(), timeout=5_000)

    for run in (2, 3):  # started again (as a restart policy or a person does): the log goes on
        containers.start(id)
        qtbot.waitUntil(lambda run=run: _texts(buffer).count("── exited with code 3 ──") == run, timeout=15_000)
    texts = _texts(buffer)
    assert texts == [
        "── started ──", "run 1", "bye 1", "── exited with code 3 ──",
        "── restarted ──", "run 2", "bye 2", "── exited with code 3 ──",
        "── restarted ──", "run 3", "bye 3", "── exited with code 3 ──",
    ], [buffer.line(i) for i in range(len(buffer))]
    # The restart lines are marks of their own, coloured apart from the output.
    restart_lines = [i for i, text in enumerate(texts) if text == "── restarted ──"]
    assert all(buffer.stream(i) == MARK for i in restart_lines) and len(restart_lines) == 2
    assert buffer.mark_kinds[restart_lines[0]] == "start"
    # Following still: the view shows the newest line.
    view = detail.logs.view
    assert view.follow


def test_compose_logs_merge_services_in_time_order_with_name_colours(
        berthd: Berthd, containers: Containers, make_window: Callable[[str], Any], qtbot: Any) -> None:
    project = PREFIX.rstrip("-").replace("-", "") + "merge"

    # Both begin at the same wall-clock second, not when each was started (a start takes longer under
    # load): web writes at once and db 0.2 s after, each line 0.4 s apart, so their lines alternate.
    begin = int(time.time()) + 3

    def service(name: str, delay_us: int) -> str:
        labels = {"com.docker.compose.project": project, "com.docker.compose.service": name,
                  "com.docker.compose.container-number": "1", "com.docker.compose.oneoff": "False"}
        script = (f'while [ "$(date +%s)" -lt {begin} ]; do usleep 5000; done; usleep {delay_us}; '
                  f'for i in 1 2 3 4 5 6; do echo "{name} $i"; usleep 400000; done')
        return containers.create(f"{project}-{name}", script, Labels=labels)

    web, db = service("web", 0), service("db", 200_000)
    containers.start(web)
    containers.start(db)
    assert containers.wait(web) == 0 and containers.wait(db) == 0
    window = make_window(berthd.url)
    window.compose.follow_logs(project)
    buffer = window.compose.log_buffer
    output = lambda: [i for i in range(len(buffer)) if buffer.stream(i) != MARK]  # noqa: E731
    qtbot.waitUntil(lambda: len(output()) == 12, timeout=15_000)
    lines = output()
    texts = [buffer.plain(i) for i in lines]
    assert texts == [f"{name} {i}" for i in range(1, 7) for name in ("web", "db")], texts
    times = [buffer.time_ns(i) for i in range(len(buffer))]
    assert times == sorted(times)

    # Each service keeps its colour, from its name, whatever the order the containers come in.
    view = window.compose_page.logs.view
    first_web = next(i for i in lines if buffer.sources[buffer.source(i)] == "web")
    first_db = next(i for i in lines if buffer.sources[buffer.source(i)] == "db")
    assert view.pieces(first_web)[0][0][0] == "web | "
    assert view.pieces(first_web)[0][0][1].name() == source_color("web")
    assert view.pieces(first_db)[0][0][1].name() == source_color("db")


def test_event_marks_are_lines_at_their_moment_and_a_click_shows_them(
        berthd: Berthd, containers: Containers, make_window: Callable[[str], Any], qtbot: Any) -> None:
    script = "i=0; while [ $i -lt 400 ]; do echo line $i; i=$((i+1)); done; sleep 30"
    id = containers.create("marks", script)
    containers.start(id)
    window = make_window(berthd.url)
    detail = window.detail
    qtbot.waitUntil(lambda: window.containers_page.select_container(id), timeout=10_000)
    window.open_detail_tab("Logs")
    buffer = detail.log_buffer
    qtbot.waitUntil(lambda: "line 399" in _texts(buffer), timeout=15_000)
    status, _, body = containers.api.request("POST", f"/containers/{id}/exec",
                                             {"Cmd": ["sh", "-c", "echo from exec"]})
    assert status == 201, body
    exec_id = json.loads(body)["Id"]
    status, _, body = containers.api.request("POST", f"/exec/{exec_id}/start", {"Detach": True})
    assert status in (200, 204), body
    status, _, body = containers.api.request("POST", f"/containers/{id}/kill", None)
    assert status == 204, body
    qtbot.waitUntil(lambda: any(t.startswith("── exited with code") for t in _texts(buffer)), timeout=15_000)
    texts = _texts(buffer)
    assert texts.index("── exec: sh -c echo from exec ──") > texts.index("line 399")
    kinds = [buffer.mark_kinds[i] for i in buffer.marks]
    assert kinds[-2:] == ["exec", "die"] and "start" in kinds
    times = [buffer.time_ns(i) for i in range(len(buffer))]
    assert times == sorted(times)

    # The marks beside the scroll bar: a click on the start mark brings its line into view.
    view = detail.logs.view
    qtbot.waitUntil(lambda: view.isVisible() and view.ruler.isVisible())
    view.scroll_to_end()
    start_line = buffer.marks[kinds.index("start")]
    assert not view.top_row() <= start_line < view.top_row() + view.page_rows()
    [y] = [tick for tick, line in view.ruler.ticks() if line == start_line]
    qtbot.mouseClick(view.ruler, Qt.MouseButton.LeftButton, pos=QPoint(4, y))
    assert view.top_row() <= start_line < view.top_row() + view.page_rows()
    assert list(view.selected_rows()) == [start_line] and not view.follow
