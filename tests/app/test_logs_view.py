"""The log view's time column, search highlights placed over their characters, and scrolling to a
moment (what event marks and the stats graphs' points call)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from PySide6.QtGui import QColor

from app.models.logs import LogBuffer, readable_time, stamp_ns
from app.widgets.log_panel import LogPanel
from app.widgets.log_view import source_color


def _panel(qtbot: Any) -> LogPanel:
    panel = LogPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 400)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


@pytest.mark.unit
def test_stamps_read_as_numbers_whatever_docker_trimmed() -> None:
    # Docker trims the fraction's trailing zeros: as text "42.5Z" sorts after "42.51Z".
    assert stamp_ns("2026-11-28T02:40:42.5Z") < stamp_ns("2026-11-28T02:40:42.51Z")
    assert stamp_ns("2026-11-28T02:40:42.571542124Z") == 1_795_833_642_571_542_124
    assert stamp_ns("2026-11-28T02:40:42Z") == 1_795_833_642_000_000_000
    assert stamp_ns("2026-11-28T04:40:42.5+02:00") == stamp_ns("2026-11-28T02:40:42.5Z")
    assert stamp_ns("not a time") == 0


@pytest.mark.gui
def test_time_toggle_shows_local_time_not_the_raw_stamp(qtbot: Any) -> None:
    panel = _panel(qtbot)
    panel.buffer.timestamped = True
    panel.buffer.append("2026-11-28T02:40:42.571542124Z hello\n")
    panel.on_appended()
    panel.timestamps.setChecked(True)
    local = datetime.fromtimestamp(1_795_833_642)
    expected = f"{local:%H:%M:%S}.571"
    assert readable_time("2026-11-28T02:40:42.571542124Z") == expected
    texts = [text for text, *_ in panel.view.pieces(0)[0]]
    assert texts == [expected + " ", "hello"]
    assert "2026-11-28T" not in "".join(texts)
    panel.view.select_rows(0, 0)
    assert panel.view.selected_text() == f"{expected} hello"


@pytest.mark.gui
def test_search_highlight_sits_on_the_matched_glyphs(qtbot: Any) -> None:
    """The highlight's rectangle is compared with where the matched glyphs' ink is on screen: far
    into a line, an integer character width (7 px for 7.22) put it a character and more to the left."""
    panel = _panel(qtbot)
    panel.buffer.append(" " * 90 + "WWWW\n")
    panel.on_appended()
    panel.set_query("WWWW")
    qtbot.waitUntil(lambda: panel.search.count == 1)
    view = panel.view
    [(line, rect)] = view.match_rects()
    assert line == 0
    image = view.viewport().grab().toImage()
    top, bottom = int(rect.top()) + 1, int(rect.bottom()) - 1
    ink = [x for x in range(image.width())
           if any(QColor(image.pixel(x, y)).lightness() < 110 for y in range(top, bottom))]
    assert ink, "the matched text was not drawn"
    left, right = min(ink), max(ink) + 1
    # The glyphs' ink lies within the highlight, and the highlight is no wider than their cells.
    assert rect.left() - 1 <= left and right <= rect.right() + 1, (rect, left, right)
    assert abs((rect.left() + rect.right()) / 2 - (left + right) / 2) < view._cw / 3, (rect, left, right)


@pytest.mark.gui
def test_scroll_to_time_shows_and_marks_the_line_of_that_moment(qtbot: Any) -> None:
    panel = _panel(qtbot)
    panel.buffer.timestamped = True
    base = 1_795_833_600
    panel.buffer.append("".join(
        f"2026-11-28T02:{40 + i // 60:02d}:{i % 60:02d}.{'5' if i % 2 else ''}{'' if i % 2 else '0'}Z line {i}\n"
        for i in range(1200)))
    panel.on_appended()
    view = panel.view
    qtbot.waitUntil(lambda: view.top_row() == view.verticalScrollBar().maximum() > 0)
    assert view.follow
    panel.scroll_to_time(base + 300.2)  # between line 300 (…:45:00.0) and line 301 (…:45:01.5)
    assert not view.follow and not panel.follow.isChecked()
    assert list(view.selected_rows()) == [301]
    assert view.top_row() <= 301 < view.top_row() + view.page_rows()
    panel.scroll_to_time(base)  # the first line
    assert list(view.selected_rows()) == [0] and view.top_row() == 0
    panel.scroll_to_time(base + 10_000)  # after the last line: the last one
    assert list(view.selected_rows()) == [1199]
    # New lines do not pull the view away from the moment asked for.
    panel.buffer.append("2026-11-28T03:00:00Z later\n")
    panel.on_appended()
    qtbot.wait(40)
    assert not view.follow and list(view.selected_rows()) == [1199]


@pytest.mark.unit
def test_service_colours_come_from_names_not_order() -> None:
    names = ["web", "db", "worker", "cache"]
    colours = {name: source_color(name) for name in names}
    assert {name: source_color(name) for name in reversed(names)} == colours
    assert len(set(colours.values())) > 1
    buffer = LogBuffer()
    assert buffer.marks.tolist() == []
