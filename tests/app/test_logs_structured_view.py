"""Structured logs in the log view: level chips that filter, a level column, chosen fields as
columns, plain lines untouched, and a million lines filtered by level without a stall."""

from __future__ import annotations

import time
from typing import Any

import pytest

from app.models.logs import MARK
from app.models.structured_logs import DEBUG, ERROR, INFO, NONE, WARN
from app.widgets.log_panel import LogPanel
from tests.app.heartbeat import Heartbeat

pytestmark = pytest.mark.gui

LINES = [
    '{"level":"info","msg":"listening","port":8080}',
    'time="2026-12-05T08:00:00Z" level=warn msg="slow request" path=/api took=900ms',
    "plain output from a library",
    '{"level":"error","msg":"upstream failed","path":"/api","status":502}',
    'level=debug msg="cache miss" path=/img',
    '{"level":"info","msg":"request done","path":"/","status":200}',
]


def _panel(qtbot: Any) -> LogPanel:
    panel = LogPanel()
    qtbot.addWidget(panel)
    panel.resize(1000, 400)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def _shown(panel: LogPanel) -> list[str]:
    view = panel.view
    return [panel.buffer.plain(view.line_of_row(row)) for row in range(view.row_count())]


def test_level_chips_filter_and_columns_show_level_and_fields(qtbot: Any) -> None:
    panel = _panel(qtbot)
    panel.buffer.append("".join(line + "\n" for line in LINES))
    panel.buffer.append_lines(["── exited with code 1 ──"], MARK)
    panel.on_appended()
    qtbot.waitUntil(lambda: panel.levels_bar.isVisible() and panel.view.levels.done)
    chips = panel.level_chips
    qtbot.waitUntil(lambda: chips[ERROR].text() == "error 1")
    assert [chips[level].text() for level in (WARN, INFO, DEBUG, NONE)] == ["warn 1", "info 2", "debug 1", "other 2"]

    # The level column, coloured words before each line; plain lines keep their own text.
    view = panel.view
    texts = [text for text, *_ in view.pieces(3)[0]]
    assert texts[0] == "error " and texts[-1] == LINES[3]
    assert [text for text, *_ in view.pieces(2)[0]] == ["      ", "plain output from a library"]

    # Only errors and warnings: the chips of the other levels off. Events always show.
    for level in (INFO, DEBUG, NONE):
        chips[level].setChecked(False)
    qtbot.waitUntil(lambda: panel.view.row_filter.done)
    assert _shown(panel) == [LINES[1], LINES[3], "── exited with code 1 ──"]
    # With a search filter too: both apply.
    panel.filter.setChecked(True)
    panel.set_query("upstream|slow")
    qtbot.waitUntil(lambda: panel.search.done and panel.view.row_filter.done)
    assert _shown(panel) == [LINES[1], LINES[3]]
    chips[WARN].setChecked(False)
    qtbot.waitUntil(lambda: panel.view.row_filter.done)
    assert _shown(panel) == [LINES[3]]
    panel.filter.setChecked(False)
    panel.set_query("")
    for chip in chips.values():
        chip.setChecked(True)
    assert not view.row_filter.active and view.row_count() == len(LINES) + 1

    # Fields offered from the lines, and shown as columns when chosen.
    panel.fill_fields_menu()
    offered = [action.text() for action in panel.fields_menu.actions()]
    assert "path" in offered and "status" in offered
    [status] = [action for action in panel.fields_menu.actions() if action.text() == "status"]
    status.setChecked(True)
    assert view.field_columns == ["status"]
    assert [text.strip() for text, *_ in view.pieces(3)[0][:2]] == ["error", "502"]
    assert view.pieces(0)[0][1][0].strip() == ""  # no such field on that line
    # The search still highlights the text itself, after the columns.
    panel.set_query("upstream")
    qtbot.waitUntil(lambda: panel.search.count == 1)
    [(line, rect)] = view.match_rects()
    start = LINES[3].index("upstream")
    assert line == 3
    assert abs(rect.left() - (view.origin() + (view.columns_width() + start) * view._cw)) < 0.5
    panel.grab()


def test_a_plain_log_shows_no_chips(qtbot: Any) -> None:
    panel = _panel(qtbot)
    panel.buffer.append("".join(f"line {i} key=value\n" for i in range(100)))
    panel.on_appended()
    qtbot.waitUntil(lambda: panel.view.levels.done)
    assert not panel.levels_bar.isVisible() and not panel.view.show_levels


def test_a_million_structured_lines_filtered_by_level_without_a_stall(qtbot: Any) -> None:
    panel = _panel(qtbot)
    view = panel.view
    kinds = [
        '{{"level":"info","msg":"request done","path":"/api/{i}","status":200,"took_ms":{i}}}',
        'level=warn msg="slow request" path=/api/{i} took={i}ms',
        "plain line number {i}",
        '{{"level":"error","msg":"upstream failed","error":"timeout after {i}s"}}',
    ]
    batch = "".join(kinds[i % 4].format(i=i) + "\n" for i in range(20_000))
    qtbot.wait(50)
    beat = Heartbeat(5).start()
    started = time.perf_counter()
    for _ in range(50):
        panel.buffer.append(batch)
        panel.on_appended()
        qtbot.wait(1)
    qtbot.waitUntil(lambda: panel.levels_bar.isVisible())
    for level in (INFO, WARN, NONE):
        panel.level_chips[level].setChecked(False)
    qtbot.waitUntil(lambda: view.levels.done and view.row_filter.done, timeout=60_000)
    elapsed = time.perf_counter() - started
    assert view.row_count() == 250_000
    view.verticalScrollBar().setValue(100_000)
    qtbot.wait(20)
    assert "upstream failed" in panel.buffer.plain(view.line_of_row(view.top_row()))
    gap = beat.stop()
    print(f"\nstructured view: 1,000,000 lines appended, levelled and filtered in {elapsed:.1f} s; "
          f"longest stall {gap * 1000:.0f} ms")
    assert gap < 0.05, f"the event loop stalled for {gap * 1000:.0f} ms"
