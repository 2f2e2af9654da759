"""The all-containers stats view: its model passes qtmodeltester, sorts heaviest first, and the page
follows the one stats reader."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.models.resources import KEY_ROLE
from app.models.stats import overview_row, stats_overview_model
from engine.client import StatsSample

pytestmark = pytest.mark.gui


def sample(cpu: float, memory: int) -> StatsSample:
    return StatsSample(cpu, memory, 1 << 30, 10, 20, 30, 40, 3)


def test_stats_model_passes_qtmodeltester(qtmodeltester: Any) -> None:
    model = stats_overview_model()
    model.set_items([overview_row("a" * 64, "web", sample(12.5, 50 << 20)),
                     overview_row("b" * 64, "db", sample(80, 1))])
    # The tester stays connected: the updates below are checked as they happen.
    qtmodeltester.check(model, force_py=True)
    model.set_items([overview_row("b" * 64, "db", sample(5, 2))])
    model.set_items([overview_row("b" * 64, "db", sample(5, 2)), overview_row("c" * 64, "new", sample(1, 1))])
    assert model.data(model.index(0, 1)) == "5.0 %"
    assert model.data(model.index(0, 2)) == "2B / 1.07GB"


class FakeStats:
    """Just what the page reads of StatsService: the latest sample and the history of each container."""

    def __init__(self, samples: dict[str, list[StatsSample]]) -> None:
        self.samples = samples

    def latest(self, id: str) -> StatsSample | None:
        return self.samples[id][-1] if self.samples.get(id) else None

    def history(self, id: str) -> list[tuple[float, StatsSample]]:
        return [(float(i), s) for i, s in enumerate(self.samples.get(id, []))]


def test_page_shows_running_containers_heaviest_first(qtbot: Any) -> None:
    from app.widgets.stats_page import StatsPage

    stats = FakeStats({
        "light": [sample(1, 10 << 20), sample(2, 11 << 20)],
        "heavy": [sample(90, 200 << 20), sample(95, 210 << 20)],
        "idle": [sample(0, 1 << 20)],
        "stopped": [sample(50, 1)],  # has history but is not running any more: not listed
    })
    page = StatsPage(stats_overview_model(), stats)  # type: ignore[arg-type]
    qtbot.addWidget(page)
    assert page.stack.currentWidget() is page.empty
    page.show_running({"light": "light-one", "heavy": "heavy-one", "idle": "idle-one"})
    assert page.stack.currentWidget() is page.table
    names = [page.proxy.index(row, 0).data() for row in range(page.proxy.rowCount())]
    assert names == ["heavy-one", "light-one", "idle-one"]
    assert page.summary.text() == "3 running · CPU 97.0 % · memory 233MB"
    assert [name for name, _, _ in page.cpu_graph.series] == ["heavy-one", "light-one", "idle-one"]
    assert list(page.cpu_graph.series[0][2]) == [90, 95]
    # Opening a row asks for that container's own stats.
    with qtbot.waitSignal(page.containerChosen) as chosen:
        page.table.doubleClicked.emit(page.proxy.index(0, 0))
    assert chosen.args == ["heavy"]
    assert page.proxy.index(0, 0).data(KEY_ROLE) == "heavy"
    page.show_running({})
    assert page.stack.currentWidget() is page.empty and page.summary.text() == ""
    assert page.table.horizontalHeader().sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
