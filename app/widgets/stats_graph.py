"""`StatsGraph`: a small line graph of recent values, drawn with QPainter (no chart library).

Two ways to feed it: `set_series` (values evenly spaced, the newest at the right) or `set_timed`
(points placed by their time on a fixed span, with events marked as labelled vertical lines on the
time axis: start, exit with its code, OOM, restart, health and the detectors' alerts).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

# Marks by kind: red for trouble, green for a start, blue for the rest; each also carries words.
MARK_COLORS = {"start": "#1a7f37", "die": "#cf222e", "oom": "#cf222e", "alert": "#cf222e", "restart": "#2f6fde",
               "health": "#b35900"}


@dataclass(frozen=True, slots=True)
class Mark:
    t: float
    label: str
    kind: str


class StatsGraph(QWidget):
    def __init__(self, title: str, formatter: Callable[[float], str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.formatter = formatter
        self.series: list[tuple[str, QColor, Sequence[float]]] = []
        self.times: list[Sequence[float]] = []  # per series, when fed by time
        self.span: tuple[float, float] | None = None
        self.marks: list[Mark] = []
        self.limit: float | None = None
        self.setMinimumHeight(110)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName(f"{title} graph")

    def set_series(self, series: list[tuple[str, QColor, Sequence[float]]], limit: float | None = None) -> None:
        self.series = series
        self.times, self.span, self.marks = [], None, []
        self.limit = limit
        self._described()
        self.update()

    def set_timed(self, series: Sequence[tuple[str, QColor, Sequence[tuple[float, float]]]], start: float, end: float,
                  limit: float | None = None, marks: Sequence[Mark] = ()) -> None:
        """Series of (time, value) on the span [start, end], and events marked at their times."""
        self.series = [(name, color, [v for _, v in points]) for name, color, points in series]
        self.times = [[t for t, _ in points] for _, _, points in series]
        self.span = (start, end)
        self.marks = [m for m in marks if start <= m.t <= end]
        self.limit = limit
        self._described()
        self.update()

    def caption(self) -> str:
        parts = [f"{name} {self.formatter(values[-1])}" for name, _, values in self.series if values]
        if self.limit:
            parts.append(f"limit {self.formatter(self.limit)}")
        return f"{self.title}: " + (" · ".join(parts) if parts else "no data yet")

    def _described(self) -> None:
        """What a screen reader says: the latest values and the marked events."""
        marks = "; ".join(f"{time.strftime('%H:%M:%S', time.localtime(m.t))} {m.label}" for m in self.marks[-10:])
        self.setAccessibleDescription(self.caption() + (f". Events: {marks}" if marks else ""))

    def x_of(self, t: float, area: QRectF) -> float:
        assert self.span is not None
        start, end = self.span
        return area.left() + area.width() * (t - start) / max(end - start, 1e-9)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        painter.drawText(QRectF(6, 2, self.width() - 12, 18), Qt.AlignmentFlag.AlignLeft, self.caption())
        area = QRectF(6, 22, self.width() - 12, self.height() - 28)
        grid = palette.color(QPalette.ColorRole.PlaceholderText)
        grid.setAlpha(60)
        painter.setPen(QPen(grid, 1))
        painter.drawRect(area)
        peak = max([max(values, default=0.0) for _, _, values in self.series] + [self.limit or 0.0, 1e-9])
        top = peak * 1.1
        if self.limit:
            y = area.bottom() - area.height() * (self.limit / top)
            pen = QPen(QColor("#cf222e"), 1, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
        for index, (_, color, values) in enumerate(self.series):
            if len(values) < 2:
                continue
            timed = self.span is not None and index < len(self.times)
            step = area.width() / max(1, len(values) - 1)
            path = QPainterPath()
            previous_t = None
            for i, value in enumerate(values):
                x = self.x_of(self.times[index][i], area) if timed else area.left() + i * step
                point = QPointF(x, area.bottom() - area.height() * (value / top))
                # A gap of over a minute between readings (the container was stopped) is not bridged.
                gap = timed and previous_t is not None and self.times[index][i] - previous_t > 90
                if i == 0 or gap:
                    path.moveTo(point)
                else:
                    path.lineTo(point)
                previous_t = self.times[index][i] if timed else None
            painter.setPen(QPen(color, 1.5))
            painter.drawPath(path)
        if self.span is not None:
            self._paint_marks(painter, area)
        painter.end()

    def _paint_marks(self, painter: QPainter, area: QRectF) -> None:
        font = painter.font()
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.8))
        painter.setFont(font)
        last_label_x = -1e9
        for mark in self.marks:
            x = self.x_of(mark.t, area)
            color = QColor(MARK_COLORS.get(mark.kind, "#2f6fde"))
            painter.setPen(QPen(color, 1, Qt.PenStyle.DotLine))
            painter.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()))
            if x - last_label_x > 60:  # labels never overlap; the line still shows
                painter.setPen(color)
                painter.drawText(QRectF(x + 2, area.top() + 1, 100, 14), Qt.AlignmentFlag.AlignLeft, mark.label)
                last_label_x = x
