"""Stats: every running container at once, the heaviest first, with CPU, memory, network and block
I/O over a chosen range (5 minutes to 7 days, from the stats reader's history on disk), the
container's events marked on the time axis, totals per compose project, and export as CSV or JSON.

A container can be chosen even after it exited: its history stays for a week.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import QComboBox, QGridLayout, QHeaderView, QLabel, QPushButton, QWidget

from app.display import human_size
from app.models.detectors import UNHEALTHY, Detection
from app.models.metrics_events import ContainerEvent
from app.models.metrics_history import (
    RANGES,
    MetricPoint,
    Series,
    export_csv,
    export_json,
    memory_scale,
    own_memory_limit,
    project_totals,
    range_label,
    rates,
)
from app.models.resources import KEY_ROLE, ResourceModel
from app.models.stats import overview_row
from app.services.stats import StatsService
from app.widgets.accessibility import tab_chain
from app.widgets.chrome import ask_for_file
from app.widgets.resource_pages import ResourcePage
from app.widgets.stats_graph import BLOCK_WORDS, NETWORK_WORDS, Mark, StatsGraph, name_color

HEAVIEST_LINES = 5  # lines drawn for the heaviest running containers
CPU_COLUMN = 1
MAX_POINTS = 600  # points drawn per line: about one per two pixels of a wide graph
HEAVIEST = ""  # the container picker's first choice: the heaviest running containers


class Notifier(Protocol):
    def notify(self, title: str, message: str, key: str = "", action: Callable[[], None] | None = None) -> None: ...


def local_memory() -> int:
    """This machine's memory in bytes (0 where the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return 0


def _redraw_every(seconds: int) -> float:
    """Seconds between redraws of a range: a week's graph changes once a minute, not each second."""
    return 0.0 if seconds <= 300 else 5.0 if seconds <= 3600 else 60.0


class StatsPage(ResourcePage):
    containerChosen = Signal(str)  # a row was opened: show that container's own Stats tab
    momentChosen = Signal(str, float)  # a container and a moment to show it at (a graph clicked, a finding)

    def __init__(self, model: ResourceModel, stats: StatsService, parent: QWidget | None = None) -> None:
        super().__init__("stats", model, "No container is running. Start one from the Containers or Images page "
                         "and its CPU, memory, network and disk use show here, the heaviest first. Containers "
                         "that ran before keep their history: pick one above.", parent)
        self.stats = stats
        self.range_box = QComboBox(self)
        self.range_box.setObjectName("stats-range")
        self.range_box.setAccessibleName("Time range")
        self.range_box.setToolTip("How far back the graphs go: up to an hour by the second, beyond by the minute")
        for label, seconds in RANGES:
            self.range_box.addItem(label, seconds)
        self.range_box.currentIndexChanged.connect(lambda *_: self.redraw(totals=True))
        self.container_box = QComboBox(self)
        self.container_box.setObjectName("stats-container")
        self.container_box.setAccessibleName("Container")
        self.container_box.setToolTip("The heaviest running containers, or one container (running or not)")
        self.container_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.container_box.currentIndexChanged.connect(lambda *_: self.redraw(totals=True))
        self.buttons.addWidget(QLabel("Range", self))
        self.buttons.addWidget(self.range_box)
        self.buttons.addWidget(self.container_box)
        self.export_csv_button = self._export_button("Export CSV…", "csv")
        self.export_json_button = self._export_button("Export JSON…", "json")
        # Tab as the toolbar reads: the range and the container first, the filter at its right end.
        tab_chain([self.range_box, self.container_box, self.export_csv_button, self.export_json_button, self.search])

        self.summary = QLabel(self)
        self.summary.setObjectName("stats-summary")
        self.cpu_graph = StatsGraph("CPU", lambda v: f"{v:.1f} %", self)
        self.memory_graph = StatsGraph("Memory", lambda v: human_size(v), self)
        self.network_graph = StatsGraph("Network", lambda v: f"{human_size(v)}/s", self)
        self.block_graph = StatsGraph("Block I/O", lambda v: f"{human_size(v)}/s", self)
        self.graphs = (self.cpu_graph, self.memory_graph, self.network_graph, self.block_graph)
        for graph in self.graphs:
            graph.pointChosen.connect(self._on_point_chosen)
        # Engines report the host's memory as the limit of a container without one: a local
        # engine's host is this machine (a remote one's is learnt from its other containers).
        engine = str(getattr(stats, "engine", ""))
        self._local_memory = local_memory() if engine.startswith("unix:") else 0
        grid = QGridLayout()
        for i, graph in enumerate(self.graphs):
            grid.addWidget(graph, i // 2, i % 2)
        self.projects = QLabel(self)
        self.projects.setObjectName("stats-projects")
        self.projects.setAccessibleName("Totals per compose project")
        self.projects.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.forms.addWidget(self.summary)
        self.forms.addLayout(grid)
        self.forms.addWidget(self.projects)

        self.table.sortByColumn(CPU_COLUMN, Qt.SortOrder.DescendingOrder)
        header = self.table.horizontalHeader()
        for column in range(1, model.columnCount()):  # figures keep their width; the name takes the rest
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        self.table.doubleClicked.connect(lambda index: self.containerChosen.emit(str(index.data(KEY_ROLE))))
        self.table.activated.connect(lambda index: self.containerChosen.emit(str(index.data(KEY_ROLE))))
        self._names: Mapping[str, str] = {}
        self._known: list[tuple[str, str]] = []
        self._drawn = 0.0
        self._totalled = 0.0
        self.exported = ""  # the last file written, said on the page
        detected = getattr(stats, "detected", None)
        if detected is not None:
            detected.connect(self._on_detected)
            stats.eventRecorded.connect(self._on_event)
        self.show_running({})

    def _export_button(self, text: str, fmt: str) -> QPushButton:
        button = self.button(text, f"Save the graphs' history over the range as {fmt.upper()}",
                             f"stats-export-{fmt}")
        button.clicked.connect(lambda: ask_for_file(
            self, f"Export stats as {fmt.upper()}", lambda path: self.export(path, fmt), save=True,
            suggested=f"berth-stats.{fmt}", filters=[f"{fmt.upper()} (*.{fmt})"], suffix=fmt))
        return button

    # -- choices ---------------------------------------------------------------------------------

    @property
    def range_seconds(self) -> int:
        return int(self.range_box.currentData() or RANGES[0][1])

    def set_range(self, seconds: int) -> None:
        self.range_box.setCurrentIndex(max(0, self.range_box.findData(seconds)))

    @property
    def chosen(self) -> str:
        return str(self.container_box.currentData() or HEAVIEST)

    def choose(self, id: str) -> bool:
        self._update_known()
        index = self.container_box.findData(id)
        if index >= 0:
            self.container_box.setCurrentIndex(index)
        return index >= 0

    def _update_known(self) -> None:
        """The picker lists the heaviest running, then every container with history, exited ones said."""
        known = [(c.id, c.name or c.id[:12]) for c in self.stats.known()] if hasattr(self.stats, "known") else []
        known += [(id, name) for id, name in self._names.items() if id not in {k for k, _ in known}]
        labelled = [(id, name if id in self._names else f"{name} (exited)") for id, name in known]
        if labelled == self._known:
            return
        self._known = labelled
        current = self.chosen
        self.container_box.blockSignals(True)
        self.container_box.clear()
        self.container_box.addItem("Heaviest running", HEAVIEST)
        for id, label in labelled:
            self.container_box.addItem(label, id)
        self.container_box.setCurrentIndex(max(0, self.container_box.findData(current)))
        self.container_box.blockSignals(False)

    # -- updates ---------------------------------------------------------------------------------

    def show_running(self, names: Mapping[str, str]) -> None:
        """The running containers changed: `names` maps each one's id to its name."""
        self._names = names
        self._update_known()
        self.refresh()
        self.redraw()

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
        # Graphs of a page out of view are drawn when it is shown again (showEvent), not each second.
        if self.isVisible() and time.time() - self._drawn >= _redraw_every(self.range_seconds):
            self.redraw()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.redraw()

    def redraw(self, totals: bool = False) -> None:
        """Draw the graphs for the chosen container or the heaviest running ones over the range;
        `totals`: the project totals too, now."""
        now = time.time()
        if totals:
            self._totalled = 0.0
        self._drawn = now
        start = now - self.range_seconds
        if self.chosen:
            shown = [self.chosen]
        else:
            heaviest = sorted(self._names, key=lambda id: -(s.cpu_percent if (s := self.stats.latest(id)) else 0))
            shown = heaviest[:HEAVIEST_LINES]
        series = self._histories(shown, start, now)
        marks = self._marks(shown, start, now, named=len(shown) > 1)
        lines = [(one, name_color(one.name)) for one in series if one.points]
        single = len(shown) == 1
        self.cpu_graph.set_timed([(one.name, color, [(p.t, p.cpu) for p in one.points]) for one, color in lines],
                                 start, now, marks=marks)
        reported = next((p.memory_limit for one, _ in lines[:1] for p in one.points[-1:]), 0) if single else 0
        limit = own_memory_limit(reported, host_memory=self._host_memory())
        scale = memory_scale((float(p.memory) for one, _ in lines for p in one.points), limit)
        self.memory_graph.set_timed([(one.name, color, [(p.t, float(p.memory)) for p in one.points])
                                     for one, color in lines], start, now, float(limit) or None, marks,
                                    top=scale.top if scale.against_limit else None,
                                    axis_note=scale.note(human_size))
        self.network_graph.set_timed(self._rate_lines(lines, single, NETWORK_WORDS, lambda p: (p.net_rx, p.net_tx)),
                                     start, now, marks=marks)
        self.block_graph.set_timed(
            self._rate_lines(lines, single, BLOCK_WORDS, lambda p: (p.block_read, p.block_write)),
            start, now, marks=marks)
        for graph in self.graphs:
            graph.setVisible(bool(lines))
            graph.click_hint = "Click: its detail at this moment" if self.chosen else ""
        self._show_projects(start, now)

    def _host_memory(self) -> int:
        """The host's memory as far as known: this machine's for a local engine, and the largest
        limit reported for any running container (what an unlimited one reports)."""
        reported = [s.memory_limit for id in self._names if (s := self.stats.latest(id)) is not None]
        return max([self._local_memory, *reported])

    def _histories(self, ids: Sequence[str], start: float, end: float) -> list[Series]:
        if hasattr(self.stats, "series"):
            return [Series(id, self._name(id), "", self.stats.series(id, start, end, MAX_POINTS)) for id in ids]
        # A stats reader without history (tests' stand-ins): the readings it holds in memory.
        return [Series(id, self._name(id), "", [MetricPoint(t, s.cpu_percent, s.memory, s.memory_limit, s.net_rx,
                                                            s.net_tx, s.block_read, s.block_write, s.pids)
                                                for t, s in self.stats.history(id)]) for id in ids]

    def _name(self, id: str) -> str:
        return self._names.get(id) or next((name.removesuffix(" (exited)") for k, name in self._known if k == id),
                                           id[:12])

    def _marks(self, ids: Sequence[str], start: float, end: float, named: bool) -> list[Mark]:
        if not hasattr(self.stats, "events"):
            return []
        marks = []
        for id in ids:
            for event in self.stats.events(id, start, end):
                label = event.label()
                marks.append(Mark(event.t, f"{self._name(id)}: {label}" if named else label, event.kind))
        return sorted(marks, key=lambda m: m.t)

    @staticmethod
    def _rate_lines(lines: list[tuple[Series, QColor]], single: bool, words: tuple[str, str],
                    counters: Any) -> list[tuple[str, QColor, list[tuple[float, float]]]]:
        """Rates of a pair of counters: both (in and out) for one container, their sum per container."""
        out: list[tuple[str, QColor, list[tuple[float, float]]]] = []
        for one, color in lines:
            times = [p.t for p in one.points]
            first = rates(times, [counters(p)[0] for p in one.points])
            second = rates(times, [counters(p)[1] for p in one.points])
            if single:
                out.append((words[0], name_color(words[0]), list(zip(times[1:], first, strict=True))))
                out.append((words[1], name_color(words[1]), list(zip(times[1:], second, strict=True))))
            else:
                out.append((one.name, color, [(t, a + b) for t, a, b in zip(times[1:], first, second, strict=True)]))
        return out

    def _show_projects(self, start: float, end: float) -> None:
        # Totals read every project member's history: at most every ten seconds (a minute for long ranges).
        if not hasattr(self.stats, "histories") or end - self._totalled < max(10.0, _redraw_every(self.range_seconds)):
            return
        self._totalled = end
        members = [c.id for c in self.stats.known() if c.project]
        totals = project_totals(self.stats.histories(members, start, end)) if members else []
        self.projects.setText("\n".join(
            f"Project {t.project} ({t.containers} containers, {range_label(self.range_seconds)}): "
            f"CPU {t.cpu_average:.1f} % on average · memory peak {human_size(t.memory_peak)} · "
            f"network {human_size(t.net_bytes)} · disk I/O {human_size(t.block_bytes)}" for t in totals))
        self.projects.setVisible(bool(totals))

    # -- export, events, detections ----------------------------------------------------------------

    def export(self, path: str, fmt: str) -> None:
        """Write the history over the range: the chosen container's, else every container's."""
        end = time.time()
        start = end - self.range_seconds
        ids = [self.chosen] if self.chosen else [id for id, _ in self._known]
        series = self.stats.histories(ids, start, end)
        text = export_json(series) if fmt == "json" else export_csv(series)
        try:
            Path(path).write_text(text, encoding="utf-8")
        except OSError as exc:
            self.show_error(f"Could not write {path}: {exc.strerror or exc}")
            return
        self.exported = path
        self.show_info(f"Saved {sum(len(s.points) for s in series)} readings of {len(series)} containers to {path}")

    def _on_event(self, event: ContainerEvent) -> None:
        if event.container == self.chosen or (not self.chosen and event.container in self._names):
            self.redraw()

    def _on_point_chosen(self, when: float) -> None:
        """A graph of one container clicked: that container's detail at that moment."""
        if self.chosen:
            self.momentChosen.emit(self.chosen, when)

    def _on_detected(self, detection: Detection) -> None:
        """Said through the window's notices (and its tray when the window is in the background);
        clicking the notice opens the container at the moment of the finding. A turn to unhealthy is
        only marked: the window's ContainerWatch says that one, once."""
        window = self.window()
        if detection.kind == UNHEALTHY:
            return
        if window is not self and hasattr(window, "notify"):
            notifier: Notifier = window
            notifier.notify(detection.title, detection.message, detection.key,
                            lambda: self.momentChosen.emit(detection.container, detection.t))
