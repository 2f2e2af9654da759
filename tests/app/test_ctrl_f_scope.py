"""Ctrl+F searches what has the focus: the containers list from the list, the log from the log
(issue 22: it went to the log search with the table focused)."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt

from tests.app.support import state_text
from tests.engine.client.fake_engine import FakeEngine

pytestmark = pytest.mark.gui


def test_ctrl_f_goes_to_the_search_of_what_has_the_focus(
    qtbot: Any, fake_engine: FakeEngine, make_window: Any,
) -> None:
    id = fake_engine.add_container("web", state="running")
    window = make_window(fake_engine.url)
    page = window.containers_page
    qtbot.waitUntil(lambda: state_text(window, "web") == "running")
    assert page.select_container(id)
    window.open_detail_tab("Logs")
    qtbot.waitUntil(window.detail.logs.isVisible)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    page.table.setFocus()
    qtbot.waitUntil(page.table.hasFocus)
    qtbot.keyClick(page.table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert page.search.hasFocus()  # the list's filter, not the log's search
    window.detail.logs.view.setFocus()
    qtbot.waitUntil(window.detail.logs.view.hasFocus)
    qtbot.keyClick(window.detail.logs.view, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.detail.logs.query.hasFocus()
