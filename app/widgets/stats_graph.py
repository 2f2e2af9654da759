"""`StatsGraph`: a small line graph of recent values, drawn with QPainter (no chart library)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget


class StatsGraph(QWidget):
    def __init__(self, title: str, formatter: Callable[[float], str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.formatter = formatter
        self.series: list[tuple[str, QColor, Sequence[float]]] = []
        self.limit: float | None = None
        self.setMinimumHeight(110)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_series(self, series: list[tuple[str, QColor, Sequence[float]]], limit: float | None = None) -> None:
        self.series = series
        self.limit = limit
        self.update()

    def caption(self) -> str:
        parts = [f"{name} {self.formatter(values[-1])}" for name, _, values in self.series if values]
        if self.limit:
            parts.append(f"limit {self.formatter(self.limit)}")
        return f"{self.title}: " + (" · ".join(parts) if parts else "no data yet")

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
        for _, color, values in self.series:
            if len(values) < 2:
                continue
            step = area.width() / max(1, len(values) - 1)
            path = QPainterPath()
            for i, value in enumerate(values):
                point = QPointF(area.left() + i * step, area.bottom() - area.height() * (value / top))
                if i == 0:
                    path.moveTo(point)
                else:
                    path.lineTo(point)
            painter.setPen(QPen(color, 1.5))
            painter.drawPath(path)
        painter.end()
