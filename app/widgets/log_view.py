"""`LogView`: draws only the visible lines of a `LogBuffer` (a million lines scroll like ten).

The vertical scroll bar counts lines (or matching lines when filtering), not pixels. Follow mode
keeps the last line in view; scrolling up pauses it and a "n new lines ↓" button brings it back.

From the keyboard: Up/Down move a line cursor (Shift extends the selection) and a screen reader
says each line; Page Up/Down, Home and End scroll; Alt+Down/Alt+Up go to the next/previous event
of the container (the marks); Ctrl+C copies.
"""

from __future__ import annotations

import time
import zlib
from array import array
from bisect import bisect_left

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAccessible,
    QColor,
    QFont,
    QFontDatabase,
    QFontMetricsF,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QResizeEvent,
)
from PySide6.QtWidgets import QAbstractScrollArea, QPushButton, QToolTip, QWidget

from app.models.ansi import parse, strip_ansi
from app.models.logs import MARK, STDERR, TIME_WIDTH, LogBuffer, LogSearch, readable_time
from app.models.structured_logs import DEBUG, ERROR, INFO, LEVEL_NAMES, NONE, WARN, LevelIndex
from app.models.structured_logs import parse as parse_structured
from app.widgets.accessibility import Painted, announce, value_changed

# Colours of merged sources' name prefixes (compose).
SOURCE_COLORS = ["#2f6fde", "#1a7f37", "#bc3fbc", "#b35900", "#11a8cd", "#cf222e", "#6f42c1", "#9a6700"]
_GUTTER = 6
_RULER = 10  # width of the strip of event marks beside the scroll bar
LEVEL_WIDTH = 6  # "error " and its kin
FIELD_WIDTH = 16  # a chosen field's column, its value cut with "…"
LEVEL_COLORS = {ERROR: "#cf222e", WARN: "#9a6700", INFO: "#2f6fde", DEBUG: "#6e7781"}


class RowFilter:
    """The lines shown when filtering by level (and by search, when both): built a slice at a time
    as lines are levelled, so a million lines never stall the view."""

    def __init__(self, buffer: LogBuffer, search: LogSearch, levels: LevelIndex) -> None:
        self.buffer = buffer
        self.search = search
        self.levels = levels
        self.wanted: frozenset[int] | None = None  # None: every level
        self.by_search = False
        self.rows = array("L")
        self._scanned = 0  # position in the source: buffer lines, or the search's matching lines
        self._table = b""

    @property
    def active(self) -> bool:
        return self.wanted is not None

    def reset(self, wanted: frozenset[int] | None, by_search: bool) -> None:
        self.wanted, self.by_search = wanted, by_search
        self.rows = array("L")
        self._scanned = 0
        self._table = bytes(1 if i in (wanted or ()) else 0 for i in range(256))

    @property
    def done(self) -> bool:
        if self.wanted is None:
            return True
        if self.by_search:
            return self._scanned >= len(self.search.matching_lines) and self.search.done
        return self._scanned >= len(self.buffer)

    def step(self, budget: float = 0.004) -> bool:
        """Extend `rows` for about `budget` seconds; True when it has caught up (for now)."""
        if self.wanted is None:
            return True
        deadline = time.perf_counter() + budget
        levels, marks, streams = self.levels.levels, self.buffer.marks, self.buffer.stream
        while time.perf_counter() < deadline:
            if self.by_search:
                source = self.search.matching_lines
                end = min(len(source), self._scanned + 2048)
                if end <= self._scanned:
                    return self.done
                for line in source[self._scanned:end]:
                    if line >= len(levels):
                        return False  # not levelled yet: the next steps level it
                    if self._table[levels[line]] or streams(line) == MARK:
                        self.rows.append(line)
                    self._scanned += 1
            else:
                end = min(len(levels), self._scanned + 65536)
                if end <= self._scanned:
                    return self.done
                flags = levels[self._scanned:end].translate(self._table)
                first = bisect_left(marks, self._scanned)
                for mark in marks[first:bisect_left(marks, end)]:
                    flags[mark - self._scanned] = 1  # the container's events always show
                position = flags.find(1)
                base = self._scanned
                append = self.rows.append
                while position >= 0:
                    append(base + position)
                    position = flags.find(1, position + 1)
                self._scanned = end
        return self.done


def source_color(name: str) -> str:
    """A service's colour, from its name alone: the same in every view and whatever the order the
    engine lists the containers in (an index into the list changed colours between views)."""
    return SOURCE_COLORS[zlib.crc32(name.encode()) % len(SOURCE_COLORS)]


class MarkRuler(QWidget):
    """The container's events (MARK lines) as ticks over the whole log's height, beside the scroll
    bar; clicking one shows its line. Hover names it."""

    def __init__(self, view: LogView) -> None:
        super().__init__(view)
        self.setObjectName("log-marks")
        self.view = view
        self.setMouseTracking(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAccessibleName("Container events in the log")
        self.setAccessibleDescription("A tick per event (start, exit, restart, health); a click shows its line. "
                                      "From the log itself, Alt+Down and Alt+Up go to the next and previous event.")

    def ticks(self) -> list[tuple[int, int]]:
        """(y, buffer line) of each mark shown (the rows of a filtered log only)."""
        view = self.view
        rows = view.row_count()
        if not rows:
            return []
        height = max(1, self.height() - 4)
        out: list[tuple[int, int]] = []
        for line in view.buffer.marks:
            row = view.row_of_line(line)
            if row is not None:
                out.append((2 + round(row * height / rows), line))
        return out

    def mark_at(self, y: int) -> int | None:
        best: tuple[int, int] | None = None
        for tick, line in self.ticks():
            distance = abs(tick - y)
            if distance <= 4 and (best is None or distance < best[0]):
                best = (distance, line)
        return best[1] if best else None

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        kinds = self.view.buffer.mark_kinds
        for y, line in self.ticks():
            painter.fillRect(QRect(1, y - 1, self.width() - 2, 3), self.view.mark_color_of(kinds.get(line, "")))
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        line = self.mark_at(event.position().toPoint().y())
        if line is not None and event.button() == Qt.MouseButton.LeftButton:
            self.view.show_mark(line)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        line = self.mark_at(event.position().toPoint().y())
        self.setToolTip(self.view.buffer.plain(line, True).strip("─ ") if line is not None else "")


KEYS_DESCRIPTION = ("Up and Down move between lines, Shift with them selects, Ctrl+C copies; Alt+Down and "
                    "Alt+Up go to the next and previous container event; End follows the newest line.")


class LogView(QAbstractScrollArea, Painted):
    followChanged = Signal(bool)
    newLinesChanged = Signal(int)

    def __init__(self, buffer: LogBuffer, search: LogSearch, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("log-view")
        self.buffer = buffer
        self.search = search
        self.show_timestamps = False
        self.wrap = False
        self.filtering = False
        self.levels = LevelIndex(buffer)
        self.row_filter = RowFilter(buffer, search, self.levels)
        self.show_levels = False  # a level column, once the container writes structured lines
        self.field_columns: list[str] = []  # structured fields shown as columns
        self.follow = True
        self.new_lines = 0
        self.current_match: int | None = None  # index into search's match arrays
        self._anchor: int | None = None  # selection: rows (visible indices), inclusive
        self._cursor: int | None = None
        self._adjusting = False
        self._known_rows = 0
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.setFont(font)
        self.viewport().setFont(font)
        self._metrics()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Log")
        self.setAccessibleDescription(KEYS_DESCRIPTION)
        self.viewport().setMouseTracking(True)  # a stderr line's bar says what it is under the pointer
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self.verticalScrollBar().setSingleStep(3)
        self.horizontalScrollBar().setSingleStep(round(self._cw * 4))
        self.jump = QPushButton(self.viewport())
        self.jump.setObjectName("log-jump")
        self.jump.setToolTip("Jump to the newest line and follow again (End)")
        self.jump.setCursor(Qt.CursorShape.PointingHandCursor)
        self.jump.clicked.connect(self.scroll_to_end)
        self.jump.hide()
        self.stderr_color = QColor("#cf222e")
        self.match_color = QColor(255, 214, 0, 150)
        self.current_color = QColor(255, 140, 0, 220)
        self.mark_color = QColor("#8250df")
        self.ruler = MarkRuler(self)
        self.setViewportMargins(0, 0, _RULER, 0)
        # Appends arrive in bursts: lay out and repaint at most once a frame.
        self._pending = QTimer(self)
        self._pending.setSingleShot(True)
        self._pending.setInterval(16)
        self._pending.timeout.connect(self._apply_appended)

    def _metrics(self) -> None:
        # A monospace advance is rarely a whole pixel (7.22 px here): columns are placed at
        # fractional x, as the glyphs are drawn. An integer advance (QFontMetrics) put a highlight
        # 0.22 px further left per column than its characters: half a character by column 16.
        metrics = QFontMetricsF(self.font())
        self._cw = max(1.0, metrics.horizontalAdvance("M"))
        self._lh = max(1, round(metrics.height()))
        self._ascent = metrics.ascent()

    # -- rows ------------------------------------------------------------------------------------

    def _rows(self) -> array | None:  # type: ignore[type-arg]
        """The lines shown, in order, when filtered (by level, search or both); None: every line."""
        if self.row_filter.active:
            return self.row_filter.rows
        if self.filtering and self.search.active:
            return self.search.matching_lines
        return None

    def row_count(self) -> int:
        rows = self._rows()
        return len(self.buffer) if rows is None else len(rows)

    def line_of_row(self, row: int) -> int:
        rows = self._rows()
        return row if rows is None else rows[row]

    def row_of_line(self, line: int) -> int | None:
        rows = self._rows()
        if rows is None:
            return line
        i = bisect_left(rows, line)
        return i if i < len(rows) and rows[i] == line else None

    def row_at_or_after(self, line: int) -> int:
        rows = self._rows()
        return line if rows is None else min(bisect_left(rows, line), max(0, len(rows) - 1))

    def set_level_filter(self, wanted: frozenset[int] | None) -> None:
        """Show only lines of these levels (NONE: plain lines); None: all. Events always show."""
        self.row_filter.reset(wanted, self.filtering and self.search.active)
        self.row_filter.step()
        self.relayout()

    def page_rows(self) -> int:
        return max(1, self.viewport().height() // self._lh)

    def top_row(self) -> int:
        return self.verticalScrollBar().value()

    # -- updates ---------------------------------------------------------------------------------

    def notify_appended(self) -> None:
        """Lines were added to the buffer (or the matching set grew): relayout soon, at most once a frame."""
        if not self._pending.isActive():
            self._pending.start()

    def _apply_appended(self) -> None:
        self.ruler.update()
        rows = self.row_count()
        added = rows - self._known_rows
        self._known_rows = rows
        self._update_ranges()
        if self.follow:
            self._scroll_to(self.verticalScrollBar().maximum())
        elif added > 0:
            self.new_lines += added
            self._show_jump()
        self.viewport().update()

    def relayout(self) -> None:
        """Options changed (filter, wrap, timestamps): recompute ranges, keep following."""
        self._known_rows = self.row_count()
        self.ruler.update()
        self._update_ranges()
        if self.follow:
            self._scroll_to(self.verticalScrollBar().maximum())
        self.viewport().update()

    def reset(self) -> None:
        self._known_rows = 0
        self.new_lines = 0
        self._anchor = self._cursor = None
        self.current_match = None
        self.set_follow(True)
        self.relayout()

    def _update_ranges(self) -> None:
        rows = self.row_count()
        self._adjusting = True
        try:
            bar = self.verticalScrollBar()
            bar.setRange(0, max(0, rows - self.page_rows()))
            bar.setPageStep(self.page_rows())
            hbar = self.horizontalScrollBar()
            if self.wrap:
                hbar.setRange(0, 0)
            else:
                stamp = TIME_WIDTH + 1 if self.show_timestamps and self.buffer.timestamped else 0
                stamp += self.columns_width()
                width = round((self.buffer.max_length + stamp + 2) * self._cw) + _GUTTER
                hbar.setRange(0, max(0, width - self.viewport().width()))
                hbar.setPageStep(self.viewport().width())
        finally:
            self._adjusting = False

    def _scroll_to(self, value: int) -> None:
        self._adjusting = True
        try:
            self.verticalScrollBar().setValue(value)
        finally:
            self._adjusting = False

    def _on_scrolled(self, value: int) -> None:
        if self._adjusting:
            return
        at_end = value >= self.verticalScrollBar().maximum()
        if at_end and not self.follow:
            self.set_follow(True)
        elif not at_end and self.follow:
            self.set_follow(False)

    def set_follow(self, follow: bool) -> None:
        if follow:
            self.new_lines = 0
            self.jump.hide()
        if follow != self.follow:
            self.follow = follow
            self.followChanged.emit(follow)
        if follow:
            self._scroll_to(self.verticalScrollBar().maximum())
            self.newLinesChanged.emit(0)

    def scroll_to_end(self) -> None:
        self._update_ranges()
        self.set_follow(True)
        self.viewport().update()

    def _show_jump(self) -> None:
        self.jump.setText(f"{self.new_lines:,} new line{'s' if self.new_lines != 1 else ''} ↓")
        self.jump.adjustSize()
        self._place_jump()
        self.jump.show()
        self.newLinesChanged.emit(self.new_lines)

    def _place_jump(self) -> None:
        size = self.jump.sizeHint()
        self.jump.resize(size)
        self.jump.move(self.viewport().width() - size.width() - 12, self.viewport().height() - size.height() - 8)

    def scroll_to_line(self, line: int) -> None:
        """Bring a buffer line into view (about a third from the top); pauses follow."""
        row = self.row_of_line(line)
        if row is None:
            return
        self._update_ranges()
        target = max(0, min(row - self.page_rows() // 3, self.verticalScrollBar().maximum()))
        if self.follow and target < self.verticalScrollBar().maximum():
            self.set_follow(False)
        self._scroll_to(target)
        self.viewport().update()

    def mark_color_of(self, kind: str) -> QColor:
        """An event's colour: exits and OOM kills red, health amber, starts green, the rest violet."""
        if kind in ("die", "oom"):
            return self.stderr_color
        if kind == "health":
            return QColor("#9a6700")
        if kind in ("start", "restart"):
            return QColor("#1a7f37")
        return self.mark_color

    def show_mark(self, line: int) -> None:
        """An event mark was clicked: its line in view and selected."""
        row = self.row_of_line(line)
        if row is None:
            return
        self.set_follow(False)
        self.scroll_to_line(line)
        self.select_rows(row, row)

    def scroll_to_time(self, ns: int) -> int | None:
        """Bring the first line written at or after `ns` into view and select it; its line, or None
        when the log is empty."""
        if not len(self.buffer):
            return None
        line = min(self.buffer.first_line_at(ns), len(self.buffer) - 1)
        row = self.row_of_line(line)
        if row is None:  # filtered out: the next shown line after it
            if not self.row_count():
                return None
            row = self.row_at_or_after(line)
            line = self.line_of_row(row)
        self.set_follow(False)
        self.scroll_to_line(line)
        self.select_rows(row, row)
        return line

    # -- selection and copy ----------------------------------------------------------------------

    def selected_rows(self) -> range:
        if self._anchor is None or self._cursor is None:
            return range(0)
        low, high = sorted((self._anchor, self._cursor))
        return range(low, min(high, self.row_count() - 1) + 1)

    def select_rows(self, first: int, last: int) -> None:
        self._anchor, self._cursor = first, last
        self.viewport().update()

    def selected_text(self) -> str:
        return "\n".join(self.buffer.plain(self.line_of_row(r), self.show_timestamps) for r in self.selected_rows())

    def copy(self) -> None:
        rows = self.selected_rows()
        if not rows:
            # Nothing selected: copy what is on screen, as people expect from Ctrl+C in a viewer.
            top = self.top_row()
            rows = range(top, min(self.row_count(), top + self.page_rows()))
            text = "\n".join(self.buffer.plain(self.line_of_row(r), self.show_timestamps) for r in rows)
        else:
            text = self.selected_text()
        QGuiApplication.clipboard().setText(text)

    def _row_at(self, pos: QPoint) -> int | None:
        # In wrap mode a line may take several visual rows: walk the painted layout.
        y = pos.y()
        for row, rect in self._layout():
            if rect.top() <= y < rect.bottom() + 1:
                return row
        return None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        row = self._row_at(event.position().toPoint())
        if event.button() == Qt.MouseButton.LeftButton and row is not None:
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier and self._anchor is not None:
                self._cursor = row
            else:
                self._anchor = self._cursor = row
            self.viewport().update()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        position = event.position().toPoint()
        if position.x() < _GUTTER and not event.buttons():
            # The red bar is said in words under the pointer: stderr is never marked by colour alone.
            row = self._row_at(position)
            stream = self.buffer.stream(self.line_of_row(row)) if row is not None else None
            QToolTip.showText(event.globalPosition().toPoint(), "written to stderr" if stream == STDERR else "",
                              self.viewport())
        if event.buttons() & Qt.MouseButton.LeftButton and self._anchor is not None:
            row = self._row_at(event.position().toPoint())
            if row is not None and row != self._cursor:
                self._cursor = row
                self.viewport().update()
        super().mouseMoveEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        bar = self.verticalScrollBar()
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy()
        elif event.matches(QKeySequence.StandardKey.SelectAll):
            self.select_rows(0, max(0, self.row_count() - 1))
        elif event.key() == Qt.Key.Key_End or event.matches(QKeySequence.StandardKey.MoveToEndOfDocument):
            self.scroll_to_end()
        elif event.key() == Qt.Key.Key_Home or event.matches(QKeySequence.StandardKey.MoveToStartOfDocument):
            bar.setValue(0)
        elif event.key() == Qt.Key.Key_PageDown:
            bar.setValue(bar.value() + bar.pageStep())
        elif event.key() == Qt.Key.Key_PageUp:
            bar.setValue(bar.value() - bar.pageStep())
        elif event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up) and event.modifiers() & Qt.KeyboardModifier.AltModifier:
            self.go_to_mark(+1 if event.key() == Qt.Key.Key_Down else -1)
        elif event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up):
            extend = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            self.move_cursor(+1 if event.key() == Qt.Key.Key_Down else -1, extend)
        else:
            super().keyPressEvent(event)

    # -- keyboard cursor -------------------------------------------------------------------------

    def move_cursor(self, step: int, extend: bool = False) -> None:
        """Move the line cursor `step` rows (starting from the top or bottom line on screen), keep
        it in view, select it (or extend the selection) and say the line."""
        rows = self.row_count()
        if not rows:
            return
        if self._cursor is None or self._cursor >= rows:
            top = self.top_row()
            row = top if step > 0 else min(rows - 1, top + self.page_rows() - 1)
        else:
            row = max(0, min(rows - 1, self._cursor + step))
        if extend and self._anchor is not None:
            self._cursor = row
        else:
            self._anchor = self._cursor = row
        self.keep_in_view(row)
        self.viewport().update()
        announce(self, self.line_words(row))
        value_changed(self)

    def keep_in_view(self, row: int) -> None:
        bar = self.verticalScrollBar()
        top, page = self.top_row(), self.page_rows()
        if row < top:
            bar.setValue(row)
        elif row >= top + page:
            bar.setValue(row - page + 1)

    def go_to_mark(self, direction: int) -> None:
        """The next (+1) or previous (-1) container event after the cursor (or the top line)."""
        here = self.line_of_row(self._cursor) if self._cursor is not None and self._cursor < self.row_count() \
            else self.line_of_row(self.top_row()) if self.row_count() else 0
        marks = [line for line in self.buffer.marks if self.row_of_line(line) is not None]
        if direction > 0:
            found = next((line for line in marks if line > here), None)
        else:
            found = next((line for line in reversed(marks) if line < here), None)
        if found is None:
            announce(self, f"no {'later' if direction > 0 else 'earlier'} event")
            return
        self.show_mark(found)
        row = self.row_of_line(found)
        if row is not None:
            announce(self, self.line_words(row))
            value_changed(self)

    def line_words(self, row: int) -> str:
        """A row as a screen reader says it: its place, its stream when stderr, an event, its text."""
        line = self.line_of_row(row)
        stream = self.buffer.stream(line)
        kind = "event: " if stream == MARK else "stderr: " if stream == STDERR else ""
        text = self.buffer.plain(line, self.show_timestamps)
        if len(self.buffer.sources) > 1:
            text = f"{self.buffer.sources[self.buffer.source(line)]}: {text}"
        return f"line {row + 1:,} of {self.row_count():,}, {kind}{text.strip('─ ') if stream == MARK else text}"

    def accessible_role(self) -> QAccessible.Role:
        return QAccessible.Role.Document

    def accessible_value(self) -> str:
        rows = self.row_count()
        if self._cursor is not None and self._cursor < rows:
            return self.line_words(self._cursor)
        state = "following the newest line" if self.follow else f"paused, {self.new_lines:,} new lines below"
        return f"{rows:,} lines, {state}"

    # -- painting --------------------------------------------------------------------------------

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._update_ranges()
        if self.follow:
            self._scroll_to(self.verticalScrollBar().maximum())
        self._place_jump()
        area = self.viewport().geometry()
        self.ruler.setGeometry(area.right() + 1, area.top(), _RULER, area.height())

    def _columns(self) -> int:
        return max(8, int((self.viewport().width() - _GUTTER - 4) // self._cw))

    def _prefix(self, line: int) -> str:
        if len(self.buffer.sources) > 1:
            return f"{self.buffer.sources[self.buffer.source(line)]} | "
        return ""

    def _layout(self) -> list[tuple[int, QRect]]:
        """The rows on screen and the rectangle each takes (several text rows when wrapping)."""
        out: list[tuple[int, QRect]] = []
        height = self.viewport().height()
        width = self.viewport().width()
        y = 0
        row = self.top_row()
        rows = self.row_count()
        columns = self._columns()
        while y < height and row < rows:
            visual = 1
            if self.wrap:
                line = self.line_of_row(row)
                length = (len(self._prefix(line)) + len(self.buffer.plain(line, self.show_timestamps))
                          + self.columns_width())
                visual = max(1, -(-length // columns))
            rect = QRect(0, y, width, visual * self._lh)
            out.append((row, rect))
            y += visual * self._lh
            row += 1
        return out

    def pieces(self, line: int) -> tuple[list[tuple[str, QColor, QColor | None, bool]], int]:
        """What a line is drawn as: (text, foreground, background, bold) pieces in column order, and
        the column its own text starts at (after the service name and the time), where search
        matches are counted from."""
        palette = self.palette()
        text_color = palette.color(QPalette.ColorRole.Text)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        stamp, raw = self.buffer.split_timestamp(self.buffer.line(line))
        pieces: list[tuple[str, QColor, QColor | None, bool]] = []
        prefix = self._prefix(line)
        if prefix:
            name = self.buffer.sources[self.buffer.source(line)]
            pieces.append((prefix, QColor(source_color(name)), None, True))
        if stamp and self.show_timestamps:
            pieces.append((readable_time(stamp) + " ", muted, None, False))
        is_mark = self.buffer.stream(line) == MARK
        if self.show_levels or self.field_columns:
            pieces.extend(self._structured_pieces(strip_ansi(raw) if not is_mark else "", muted))
        lead = sum(len(p[0]) for p in pieces)
        if is_mark:
            pieces.append((raw, self.mark_color_of(self.buffer.mark_kinds.get(line, "")), None, True))
            return pieces, lead
        plain, spans, _ = parse(raw)
        for span in spans:
            fg = QColor(span.style.fg) if span.style.fg else text_color
            bg = QColor(span.style.bg) if span.style.bg else None
            if span.style.inverse:
                fg, bg = (bg or palette.color(QPalette.ColorRole.Base)), fg
            pieces.append((plain[span.start : span.end], fg, bg, span.style.bold))
        return pieces, lead

    def _structured_pieces(self, text: str, muted: QColor) -> list[tuple[str, QColor, QColor | None, bool]]:
        """The level column and the chosen fields' columns of a line (blank for a plain line)."""
        out: list[tuple[str, QColor, QColor | None, bool]] = []
        structured = parse_structured(text) if text else None
        if self.show_levels:
            level = structured.level if structured is not None else NONE
            name = LEVEL_NAMES.get(level, "")
            out.append((name.ljust(LEVEL_WIDTH), QColor(LEVEL_COLORS.get(level, "#6e7781")), None, True))
        for key in self.field_columns:
            value = structured.fields.get(key, "") if structured is not None else ""
            value = value.replace("\n", " ")
            if len(value) > FIELD_WIDTH - 1:
                value = value[: FIELD_WIDTH - 2] + "…"
            out.append((value.ljust(FIELD_WIDTH), muted, None, False))
        return out

    def columns_width(self) -> int:
        """Characters taken before a line's own text by the level and field columns."""
        return (LEVEL_WIDTH if self.show_levels else 0) + FIELD_WIDTH * len(self.field_columns)

    def origin(self) -> float:
        """The x of column 0 in the viewport."""
        return _GUTTER + 2 - (0 if self.wrap else self.horizontalScrollBar().value())

    def column_rects(self, rect: QRect, start: int, end: int) -> list[QRectF]:
        """The rectangles columns [start, end) of a row take (several when wrapped)."""
        out: list[QRectF] = []
        columns = self._columns()
        x0 = self.origin()
        column = start
        while column < end:
            visual, col = divmod(column, columns) if self.wrap else (0, column)
            take = min(end - column, columns - col) if self.wrap else end - column
            out.append(QRectF(x0 + col * self._cw, rect.top() + visual * self._lh, take * self._cw, self._lh))
            column += take
        return out

    def match_rects(self) -> list[tuple[int, QRectF]]:
        """The search highlights on screen: (buffer line, rectangle)."""
        out: list[tuple[int, QRectF]] = []
        if not self.search.active:
            return out
        for row, rect in self._layout():
            line = self.line_of_row(row)
            if self.buffer.stream(line) == MARK:
                continue
            _, lead = self.pieces(line)
            for start, end in self.search.matches_in(line):
                out.extend((line, r) for r in self.column_rects(rect, lead + start, lead + end))
        return out

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self.viewport())
        palette = self.palette()
        painter.fillRect(self.viewport().rect(), palette.color(QPalette.ColorRole.Base))
        selection = palette.color(QPalette.ColorRole.Highlight)
        selection.setAlpha(70)
        selected = self.selected_rows()
        x0 = self.origin()
        columns = self._columns()
        current_line = self.search.lines[self.current_match] if self.current_match is not None else None
        current_span = (
            (self.search.starts[self.current_match], self.search.ends[self.current_match])
            if self.current_match is not None
            else None
        )
        bold = QFont(self.font())
        bold.setBold(True)
        band = QColor(self.mark_color)
        band.setAlpha(28)
        right = self.viewport().width()
        for row, rect in self._layout():
            line = self.line_of_row(row)
            stream = self.buffer.stream(line)
            if stream == MARK:
                painter.fillRect(rect, band)
                painter.fillRect(QRect(0, rect.top(), 3, rect.height()),
                                 self.mark_color_of(self.buffer.mark_kinds.get(line, "")))
            if row in selected:
                painter.fillRect(rect, selection)
            if stream == STDERR:
                painter.fillRect(QRect(0, rect.top(), 3, rect.height()), self.stderr_color)
            pieces, lead = self.pieces(line)
            if self.search.active and stream != MARK:
                for start, end in self.search.matches_in(line):
                    is_current = line == current_line and current_span == (start, end)
                    color = self.current_color if is_current else self.match_color
                    for highlight in self.column_rects(rect, lead + start, lead + end):
                        painter.fillRect(highlight, color)
            column = 0
            for text, fg, bg, is_bold in pieces:
                painter.setFont(bold if is_bold else self.font())
                painter.setPen(fg)
                position = 0
                while position < len(text):
                    if self.wrap:
                        visual, col = divmod(column, columns)
                        take = min(len(text) - position, columns - col)
                    else:
                        visual, col, take = 0, column, len(text) - position
                    x = x0 + col * self._cw
                    y = rect.top() + visual * self._lh
                    piece = text[position : position + take]
                    if bg is not None:
                        painter.fillRect(QRectF(x, y, take * self._cw, self._lh), bg)
                    if not self.wrap and x > right:
                        break
                    painter.drawText(QPointF(x, y + self._ascent), piece)
                    position += take
                    column += take
        painter.end()
