"""Stats: every running container at once, the heaviest first, with CPU and memory over time."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QHeaderView, QLabel, QWidget

from app.display import human_size
from app.models.resources import KEY_ROLE, ResourceModel
from app.models.stats import overview_row
from app.services.stats import StatsService
from app.widgets.resource_pages import ResourcePage
from app.widgets.stats_graph import StatsGraph

# Lines for the heaviest containers: distinct on light and dark backgrounds alike.
SERIES_COLORS = ["#2f6fde", "#1a7f37", "#bc3fbc", "#b35900", "#11a8cd"]
CPU_COLUMN = 1


class StatsPage(ResourcePage):
    containerChosen = Signal(str)  # a row was opened: show that container's own Stats tab

    def __init__(self, model: ResourceModel, stats: StatsService, parent: QWidget | None = None) -> None:
        super().__init__("stats", model, "No container is running. Start one from the Containers or Images page "
                         "and its CPU, memory, network and disk use show here, the heaviest first.", parent)
        self.stats = stats
        self.summary = QLabel(self)
        self.summary.setObjectName("stats-summary")
        self.cpu_graph = StatsGraph("CPU", lambda v: f"{v:.1f} %", self)
        self.memory_graph = StatsGraph("Memory", lambda v: human_size(v), self)
        graphs = QHBoxLayout()
        graphs.addWidget(self.cpu_graph)
        graphs.addWidget(self.memory_graph)
        self.forms.addWidget(self.summary)
        self.forms.addLayout(graphs)
        self.table.sortByColumn(CPU_COLUMN, Qt.SortOrder.DescendingOrder)
        header = self.table.horizontalHeader()
        for column in range(1, model.columnCount()):  # figures keep their width; the name takes the rest
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        self.table.doubleClicked.connect(lambda index: self.containerChosen.emit(str(index.data(KEY_ROLE))))
        self.table.activated.connect(lambda index: self.containerChosen.emit(str(index.data(KEY_ROLE))))
        self._names: Mapping[str, str] = {}
        self.show_running({})

    def show_running(self, names: Mapping[str, str]) -> None:
        """The running containers changed: `names` maps each one's id to its name."""
        self._names = names
        self.refresh()

    def refresh(self) -> None:
        """Show the stats reader's latest samples of the running containers (after each new sample)."""
        names = self._names
        rows = [overview_row(id, name, sample) for id, name in names.items()
                if (sample := self.stats.latest(id)) is not None]
        self.model.set_items(rows)
        cpu = sum(row["CPU"] for row in rows)
        memory = sum(row["Memory"] for row in rows)
        self.summary.setText(f"{len(names)} running · CPU {cpu:.1f} % · memory {human_size(memory)}"
                             if names else "")
        heaviest = sorted(rows, key=lambda row: row["CPU"], reverse=True)[: len(SERIES_COLORS)]
        histories = {row["Id"]: self.stats.history(row["Id"]) for row in heaviest}
        self.cpu_graph.set_series([(row["Name"], QColor(color), [s.cpu_percent for _, s in histories[row["Id"]]])
                                   for row, color in zip(heaviest, SERIES_COLORS, strict=False)])
        self.memory_graph.set_series([(row["Name"], QColor(color), [float(s.memory) for _, s in histories[row["Id"]]])
                                      for row, color in zip(heaviest, SERIES_COLORS, strict=False)])
        self.cpu_graph.setVisible(bool(rows))
        self.memory_graph.setVisible(bool(rows))
