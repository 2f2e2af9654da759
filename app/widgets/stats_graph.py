"""`StatsGraph`: a small line graph of recent values, drawn with QPainter (no chart library).

Two ways to feed it: `set_series` (values evenly spaced, the newest at the right) or `set_timed`
(points placed by their time on a fixed span, with events marked as labelled vertical lines on the
time axis: start, exit with its code, OOM, restart, health and the detectors' alerts).

It reads as a chart: a legend of each line's colour, name and latest value; a value axis whose
ticks carry their unit; a time axis of clock times; under the pointer a crosshair and a tooltip of
the time and each line's value there. A click on a mark or a point says when (`pointChosen`), so a
view can show what else happened at that moment (the container's logs).

From the keyboard it is a control of its own: Left/Right move a cursor over the readings (Home/End
the first and last, Page Up/Down a tenth of the span, Ctrl+Left/Right the events), each step said to
a screen reader; Enter or Space does what a click there does; Escape lets the cursor go.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QAccessible,
    QColor,
    QFocusEvent,
    QFontMetricsF,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from app.widgets.accessibility import Painted, ThrottledDescription, announce, value_changed
from app.widgets.log_view import source_color

# Marks by kind: red for trouble, green for a start, blue for the rest; each also carries words.
MARK_COLORS = {"start": "#1a7f37", "die": "#cf222e", "oom": "#cf222e", "alert": "#cf222e", "restart": "#2f6fde",
               "health": "#b35900"}

# A single container's pairs of counters, named so that their colours (by name) differ.
NETWORK_WORDS = ("received", "sent")
BLOCK_WORDS = ("reads", "writes")

# Steps of the time axis, the first that leaves at most MAX_TIME_TICKS ticks on the span.
TIME_STEPS = [10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 86400]
MAX_TIME_TICKS = 6
MARK_REACH = 5.0  # pixels either side of a mark where the pointer is on it
GAP = 90.0  # seconds between readings beyond which a line is broken (the container was stopped)


def name_color(name: str) -> QColor:
    """A line's colour from its name alone, as the logs colour a container's name: the same in
    every view, whatever the order of the lines."""
    return QColor(source_color(name))


def nice_top(peak: float) -> tuple[float, float]:
    """The top of a value axis above `peak` and its tick step: 1, 2, 2.5 or 5 times a power of
    ten, at most five steps (so the ticks read 0, 20, 40, 60 rather than 0, 12.2, 24.5, 36.7)."""
    if peak <= 0:
        return 1.0, 0.5
    raw = peak / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return step * math.ceil(peak / step - 1e-9), step


def time_ticks(start: float, end: float) -> tuple[list[float], str]:
    """Times on the axis, at round clock times (local), and their strftime format."""
    span = max(end - start, 1.0)
    step = next((s for s in TIME_STEPS if span / s <= MAX_TIME_TICKS), 7 * 86400 if span > 30 * 86400 else 86400)
    offset = time.localtime(start).tm_gmtoff  # round in local time: ticks at 15:00, not at UTC's hour
    first = math.ceil((start + offset) / step) * step - offset
    ticks: list[float] = []
    t = float(first)
    while t <= end:
        ticks.append(t)
        t += step
    fmt = "%H:%M:%S" if step < 60 else "%H:%M" if step < 86400 else "%a %d %b"
    return ticks, fmt


@dataclass(frozen=True, slots=True)
class Mark:
    t: float
    label: str
    kind: str


def span_words(start: float, end: float) -> str:
    """A span as a person says it: "the last 5 minutes, 14:00 to 14:05"."""
    seconds = end - start
    amount = (f"{seconds / 86400:g} days" if seconds >= 2 * 86400 else f"{seconds / 3600:g} hours"
              if seconds >= 2 * 3600 else f"{seconds / 60:g} minutes" if seconds >= 120 else f"{seconds:g} seconds")
    fmt = "%a %H:%M" if seconds >= 86400 else "%H:%M"
    return (f"{amount}, {time.strftime(fmt, time.localtime(start))} to "
            f"{time.strftime(fmt, time.localtime(end))}")


class StatsGraph(QWidget, Painted):
    pointChosen = Signal(float)  # Unix seconds of the mark or point clicked (graphs fed by time)

    def __init__(self, title: str, formatter: Callable[[float], str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.formatter = formatter
        self.series: list[tuple[str, QColor, Sequence[float]]] = []
        self.times: list[Sequence[float]] = []  # per series, when fed by time
        self.span: tuple[float, float] | None = None
        self.marks: list[Mark] = []
        self.limit: float | None = None
        self.top: float | None = None  # a fixed top of the value axis (memory: its limit or peak)
        self.axis_note = ""  # what the value axis is drawn against, said after the title
        self.moment: float | None = None  # a time to point out (a detector's finding opened here)
        self.hover: float | None = None  # the time under the pointer
        self.click_hint = ""  # what a click does, said last in the hover's tooltip
        self.setMinimumHeight(130)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setAccessibleName(f"{title} graph")
        # A graph is a control: Tab reaches it, arrows walk its readings (see the module's doc).
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.cursor_t: float | None = None  # the reading under the keyboard cursor
        self._description = ThrottledDescription(self)
        self._described_shape: object = None

    def set_series(self, series: list[tuple[str, QColor, Sequence[float]]], limit: float | None = None) -> None:
        self.series = series
        self.times, self.span, self.marks = [], None, []
        self.limit, self.top, self.axis_note = limit, None, ""
        self._described()
        self.update()

    def set_timed(self, series: Sequence[tuple[str, QColor, Sequence[tuple[float, float]]]], start: float, end: float,
                  limit: float | None = None, marks: Sequence[Mark] = (), top: float | None = None,
                  axis_note: str = "") -> None:
        """Series of (time, value) on the span [start, end], and events marked at their times.
        `top`: the value axis's top (else the lines' peak, rounded); `axis_note`: what it is."""
        self.series = [(name, color, [v for _, v in points]) for name, color, points in series]
        self.times = [[t for t, _ in points] for _, _, points in series]
        self.span = (start, end)
        self.marks = [m for m in marks if start <= m.t <= end]
        self.limit, self.top, self.axis_note = limit, top, axis_note
        if self.cursor_t is not None and not start <= self.cursor_t <= end:
            self.cursor_t = None  # its reading scrolled out of the span
        self._described()
        self.update()

    def caption(self) -> str:
        parts = [f"{name} {self.formatter(values[-1])}" for name, _, values in self.series if values]
        if self.limit:
            parts.append(f"limit {self.formatter(self.limit)}")
        return f"{self.title}: " + (" · ".join(parts) if parts else "no data yet")

    def _described(self) -> None:
        """What a screen reader says: its lines and their latest values, the span, the axis, the
        marked events and the keys. Latest values change every second: said at most every few
        seconds; a change of lines, span or events at once."""
        marks = "; ".join(f"{time.strftime('%H:%M:%S', time.localtime(m.t))} {m.label}" for m in self.marks[-10:])
        note = f" ({self.axis_note})" if self.axis_note else ""
        span = f" Over {span_words(*self.span)}." if self.span is not None else ""
        keys = (" Left and Right arrows move over the readings, Ctrl+arrows over the events"
                + (f", Enter: {self.click_hint.removeprefix('Click: ')}" if self.click_hint else "") + "."
                if self.span is not None else "")
        text = self.caption() + note + "." + span + (f" Events: {marks}." if marks else "") + keys
        shape = ([name for name, _, _ in self.series], round(self.span[1] - self.span[0]) if self.span else None,
                 self.marks, self.axis_note, self.click_hint)
        self._description.set(text, now=shape != self._described_shape)
        self._described_shape = shape

    # -- keyboard --------------------------------------------------------------------------------

    def reading_times(self) -> list[float]:
        """Every time a line has a reading at, in order: the stops of the keyboard cursor."""
        return sorted({t for times in self.times for t in times})

    def keyPressEvent(self, event: QKeyEvent) -> None:
        times = self.reading_times()
        key = event.key()
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if self.span is None or not times:
            super().keyPressEvent(event)
            return
        current = self.cursor_t
        i = bisect.bisect_left(times, current) if current is not None else None
        if key in (Qt.Key.Key_Left, Qt.Key.Key_Right) and ctrl:
            target = self._next_mark(current, +1 if key == Qt.Key.Key_Right else -1)
            if target is None:
                announce(self, "no more events " + ("after" if key == Qt.Key.Key_Right else "before") + " this")
                return
            self.move_cursor(target)
        elif key == Qt.Key.Key_Left:
            self.move_cursor(times[-1] if i is None else times[max(0, i - 1)])
        elif key == Qt.Key.Key_Right:
            self.move_cursor(times[-1] if i is None else times[min(len(times) - 1, i + (
                1 if i < len(times) and times[i] == current else 0))])
        elif key == Qt.Key.Key_Home:
            self.move_cursor(times[0])
        elif key == Qt.Key.Key_End:
            self.move_cursor(times[-1])
        elif key in (Qt.Key.Key_PageUp, Qt.Key.Key_PageDown):
            step = (self.span[1] - self.span[0]) / 10 * (1 if key == Qt.Key.Key_PageDown else -1)
            base = current if current is not None else times[-1]
            self.move_cursor(times[min(len(times) - 1, max(0, bisect.bisect_left(times, base + step)))])
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space) and current is not None:
            self.pointChosen.emit(current)
        elif key == Qt.Key.Key_Escape and current is not None:
            self.cursor_t = None
            self.update()
        else:
            super().keyPressEvent(event)

    def _next_mark(self, current: float | None, direction: int) -> float | None:
        marks = sorted(m.t for m in self.marks)
        if current is None:
            return marks[-1] if marks else None
        after = [t for t in marks if (t > current + 1e-6 if direction > 0 else t < current - 1e-6)]
        return (after[0] if direction > 0 else after[-1]) if after else None

    def move_cursor(self, t: float) -> None:
        """Put the keyboard cursor at `t` and say what is there."""
        self.cursor_t = t
        self.update()
        announce(self, self.cursor_words())
        value_changed(self)

    def cursor_words(self) -> str:
        """The cursor's time, each line's value and the events there, as one sentence."""
        if self.cursor_t is None:
            return ""
        return ", ".join(line for line in self.hover_text(self.cursor_t, hint=False).split("\n") if line)

    def accessible_role(self) -> QAccessible.Role:
        return QAccessible.Role.Chart

    def accessible_value(self) -> str:
        return self.cursor_words() or self.caption()

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        self.update()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        self.update()

    # -- geometry --------------------------------------------------------------------------------

    def scale(self) -> tuple[float, float]:
        """The value axis's top and tick step."""
        if self.top:
            return self.top, self.top / 4
        peak = max([max(values, default=0.0) for _, _, values in self.series] + [self.limit or 0.0])
        return nice_top(peak)

    def value_labels(self) -> list[tuple[float, str]]:
        """The value axis's ticks and their words, with the unit (0.0 %, 250MB, 1.5kB/s)."""
        top, step = self.scale()
        return [(step * i, self.formatter(step * i)) for i in range(round(top / step) + 1)]

    def time_labels(self) -> list[tuple[float, str]]:
        """The time axis's ticks at round clock times and their words (15:05, Mon 01 Dec)."""
        if self.span is None:
            return []
        ticks, fmt = time_ticks(*self.span)
        return [(t, time.strftime(fmt, time.localtime(t))) for t in ticks]

    def plot_area(self) -> QRectF:
        """Where the lines go: right of the value axis's labels, above the time axis's."""
        metrics = QFontMetricsF(self.font())
        left = max(metrics.horizontalAdvance(label) for _, label in self.value_labels()) + 10
        header = metrics.height() * 1.5 + 4  # the legend, and room for half the top tick's label
        footer = metrics.height() + 4 if self.span is not None else 4
        return QRectF(left, header, max(10.0, self.width() - left - 8), max(10.0, self.height() - header - footer))

    def x_of(self, t: float, area: QRectF) -> float:
        assert self.span is not None
        start, end = self.span
        return area.left() + area.width() * (t - start) / max(end - start, 1e-9)

    def t_of(self, x: float, area: QRectF) -> float:
        assert self.span is not None
        start, end = self.span
        return start + (end - start) * min(1.0, max(0.0, (x - area.left()) / max(area.width(), 1e-9)))

    def value_at(self, index: int, t: float) -> float | None:
        """Series `index`'s reading nearest `t`, None when none is within a gap of it."""
        times = self.times[index] if index < len(self.times) else []
        if not times:
            return None
        i = bisect.bisect_left(times, t)
        nearest = min((j for j in (i - 1, i) if 0 <= j < len(times)), key=lambda j: abs(times[j] - t))
        return self.series[index][2][nearest] if abs(times[nearest] - t) <= GAP else None

    def hover_text(self, t: float, hint: bool = True) -> str:
        """What the tooltip says at time `t`: the clock time, each line's value, marks there."""
        lines = [time.strftime("%H:%M:%S", time.localtime(t))]
        for index, (name, _, _) in enumerate(self.series):
            value = self.value_at(index, t)
            if value is not None:
                lines.append(f"{name}: {self.formatter(value)}")
        area = self.plot_area()
        lines += [mark.label for mark in self.marks if abs(self.x_of(mark.t, area) - self.x_of(t, area)) <= MARK_REACH]
        if self.click_hint and hint:
            lines.append(self.click_hint)
        return "\n".join(lines)

    def mark_at(self, x: float) -> Mark | None:
        area = self.plot_area()
        near = [m for m in self.marks if abs(self.x_of(m.t, area) - x) <= MARK_REACH]
        return min(near, key=lambda m: abs(self.x_of(m.t, area) - x)) if near else None

    # -- pointer ---------------------------------------------------------------------------------

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        area = self.plot_area()
        position = event.position()
        if self.span is None or not area.adjusted(-MARK_REACH, 0, MARK_REACH, 0).contains(position):
            self._leave()
            return
        mark = self.mark_at(position.x())
        self.hover = mark.t if mark is not None else self.t_of(position.x(), area)
        QToolTip.showText(event.globalPosition().toPoint(), self.hover_text(self.hover), self)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.update()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and self.hover is not None:
            return True  # the hover's own tooltip stays (a widget tooltip would replace it)
        return super().event(event)

    def leaveEvent(self, event: QEvent) -> None:
        self._leave()
        super().leaveEvent(event)

    def _leave(self) -> None:
        if self.hover is not None:
            self.hover = None
            QToolTip.hideText()
            self.unsetCursor()
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        area = self.plot_area()
        position = event.position()
        if (event.button() != Qt.MouseButton.LeftButton or self.span is None
                or not area.adjusted(-MARK_REACH, 0, MARK_REACH, 0).contains(position)):
            super().mouseReleaseEvent(event)
            return
        mark = self.mark_at(position.x())
        self.pointChosen.emit(mark.t if mark is not None else self.t_of(position.x(), area))

    # -- painting --------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.Text)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        area = self.plot_area()
        self._paint_legend(painter, text, muted)
        top = self._paint_value_axis(painter, area, muted)
        if self.span is not None:
            self._paint_time_axis(painter, area, muted)
        if self.limit and self.limit <= top:
            y = area.bottom() - area.height() * (self.limit / top)
            painter.setPen(QPen(QColor("#cf222e"), 1, Qt.PenStyle.DashLine))
            painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            # The dashed red line is named on the graph, not left to its colour.
            words = f"limit {self.formatter(self.limit)}"
            width = QFontMetricsF(painter.font()).horizontalAdvance(words) + 4
            painter.drawText(QRectF(area.right() - width - 2, y + 1, width, 16), Qt.AlignmentFlag.AlignRight, words)
        painter.save()
        painter.setClipRect(area.adjusted(-1, -1, 1, 1))
        for index, (_, color, values) in enumerate(self.series):
            self._paint_line(painter, area, top, index, color, values)
        painter.restore()
        if self.span is not None:
            self._paint_marks(painter, area)
            for when, color in ((self.moment, QColor("#cf222e")), (self.hover, text), (self.cursor_t, text)):
                if when is not None and self.span[0] <= when <= self.span[1]:
                    x = self.x_of(when, area)
                    painter.setPen(QPen(color, 2 if when == self.cursor_t else 1))
                    painter.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()))
            if self.moment is not None and self.span[0] <= self.moment <= self.span[1]:
                # The finding's moment is said in words too, not by its red line alone.
                painter.setPen(QColor("#cf222e"))
                painter.drawText(QRectF(self.x_of(self.moment, area) + 3, area.bottom() - 16, 90, 14),
                                 Qt.AlignmentFlag.AlignLeft, "this moment")
            if self.cursor_t is not None and self.span[0] <= self.cursor_t <= self.span[1]:
                self._paint_cursor_values(painter, area, text)
        if self.hasFocus():  # where the arrows act is seen (some styles draw no focus rectangle)
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Highlight), 2))
            painter.drawRect(QRectF(self.rect()).adjusted(1, 1, -1, -1))
        painter.end()

    def _paint_cursor_values(self, painter: QPainter, area: QRectF, text: QColor) -> None:
        """Under the keyboard cursor, what the pointer's tooltip says, in a box beside the line."""
        assert self.cursor_t is not None
        words = self.hover_text(self.cursor_t, hint=False).split("\n")
        metrics = QFontMetricsF(painter.font())
        width = max(metrics.horizontalAdvance(w) for w in words) + 8
        height = metrics.height() * len(words) + 4
        x = self.x_of(self.cursor_t, area) + 6
        if x + width > area.right():
            x = self.x_of(self.cursor_t, area) - 6 - width
        box = QRectF(max(area.left(), x), area.top() + 4, width, height)
        painter.fillRect(box, self.palette().color(QPalette.ColorRole.ToolTipBase))
        painter.setPen(self.palette().color(QPalette.ColorRole.ToolTipText))
        painter.drawText(box.adjusted(4, 2, -4, -2), Qt.AlignmentFlag.AlignLeft, "\n".join(words))
        painter.setPen(text)

    def _paint_legend(self, painter: QPainter, text: QColor, muted: QColor) -> None:
        """The title, then each line as a swatch of its colour, its name and its latest value."""
        metrics = QFontMetricsF(painter.font())
        x, y, height = 6.0, 2.0, metrics.height()
        title = self.title + (f" ({self.axis_note})" if self.axis_note else "")
        painter.setPen(text)
        painter.drawText(QRectF(x, y, metrics.horizontalAdvance(title) + 2, height), Qt.AlignmentFlag.AlignLeft, title)
        x += metrics.horizontalAdvance(title) + 12
        entries = [(name, color, self.formatter(values[-1])) for name, color, values in self.series if values]
        if not entries:
            painter.setPen(muted)
            painter.drawText(QRectF(x, y, self.width() - x, height), Qt.AlignmentFlag.AlignLeft, "no data yet")
        for name, color, value in entries:
            words = f"{name} {value}"
            if x + 14 + metrics.horizontalAdvance(words) > self.width():
                break  # the rest is in the tooltip and the accessible description
            painter.fillRect(QRectF(x, y + height / 2 - 4, 10, 8), color)
            painter.setPen(text)
            painter.drawText(QRectF(x + 14, y, metrics.horizontalAdvance(words) + 2, height),
                             Qt.AlignmentFlag.AlignLeft, words)
            x += 14 + metrics.horizontalAdvance(words) + 12

    def _paint_value_axis(self, painter: QPainter, area: QRectF, muted: QColor) -> float:
        top, _ = self.scale()
        grid = QColor(muted)
        grid.setAlpha(50)
        metrics = QFontMetricsF(painter.font())
        for value, label in self.value_labels():
            y = area.bottom() - area.height() * (value / top)
            painter.setPen(QPen(grid, 1))
            painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            painter.setPen(muted)
            painter.drawText(QRectF(0, y - metrics.height() / 2, area.left() - 4, metrics.height()),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label)
        painter.setPen(QPen(grid, 1))
        painter.drawRect(area)
        return top

    def _paint_time_axis(self, painter: QPainter, area: QRectF, muted: QColor) -> None:
        metrics = QFontMetricsF(painter.font())
        last_right = -1e9
        for t, label in self.time_labels():
            x = self.x_of(t, area)
            painter.setPen(QPen(muted, 1))
            painter.drawLine(QPointF(x, area.bottom()), QPointF(x, area.bottom() + 3))
            width = metrics.horizontalAdvance(label)
            left = min(max(x - width / 2, area.left()), self.width() - width - 2)
            if left > last_right + 6:  # labels never overlap
                painter.setPen(muted)
                painter.drawText(QRectF(left, area.bottom() + 2, width + 2, metrics.height()),
                                 Qt.AlignmentFlag.AlignLeft, label)
                last_right = left + width

    def _paint_line(self, painter: QPainter, area: QRectF, top: float, index: int, color: QColor,
                    values: Sequence[float]) -> None:
        if len(values) < 2:
            return
        timed = self.span is not None and index < len(self.times)
        step = area.width() / max(1, len(values) - 1)
        path = QPainterPath()
        previous_t = None
        for i, value in enumerate(values):
            x = self.x_of(self.times[index][i], area) if timed else area.left() + i * step
            point = QPointF(x, area.bottom() - area.height() * min(value / top, 1.05))
            # A gap of over a minute between readings (the container was stopped) is not bridged.
            gap = timed and previous_t is not None and self.times[index][i] - previous_t > GAP
            if i == 0 or gap:
                path.moveTo(point)
            else:
                path.lineTo(point)
            previous_t = self.times[index][i] if timed else None
        painter.setPen(QPen(color, 1.5))
        painter.drawPath(path)

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
