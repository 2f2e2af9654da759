"""The Logs tab: a `LogView` with search (regex, count, next/previous, filter) and view options."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.models.ansi import strip_ansi
from app.models.logs import LogBuffer, LogSearch
from app.models.structured_logs import DEBUG, ERROR, INFO, JSON, LOGFMT, NONE, WARN, LevelIndex, common_fields, parse
from app.widgets.accessibility import ThrottledDescription, announce, named, tab_chain
from app.widgets.chrome import ask_for_file, icon_beside_text, set_icon
from app.widgets.log_view import LogView


def _toggle(parent: QWidget, text: str, tip: str, checked: bool = False) -> QToolButton:
    button = QToolButton(parent)
    button.setText(text)
    button.setToolTip(tip)
    button.setCheckable(True)
    button.setChecked(checked)
    button.setAutoRaise(True)
    return button


SEARCH_KEYS = "Enter: next match, Shift+Enter: previous (F3 and Shift+F3 from the log)"


class LogPanel(QWidget):
    saved = Signal(str)  # path written
    saveFailed = Signal(str)

    def __init__(self, buffer: LogBuffer | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("log-panel")
        self.buffer = buffer if buffer is not None else LogBuffer()
        self.search = LogSearch(self.buffer)
        self.view = LogView(self.buffer, self.search, self)

        self.query = QLineEdit(self)
        self.query.setObjectName("log-search")
        self.query.setPlaceholderText("Search logs (regex)   Ctrl+F")
        self.query.setClearButtonEnabled(True)
        named(self.query, "Search logs")
        self._query_description = ThrottledDescription(self.query, 1.0)
        self._query_description.set(SEARCH_KEYS, now=True)
        self.query.textChanged.connect(self._on_query)
        self.query.returnPressed.connect(self.next_match)
        self.count = QLabel(self)
        self.count.setObjectName("log-count")
        self.count.setProperty("role", "hint")
        self.count.setMinimumWidth(110)
        self.previous = QToolButton(self)
        self.previous.setText("↑")
        self.previous.setToolTip("Previous match (Shift+Enter)")
        self.previous.clicked.connect(self.previous_match)
        named(self.previous, "Previous match")
        set_icon(self.previous, "previous")
        self.next = QToolButton(self)
        self.next.setText("↓")
        self.next.setToolTip("Next match (Enter)")
        self.next.clicked.connect(self.next_match)
        named(self.next, "Next match")
        set_icon(self.next, "next")
        self.case = _toggle(self, "Aa", "Match case")
        self.case.toggled.connect(lambda _: self._on_query(self.query.text()))
        named(self.case, "Match case")
        self.regex = _toggle(self, ".*", "Regular expression", checked=True)
        self.regex.toggled.connect(lambda _: self._on_query(self.query.text()))
        named(self.regex, "Regular expression")
        self.filter = _toggle(self, "Filter", "Show only the lines that match")
        self.filter.toggled.connect(self._on_filter)
        named(self.filter, "Filter: only matching lines")
        icon_beside_text(self.filter, "filter")
        self.timestamps = _toggle(self, "Time", "Show timestamps (docker logs -t)")
        self.timestamps.toggled.connect(self._on_timestamps)
        named(self.timestamps, "Show times")
        self.wrap = _toggle(self, "Wrap", "Wrap long lines")
        self.wrap.toggled.connect(self._on_wrap)
        named(self.wrap, "Wrap long lines")
        self.follow = _toggle(self, "Follow", "Keep the newest line in view (docker logs -f)", checked=True)
        self.follow.toggled.connect(self._on_follow_button)
        named(self.follow, "Follow the newest line")
        icon_beside_text(self.follow, "follow")
        self.view.followChanged.connect(self._on_follow_view)
        self.copy_button = QToolButton(self)
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip("Copy the selected lines (Ctrl+C); all visible lines if none")
        self.copy_button.setAutoRaise(True)
        self.copy_button.clicked.connect(self.view.copy)
        named(self.copy_button, "Copy lines")
        icon_beside_text(self.copy_button, "copy")
        self.save_button = QToolButton(self)
        self.save_button.setText("Save…")
        self.save_button.setToolTip("Save the whole log to a file")
        self.save_button.setAutoRaise(True)
        self.save_button.clicked.connect(self.ask_save)
        named(self.save_button, "Save the log…")
        icon_beside_text(self.save_button, "save")
        self.status = QLabel(self)
        self.status.setProperty("role", "hint")

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.setSpacing(4)
        bar.addWidget(self.query, 2)
        bar.addWidget(self.count)
        for widget in (self.previous, self.next, self.case, self.regex, self.filter, self.timestamps, self.wrap,
                       self.follow, self.copy_button, self.save_button):
            bar.addWidget(widget)
        # Structured logs: level chips that filter, and fields to show as columns. Shown once the
        # container writes JSON or logfmt lines.
        self.levels_bar = QWidget(self)
        self.levels_bar.setObjectName("log-levels")
        chips = QHBoxLayout(self.levels_bar)
        chips.setContentsMargins(0, 0, 0, 0)
        chips.setSpacing(4)
        self.level_chips: dict[int, QToolButton] = {}
        for level, word, tip in ((ERROR, "error", "error, fatal, critical"), (WARN, "warn", "warn, warning"),
                                 (INFO, "info", "info, notice"), (DEBUG, "debug", "debug, trace"),
                                 (NONE, "other", "lines without a level (plain lines)")):
            chip = _toggle(self.levels_bar, word, f"Show {tip} lines", checked=True)
            chip.setObjectName(f"log-level-{word}")
            chip.setAccessibleName(f"{word} lines")
            chip.toggled.connect(lambda _: self._refilter())
            chips.addWidget(chip)
            self.level_chips[level] = chip
        self.fields_button = QToolButton(self.levels_bar)
        self.fields_button.setObjectName("log-fields")
        self.fields_button.setText("Fields ▾")
        self.fields_button.setToolTip("Show fields of the structured lines as columns")
        self.fields_button.setAutoRaise(True)
        named(self.fields_button, "Fields as columns")
        self.fields_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.fields_menu = QMenu(self.fields_button)
        self.fields_menu.aboutToShow.connect(self.fill_fields_menu)
        self.fields_button.setMenu(self.fields_menu)
        chips.addWidget(self.fields_button)
        self.format_label = QLabel(self.levels_bar)
        self.format_label.setProperty("role", "hint")
        chips.addWidget(self.format_label)
        chips.addStretch(1)
        self.levels_bar.hide()
        self._counted = 0.0

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(bar)
        layout.addWidget(self.levels_bar)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.status)
        self.status.hide()

        previous = QAction(self)
        previous.setShortcut(QKeySequence("Shift+Return"))
        previous.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        previous.triggered.connect(self.previous_match)
        self.query.addAction(previous)
        # F3 / Shift+F3 step through the matches from anywhere in the panel (the log view too).
        for keys, step in (("F3", self.next_match), ("Shift+F3", self.previous_match)):
            action = QAction(self)
            action.setShortcut(QKeySequence(keys))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(step)
            self.addAction(action)
        # Tab goes as the panel reads: the search bar, the level chips, then the log. (The view is
        # made first, so Qt's default order, that of creation, put it before the bar.)
        chain = [self.query, self.previous, self.next, self.case, self.regex, self.filter, self.timestamps,
                 self.wrap, self.follow, self.copy_button, self.save_button, *self.level_chips.values(),
                 self.fields_button, self.view]
        tab_chain(chain)
        QWidget.setTabOrder(self.view, self.view.jump)  # "n new lines ↓", when shown, right after the log
        # Ctrl+F is the window's alone (it searches the log that has the focus): a second Ctrl+F
        # here made the two ambiguous, so that neither fired.

        # The search, the levels and the level filter advance in slices between events until they
        # have caught up with the buffer.
        self._searching = QTimer(self)
        self._searching.setInterval(0)
        self._searching.timeout.connect(self._search_step)
        self._saving: asyncio.Task[None] | None = None

    # -- feeding ---------------------------------------------------------------------------------

    def on_appended(self) -> None:
        """Connected to a follower's `appended`: the view relayouts soon; the search catches up."""
        self.view.notify_appended()
        if not self._searching.isActive():
            self._searching.start()

    def reset(self) -> None:
        self.search.set_pattern(self.query.text(), regex=self.regex.isChecked(), case_sensitive=self.case.isChecked())
        # Structure is per container: levelled again, columns chosen again.
        self.view.levels = LevelIndex(self.buffer)
        self.view.row_filter.levels = self.view.levels
        self.view.show_levels = False
        self.view.field_columns = []
        self.levels_bar.hide()
        for chip in self.level_chips.values():
            chip.blockSignals(True)
            chip.setChecked(True)
            chip.blockSignals(False)
        self.view.row_filter.reset(None, False)
        self.view.reset()
        self._update_count()
        self._searching.start()

    def show_status(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))

    def show_waiting(self, name: str) -> None:
        """A followed container stopped ("" once it runs again): its log goes on when it starts."""
        self.show_status(f"{name} is not running: its log goes on here when it starts again" if name else "")

    def scroll_to_time(self, when: float) -> None:
        """Scroll to the first line written at or after `when` (epoch seconds) and mark it: what a
        click on an event mark or on a point of a stats graph does."""
        self.follow.setChecked(False)
        self.view.scroll_to_time(round(when * 1_000_000_000))

    # -- search ----------------------------------------------------------------------------------

    def focus_search(self) -> None:
        self.query.setFocus()
        self.query.selectAll()

    def set_query(self, text: str) -> None:
        self.query.setText(text)

    def _on_query(self, text: str) -> None:
        ok = self.search.set_pattern(text, regex=self.regex.isChecked(), case_sensitive=self.case.isChecked())
        self.view.current_match = None
        self.query.setProperty("invalid", not ok)
        self.query.setToolTip(self.search.error)
        self._searching.start()
        self._refilter()
        self._update_count()

    def _search_step(self) -> None:
        before = self.search.count
        searched = self.search.step()
        done = self._level_step() and searched
        if self.search.count != before:
            if self.view.filtering:
                self.view.notify_appended()
            if self.view.current_match is None and self.search.count:
                # The first match found: show it, as editors do while typing.
                self.view.current_match = 0
                if not self.view.follow or self.view.filtering:
                    self.view.scroll_to_line(self.search.lines[0])
            self.view.viewport().update()
        if done:
            self._searching.stop()
        self._update_count()

    def _update_count(self) -> None:
        if self.search.error:
            self.count.setText("invalid pattern")
        elif not self.search.active:
            self.count.setText("")
        else:
            more = "" if self.search.done else "+"
            current = self.view.current_match
            where = f"{current + 1:,} of " if current is not None and self.search.count else ""
            self.count.setText(f"{where}{self.search.count:,}{more} match{'es' if self.search.count != 1 else ''}")
        count = self.count.text()
        self._query_description.set(f"{count}. {SEARCH_KEYS}" if count else SEARCH_KEYS)

    def next_match(self) -> None:
        self._go(+1)

    def previous_match(self) -> None:
        self._go(-1)

    def _go(self, step: int) -> None:
        if not self.search.count:
            return
        current = self.view.current_match
        if current is None:
            current = 0 if step > 0 else self.search.count - 1
        else:
            current = (current + step) % self.search.count
        self.view.current_match = current
        self.view.scroll_to_line(self.search.lines[current])
        self._update_count()
        row = self.view.row_of_line(self.search.lines[current])
        said = self.view.line_words(row).partition(", ")[2] if row is not None else ""
        announce(self.query, f"match {current + 1:,} of {self.search.count:,}: {said}")

    # -- structured logs -------------------------------------------------------------------------

    def wanted_levels(self) -> frozenset[int] | None:
        """The levels the chips let through; None when all are on (no level filter)."""
        wanted = frozenset(level for level, chip in self.level_chips.items() if chip.isChecked())
        return None if len(wanted) == len(self.level_chips) else wanted

    def _refilter(self) -> None:
        wanted = self.wanted_levels()
        if wanted is None and not self.view.row_filter.active:
            self.view.relayout()
            return
        self.view.set_level_filter(wanted)
        if not self._searching.isActive():
            self._searching.start()

    def _level_step(self) -> bool:
        """Level lines and extend the level filter a slice; True when both have caught up."""
        view = self.view
        if len(view.levels.levels) > len(self.buffer):  # the buffer was cleared under it
            view.levels = view.row_filter.levels = LevelIndex(self.buffer)
        levelled = view.levels.step(0.004)
        if not view.show_levels and (view.levels.formats[JSON] or view.levels.formats[LOGFMT]):
            view.show_levels = True
            self.levels_bar.show()
            view.relayout()
        rows = len(view.row_filter.rows)
        filtered = view.row_filter.step(0.004)
        if len(view.row_filter.rows) != rows:
            view.notify_appended()
        now = time.monotonic()
        if view.show_levels and (now - self._counted > 0.25 or (levelled and filtered)):
            self._counted = now
            counts = view.levels.counts()
            for level, chip in self.level_chips.items():
                word = chip.objectName().rsplit('-', 1)[1]
                chip.setText(f"{word} {counts[level]:,}")
                chip.setAccessibleName(f"{word} lines, {counts[level]:,}")
            self.format_label.setText(f"{view.levels.format} lines")
        return levelled and filtered

    def fill_fields_menu(self) -> None:
        """The fields most of the recent structured lines carry, to pick as columns."""
        self.fields_menu.clear()
        sample = []
        for index in range(max(0, len(self.buffer) - 2000), len(self.buffer)):
            parsed = parse(self.buffer.split_timestamp(self.buffer.line(index))[1])
            if parsed is not None:
                sample.append(parsed)
        names = list(dict.fromkeys(self.view.field_columns + common_fields(sample, limit=12)))
        for name in names:
            action = self.fields_menu.addAction(name)
            action.setCheckable(True)
            action.setChecked(name in self.view.field_columns)
            action.toggled.connect(lambda on, name=name: self.set_field_column(name, on))
        if not names:
            self.fields_menu.addAction("No fields in the recent lines").setEnabled(False)

    def set_field_column(self, name: str, on: bool) -> None:
        columns = [c for c in self.view.field_columns if c != name]
        self.view.field_columns = [*columns, name] if on else columns
        self.view.relayout()

    # -- options ---------------------------------------------------------------------------------

    def _on_filter(self, on: bool) -> None:
        self.view.filtering = on
        self._refilter()
        if self.view.current_match is not None:
            self.view.scroll_to_line(self.search.lines[self.view.current_match])

    def _on_timestamps(self, on: bool) -> None:
        self.view.show_timestamps = on
        self.view.relayout()

    def _on_wrap(self, on: bool) -> None:
        self.view.wrap = on
        self.view.relayout()

    def _on_follow_button(self, on: bool) -> None:
        if on and not self.view.follow:
            self.view.scroll_to_end()
        elif not on and self.view.follow:
            self.view.set_follow(False)

    def _on_follow_view(self, following: bool) -> None:
        self.follow.blockSignals(True)
        self.follow.setChecked(following)
        self.follow.blockSignals(False)

    # -- saving ----------------------------------------------------------------------------------

    def ask_save(self) -> None:
        # open() and a signal, never exec(): no nested event loop.
        ask_for_file(self, "Save log", self.save_to, save=True, suffix="log")

    def save_to(self, path: str) -> None:
        pieces = [(first, list(lines)) for first, lines in self.buffer.chunks(0)]
        timestamps = self.timestamps.isChecked()
        split = self.buffer.split_timestamp

        def write() -> None:
            with open(path, "w", encoding="utf-8") as out:
                for _, lines in pieces:
                    for raw in lines:
                        stamp, rest = split(raw)
                        rest = strip_ansi(rest)
                        out.write(f"{stamp} {rest}\n" if timestamps and stamp else rest + "\n")

        async def run() -> None:
            try:
                await asyncio.to_thread(write)
            except OSError as exc:
                self.saveFailed.emit(f"could not save {Path(path).name}: {exc.strerror or exc}")
                return
            self.saved.emit(path)

        self._saving = asyncio.ensure_future(run())
