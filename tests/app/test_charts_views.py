"""The charts in their views: the containers list's CPU number and sparkline side by side (issue 22);
a click on a detail graph's mark or point shows the logs at that moment, and a detector's notice
opens its container's Stats at the moment of the finding (issue 23)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt

from app.models.containers import Column, ContainersModel
from app.models.detectors import OOM_KILL, Detection
from app.models.metrics_events import ContainerEvent
from app.services.engine import EngineStatus
from app.widgets.containers_page import ContainerDelegate, ContainersPage
from engine.client import StatsSample
from tests.app.support import state_text
from tests.app.test_containers_model import listing
from tests.engine.client.fake_engine import FakeEngine

pytestmark = pytest.mark.gui


def test_the_cpu_sparkline_is_drawn_beside_its_number(qtbot: Any) -> None:
    model = ContainersModel()
    page = ContainersPage(model)
    qtbot.addWidget(page)
    page.resize(1000, 400)
    page.show_engine_status(EngineStatus("unix:///run/berth.sock", True))
    model.set_containers([listing("a", "web")])
    id = "a" * 64
    model.set_stats({id: StatsSample(187.5, 2_000_000, 8_000_000, 0, 0, 0, 0)}, {id: [1.0, 90.0, 40.0, 187.5]})
    page.show()
    qtbot.waitExposed(page)
    delegate = page.table.itemDelegate()
    assert isinstance(delegate, ContainerDelegate)
    page.table.viewport().grab()  # paint the rows
    assert delegate.cpu_painted is not None
    text, spark = delegate.cpu_painted
    cell = page.table.visualRect(page.proxy.mapFromSource(model.index(0, Column.CPU)))
    assert not text.isEmpty() and not spark.isEmpty()
    assert not text.intersects(spark), (text, spark)
    assert cell.contains(text) and cell.contains(spark)
    assert text.width() >= page.table.fontMetrics().horizontalAdvance("187.5")


def stamp(t: float) -> bytes:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)).encode() + f".{int(t % 1 * 1e9):09d}Z".encode()


def test_a_click_on_a_detail_graph_shows_the_logs_at_that_moment(
    qtbot: Any, fake_engine: FakeEngine, make_window: Any,
) -> None:
    now = time.time()
    id = fake_engine.add_container("web", state="running")
    fake_engine.containers[id].output = [(1, stamp(now - 250) + b" early\n"), (1, stamp(now - 119.9) + b" middle\n"),
                                         (2, stamp(now - 20) + b" late\n")]
    window = make_window(fake_engine.url)
    qtbot.waitUntil(lambda: state_text(window, "web") == "running")
    stats = window.stats
    assert stats.store is not None
    stats.store.add_event(stats.engine, ContainerEvent(now - 120, id, "die", "3", "web"))
    assert window.containers_page.select_container(id)
    detail = window.detail
    qtbot.waitUntil(lambda: len(detail.log_buffer) == 3)
    detail.show_tab("Stats")
    graph = detail.memory_graph
    qtbot.waitExposed(graph)
    assert [m.label for m in graph.marks] == ["exited 3"]
    area = graph.plot_area()

    def shown_line() -> str:
        rows = detail.logs.view.selected_rows()
        return detail.log_buffer.line(detail.logs.view.line_of_row(rows.start)) if rows else ""

    # The mark: the logs at its moment, the line it wrote then selected.
    qtbot.mouseClick(graph, Qt.MouseButton.LeftButton,
                     pos=QPoint(round(graph.x_of(now - 120, area)) + 2, int(area.center().y())))
    assert detail.tabs.tabText(detail.tabs.currentIndex()) == "Logs"
    assert shown_line().endswith("middle")
    # A point of another graph, before anything was written after the start: the first line after it.
    detail.show_tab("Stats")
    cpu = detail.cpu_graph
    qtbot.mouseClick(cpu, Qt.MouseButton.LeftButton,
                     pos=QPoint(round(cpu.x_of(now - 60, cpu.plot_area())), int(cpu.plot_area().center().y())))
    assert detail.tabs.tabText(detail.tabs.currentIndex()) == "Logs"
    assert shown_line().endswith("late")


def test_a_detector_notice_opens_its_container_at_that_moment(
    qtbot: Any, fake_engine: FakeEngine, make_window: Any,
) -> None:
    id = fake_engine.add_container("hog", state="running")
    fake_engine.add_container("other", state="running")
    window = make_window(fake_engine.url)
    qtbot.waitUntil(lambda: state_text(window, "hog") == "running" and state_text(window, "other") == "running")
    window.show_place("images")
    when = time.time() - 3600  # an hour ago: the graphs go back to it
    window.stats.detected.emit(Detection(id, OOM_KILL, when, "hog ran out of memory", "It was killed at 32MB."))
    notices = window.notices
    assert notices.isVisible() and "hog ran out of memory" in notices.label.text()
    qtbot.mouseClick(notices.label, Qt.MouseButton.LeftButton)  # the words, as people click
    assert window.current_place() == "containers"
    assert window.containers_page.current_id() == id
    detail = window.detail
    assert detail.id == id and detail.tabs.tabText(detail.tabs.currentIndex()) == "Stats"
    for graph in detail.graphs:
        assert graph.moment == when and graph.span is not None
        assert graph.span[0] < when < graph.span[1]
    assert not notices.isVisible()  # read: it goes
    # Once left, the Stats tab is live again: the last minutes, no moment pointed out.
    detail.show_tab("Logs")
    assert detail.cpu_graph.moment is None and detail.cpu_graph.span is not None
    assert detail.cpu_graph.span[1] > time.time() - 5
