"""The log buffer, its search, ANSI parsing and the virtualised log view (a million lines)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QGuiApplication, QWheelEvent

from app.models.ansi import parse, strip_ansi
from app.models.logs import STDERR, LogBuffer, LogSearch, readable_time
from app.widgets.log_panel import LogPanel
from tests.app.heartbeat import Heartbeat


@pytest.mark.unit
def test_buffer_joins_partial_lines_per_stream() -> None:
    buffer = LogBuffer()
    assert buffer.append("hel") == 0
    assert buffer.append("oops\n", STDERR) == 1
    assert buffer.append("lo\nworld\n") == 2
    assert [buffer.line(i) for i in range(len(buffer))] == ["oops", "hello", "world"]
    assert buffer.stream(0) == STDERR and buffer.stream(1) == 0
    buffer.append("tail without newline")
    assert buffer.flush_partial() == 1
    assert buffer.line(3) == "tail without newline"


@pytest.mark.unit
def test_buffer_blocks_and_timestamps() -> None:
    buffer = LogBuffer()
    buffer.timestamped = True
    buffer.append("".join(f"2026-11-28T02:40:42.571542124Z line {i}\r\n" for i in range(10_000)))
    assert len(buffer) == 10_000
    assert buffer.line(9_999) == "2026-11-28T02:40:42.571542124Z line 9999"
    assert buffer.plain(4096) == "line 4096"
    assert buffer.plain(5, timestamps=True) == f"{readable_time('2026-11-28T02:40:42.571542124Z')} line 5"
    assert sum(len(lines) for _, lines in buffer.chunks(100)) == 9_900


@pytest.mark.unit
def test_search_counts_and_ignores_escapes() -> None:
    buffer = LogBuffer()
    buffer.append("".join(f"req {i} \x1b[31mERROR\x1b[0m code={i % 7}\n" for i in range(20_000)))
    search = LogSearch(buffer)
    assert search.set_pattern(r"error code=3")
    while not search.step():
        pass
    assert search.count == len([i for i in range(20_000) if i % 7 == 3])
    assert search.lines[0] == 3 and (search.starts[0], search.ends[0]) == (6, 18)
    assert search.matches_in(3) == [(6, 18)]
    assert not search.set_pattern("(unclosed") and search.error
    buffer.append("later ERROR code=3\n")
    assert search.set_pattern("code=3$", case_sensitive=True)
    while not search.step():
        pass
    assert search.matching_lines[-1] == 20_000


@pytest.mark.unit
def test_ansi_spans() -> None:
    plain, spans, _ = parse("a \x1b[1;31mred\x1b[0m \x1b[38;5;33mblue\x1b[38;2;1;2;3mrgb\x1b[2K")
    assert plain == "a red bluergb"
    assert [(s.start, s.end) for s in spans] == [(0, 2), (2, 5), (5, 6), (6, 10), (10, 13)]
    assert spans[1].style.bold and spans[1].style.fg == "#cd3131"
    assert spans[4].style.fg == "#010203"
    assert strip_ansi("\x1b]0;title\x07x") == "x"


def _panel(qtbot: Any) -> LogPanel:
    panel = LogPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 500)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


@pytest.mark.gui
def test_follow_pauses_and_jump_button(qtbot: Any) -> None:
    panel = _panel(qtbot)
    view = panel.view
    panel.buffer.append("".join(f"line {i}\n" for i in range(1000)))
    panel.on_appended()
    qtbot.waitUntil(lambda: view.verticalScrollBar().value() == view.verticalScrollBar().maximum() > 0)
    assert view.follow
    view.verticalScrollBar().setValue(10)  # the user scrolls up
    assert not view.follow and not panel.follow.isChecked()
    panel.buffer.append("".join(f"more {i}\n" for i in range(42)))
    panel.on_appended()
    qtbot.waitUntil(lambda: view.jump.isVisible())
    assert view.jump.text() == "42 new lines ↓"
    assert view.verticalScrollBar().value() == 10
    qtbot.mouseClick(view.jump, Qt.MouseButton.LeftButton)
    assert view.follow and not view.jump.isVisible()
    assert view.verticalScrollBar().value() == view.verticalScrollBar().maximum()


@pytest.mark.gui
def test_search_filter_copy_and_save(qtbot: Any, qt_loop: Any, tmp_path: Path) -> None:
    panel = _panel(qtbot)
    panel.buffer.timestamped = True
    panel.buffer.append("".join(f"2026-11-28T02:40:0{i % 10}.5Z item {i}\n" for i in range(300)))
    panel.buffer.append("2026-11-28T02:40:00Z \x1b[31mboom\x1b[0m at 7\n", STDERR)
    panel.on_appended()
    panel.set_query(r"item \d*7$")
    qtbot.waitUntil(lambda: panel.search.done and panel.search.count == 30)
    assert panel.count.text() == "1 of 30 matches"
    panel.next_match()
    assert panel.count.text() == "2 of 30 matches"
    panel.previous_match()
    panel.previous_match()
    assert panel.count.text() == "30 of 30 matches"
    panel.filter.setChecked(True)
    assert panel.view.row_count() == 30
    panel.view.select_rows(0, 1)
    panel.view.copy()
    assert QGuiApplication.clipboard().text() == "item 7\nitem 17"
    panel.timestamps.setChecked(True)
    assert panel.view.selected_text().startswith(f"{readable_time('2026-11-28T02:40:07.5Z')} item 7")
    panel.filter.setChecked(False)
    panel.wrap.setChecked(True)
    panel.set_query("boom")
    qtbot.waitUntil(lambda: panel.search.count == 1)
    panel.grab()  # paints wrapped, highlighted, with an stderr line
    target = tmp_path / "out.log"
    with qtbot.waitSignal(panel.saved, timeout=5000):
        panel.save_to(str(target))
    lines = target.read_text().splitlines()
    assert len(lines) == 301 and lines[-1] == "2026-11-28T02:40:00Z boom at 7"


@pytest.mark.gui
def test_a_million_lines_stay_responsive(qtbot: Any) -> None:
    panel = _panel(qtbot)
    view = panel.view
    qtbot.wait(50)  # let earlier tests' deferred deletions run before measuring
    beat = Heartbeat(5).start()
    batch = "".join(f"2026-11-28T02:40:42.{i:06d}Z GET /api/items/{i} 200 \x1b[32mok\x1b[0m {i * 7}ms\n"
                    for i in range(20_000))
    started = time.perf_counter()
    for _ in range(50):  # a million lines, as a fast container writes them
        panel.buffer.append(batch)
        panel.on_appended()
        qtbot.wait(1)
    append_seconds = time.perf_counter() - started
    qtbot.waitUntil(lambda: view.row_count() == 1_000_000 and not view._pending.isActive())
    assert view.follow and view.verticalScrollBar().value() == view.verticalScrollBar().maximum()

    # Scroll all over: wheel, page keys, drags of the scroll bar.
    bar = view.verticalScrollBar()
    for position in (0, 500_000, 999_000, 123_456, 0, 750_000):
        bar.setValue(position)
        qtbot.wait(2)
    for _ in range(30):
        wheel = QWheelEvent(QPointF(100, 100), QPointF(100, 100), QPoint(0, 0), QPoint(0, -120),
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                            False)
        QGuiApplication.sendEvent(view.viewport(), wheel)
        qtbot.keyClick(view, Qt.Key.Key_PageDown)
        qtbot.wait(1)
    assert not view.follow

    # Search the million lines while scrolling; then filter to the matches.
    panel.set_query(r"/items/\d*99 ")
    while not panel.search.done:
        bar.setValue(bar.value() + 1000)
        qtbot.wait(5)
    assert panel.search.count == 50 * 200  # 200 of each batch's 20,000 item numbers end in 99
    panel.filter.setChecked(True)
    panel.next_match()
    qtbot.wait(20)
    gap = beat.stop()
    assert gap < 0.1, f"the event loop stalled for {gap * 1000:.0f} ms"
    assert append_seconds < 20
