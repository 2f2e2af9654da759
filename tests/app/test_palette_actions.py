"""The palette acts on containers (stop, restart, start, remove, terminal) and says when nothing
matches instead of showing an empty list (issue 22)."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt

from tests.app.support import state_text
from tests.engine.client.fake_engine import FakeEngine

pytestmark = pytest.mark.gui


def test_palette_stops_a_container_and_says_no_match(qtbot: Any, fake_engine: FakeEngine, make_window: Any) -> None:
    fake_engine.add_container("web", state="running")
    fake_engine.add_container("db", state="exited")
    window = make_window(fake_engine.url)
    qtbot.waitUntil(lambda: state_text(window, "web") == "running" and state_text(window, "db") is not None)
    palette = window.open_palette()
    titles = set(palette.visible_titles())
    assert {"Stop web", "Restart web", "Terminal in web", "Remove web", "Start db", "Remove db"} <= titles
    assert "Stop db" not in titles and "Start web" not in titles  # only what its state allows

    qtbot.keyClicks(palette.query, "nothing-is-called-this")
    assert palette.visible_titles() == [] and palette.no_match.isVisible()
    assert "nothing-is-called-this" in palette.no_match.text()
    palette.query.clear()
    assert not palette.no_match.isVisible()
    qtbot.keyClicks(palette.query, "stop web")
    assert palette.visible_titles() == ["Stop web"]
    qtbot.keyClick(palette.query, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: (state_text(window, "web") or "").startswith("exited"))
