"""Readable charts (issue 22): axes with units and a clock-time base, hover values under the pointer,
legends whose colours come from the names (the same in every view), memory against the container's
limit or its own peak (never the host's memory); a click on a mark or point says when (issue 23)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QToolTip

from app.display import human_size
from app.models.metrics_history import memory_scale, own_memory_limit
from app.models.stats import stats_overview_model
from app.widgets.log_view import source_color
from app.widgets.stats_graph import Mark, StatsGraph, name_color, nice_top, time_ticks
from engine.client import StatsSample

pytestmark = pytest.mark.gui

GB = 1000**3
MB = 1000**2


def cpu_graph(qtbot: Any) -> tuple[StatsGraph, float]:
    graph = StatsGraph("CPU", lambda v: f"{v:.1f} %")
    qtbot.addWidget(graph)
    graph.resize(600, 200)
    end = 1_764_946_800.0  # a round local hour is not assumed: ticks are checked against the clock
    start = end - 300
    points = [(start + i, 10.0 + (i % 7)) for i in range(0, 301)]
    graph.set_timed([("web", name_color("web"), points)], start, end,
                    marks=[Mark(start + 120, "exited 3", "die")])
    graph.show()
    qtbot.waitExposed(graph)
    return graph, start


def test_axes_carry_units_and_clock_times(qtbot: Any) -> None:
    graph, start = cpu_graph(qtbot)
    values = graph.value_labels()
    assert [label for _, label in values] == ["0.0 %", "5.0 %", "10.0 %", "15.0 %", "20.0 %"]  # peak 16 %
    ticks = graph.time_labels()
    assert len(ticks) >= 4
    for t, label in ticks:
        assert start <= t <= start + 300
        assert time.localtime(t).tm_sec == 0 and label == time.strftime("%H:%M", time.localtime(t))
    # They are drawn: the strip left of the plot and the one under it hold text, not just background.
    image = graph.grab().toImage()
    area = graph.plot_area()
    base = graph.palette().color(graph.backgroundRole()).rgb()

    def inked(x0: int, y0: int, x1: int, y1: int) -> int:
        return sum(1 for x in range(x0, x1) for y in range(y0, y1) if image.pixelColor(x, y).rgb() != base
                   and image.pixelColor(x, y) != QColor(graph.palette().color(graph.palette().ColorRole.Base)))

    assert area.left() > 20 and inked(0, int(area.top()), int(area.left()) - 2, int(area.bottom())) > 20
    assert inked(int(area.left()), int(area.bottom()) + 3, int(area.right()), graph.height()) > 20


def test_value_and_time_steps_read_round() -> None:
    assert nice_top(87.3) == (100.0, 20.0)
    assert nice_top(0.0) == (1.0, 0.5)
    assert nice_top(46 * MB) == (50 * MB, 10 * MB)
    now = time.time()
    week, fmt = time_ticks(now - 7 * 86400, now)
    assert fmt == "%a %d %b" and 6 <= len(week) <= 7
    hour, fmt = time_ticks(now - 3600, now)
    assert fmt == "%H:%M" and 4 <= len(hour) <= 6 and all(time.localtime(t).tm_min % 10 == 0 for t in hour)


def test_hover_shows_time_and_values_with_a_crosshair(qtbot: Any) -> None:
    graph, start = cpu_graph(qtbot)
    area = graph.plot_area()
    t = start + 200
    x = round(graph.x_of(t, area))
    qtbot.mouseMove(graph, QPoint(x, int(area.center().y())))
    qtbot.waitUntil(lambda: graph.hover is not None)
    hover = graph.hover
    assert hover is not None and abs(hover - t) < 2
    text = QToolTip.text()
    assert text.splitlines()[0] == time.strftime("%H:%M:%S", time.localtime(hover))
    assert any(line.startswith("web: ") and line.endswith(" %") for line in text.splitlines()), text
    graph.click_hint = "Click: the logs at this moment"
    assert graph.hover_text(hover).splitlines()[-1] == graph.click_hint
    # The crosshair is drawn at the pointer: that column changes down the whole plot, and goes with it.
    hovered: QImage = graph.grab().toImage()
    graph.leaveEvent(QEvent(QEvent.Type.Leave))
    assert graph.hover is None
    plain: QImage = graph.grab().toImage()
    changed = sum(1 for y in range(int(area.top()) + 1, int(area.bottom()))
                  if any(hovered.pixelColor(c, y) != plain.pixelColor(c, y) for c in (x - 1, x, x + 1)))
    assert changed > area.height() * 0.8
    # Over the mark: its words too.
    mark_x = round(graph.x_of(start + 120, area))
    qtbot.mouseMove(graph, QPoint(mark_x + 2, int(area.center().y())))
    qtbot.waitUntil(lambda: "exited 3" in QToolTip.text())


def test_clicking_a_mark_or_a_point_says_when(qtbot: Any) -> None:
    graph, start = cpu_graph(qtbot)
    area = graph.plot_area()
    y = int(area.center().y())
    with qtbot.waitSignal(graph.pointChosen) as chosen:
        qtbot.mouseClick(graph, Qt.MouseButton.LeftButton, pos=QPoint(round(graph.x_of(start + 120, area)) + 3, y))
    assert chosen.args == [start + 120]  # the mark's own time, not the pixel's
    with qtbot.waitSignal(graph.pointChosen) as chosen:
        qtbot.mouseClick(graph, Qt.MouseButton.LeftButton, pos=QPoint(round(graph.x_of(start + 250, area)), y))
    assert abs(chosen.args[0] - (start + 250)) < 2
    with qtbot.assertNotEmitted(graph.pointChosen):
        qtbot.mouseClick(graph, Qt.MouseButton.LeftButton, pos=QPoint(2, 2))  # the legend


def test_colours_come_from_names_as_the_logs_colour_them() -> None:
    assert name_color("web") == name_color("web") == QColor(source_color("web"))
    assert {name_color(n).name() for n in ("web", "db", "cache", "queue")} != {name_color("web").name()}
    # The pairs of one container's counters are told apart.
    assert name_color("received") != name_color("sent") and name_color("reads") != name_color("writes")


class FakeStats:
    engine = "unix:///run/berth.sock"

    def __init__(self, samples: dict[str, list[StatsSample]]) -> None:
        self.samples = samples

    def latest(self, id: str) -> StatsSample | None:
        return self.samples[id][-1] if self.samples.get(id) else None

    def history(self, id: str) -> list[tuple[float, StatsSample]]:
        now = time.time()
        readings = self.samples.get(id, [])
        return [(now - len(readings) + i, s) for i, s in enumerate(readings)]


def sample(memory: int, limit: int) -> StatsSample:
    return StatsSample(5.0, memory, limit, 0, 0, 0, 0, 1)


def test_memory_against_its_limit_or_its_peak_never_the_host(qtbot: Any) -> None:
    from app.widgets.stats_page import StatsPage

    host = 25 * GB
    stats = FakeStats({
        "free": [sample(40 * MB, host), sample(50 * MB, host)],  # no limit: the engine says the host's memory
        "capped": [sample(20 * MB, 64 * MB), sample(30 * MB, 64 * MB)],
    })
    page = StatsPage(stats_overview_model(), stats)  # type: ignore[arg-type]
    qtbot.addWidget(page)
    page.show_running({"free": "free", "capped": "capped"})
    assert page.choose("free")
    graph = page.memory_graph
    assert graph.limit is None and graph.scale() == (50 * MB, 10 * MB)  # not 25 GB
    assert graph.axis_note == "against its peak 50MB"
    assert [label for _, label in graph.value_labels()] == ["0B", "10MB", "20MB", "30MB", "40MB", "50MB"]
    assert "against its peak" in graph.accessibleDescription()
    assert page.choose("capped")
    capped = page.memory_graph
    assert capped.top == 64 * MB and capped.limit == 64 * MB
    assert capped.axis_note == "against its limit 64MB"
    # The legend's colour is the container's, the same on every graph of the page.
    assert capped.series[0][1] == page.cpu_graph.series[0][1] == name_color("capped")


def test_own_memory_limit() -> None:
    assert own_memory_limit(25 * GB, host_memory=25 * GB) == 0
    assert own_memory_limit(64 * MB, host_memory=25 * GB) == 64 * MB
    assert own_memory_limit(25 * GB, configured=0) == 0  # inspect says: none, whatever is reported
    assert own_memory_limit(25 * GB, configured=512 * MB) == 512 * MB
    assert own_memory_limit(0) == 0
    scale = memory_scale([10.0, 30.0, 20.0], 0)
    assert scale.top == 30.0 and scale.note(human_size) == "against its peak 30B"
    assert memory_scale([10.0], 100).note(human_size) == "against its limit 100B"


def test_a_click_on_one_containers_stats_opens_it_at_that_moment(qtbot: Any) -> None:
    from app.widgets.stats_page import StatsPage

    stats = FakeStats({"web": [sample(i * MB, 64 * MB) for i in range(1, 60)]})
    page = StatsPage(stats_overview_model(), stats)  # type: ignore[arg-type]
    qtbot.addWidget(page)
    page.resize(900, 700)
    page.show()
    page.show_running({"web": "web"})
    graph = page.cpu_graph
    area = graph.plot_area()
    x = int(area.right()) - 5
    with qtbot.assertNotEmitted(page.momentChosen):  # the heaviest: several containers, no one to open
        qtbot.mouseClick(graph, Qt.MouseButton.LeftButton, pos=QPoint(x, int(area.center().y())))
    assert page.choose("web")
    with qtbot.waitSignal(page.momentChosen) as chosen:
        qtbot.mouseClick(graph, Qt.MouseButton.LeftButton, pos=QPoint(x, int(area.center().y())))
    assert chosen.args[0] == "web" and abs(chosen.args[1] - graph.t_of(x, area)) < 1
