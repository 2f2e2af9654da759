"""The detail's Inspect tab: the raw JSON as `docker inspect` prints it (pretty, monospace), a search
that finds and highlights, and a Copy of the whole document (issue 22)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontInfo, QGuiApplication

from engine.client import EngineClient
from tests.app.support import remove_and_close

pytestmark = [pytest.mark.gui, pytest.mark.integration]


def test_inspect_shows_the_raw_json_with_search_and_copy(
    qtbot: Any, berthd: Any, busybox_image: str, make_window: Any, run_async: Any,
) -> None:
    engine = EngineClient(berthd.url)
    id = run_async(engine.create_container(
        {"Image": busybox_image, "Cmd": ["true"], "Env": ["GREETING=needle-in-json"]}, name="berth-gui-inspect"))
    try:
        window = make_window(berthd.url)
        qtbot.waitUntil(lambda: window.containers_page.select_container(id), timeout=10_000)
        detail = window.detail
        detail.show_tab("Inspect")
        view = detail.inspect_view
        qtbot.waitUntil(lambda: "needle-in-json" in view.json_text(), timeout=10_000)
        document = json.loads(view.json_text())
        assert isinstance(document, list) and document[0]["Id"] == id
        assert "\n    {\n" in view.json_text() or view.json_text().startswith("[\n    {")  # indented
        assert QFontInfo(view.text.font()).fixedPitch()

        view.search.setText("NEEDLE-in")  # case-insensitive
        assert len(view.matches) == 1 and view.count.text() == "1 of 1"
        assert len(view.text.extraSelections()) == 1
        assert view.text.textCursor().selectedText().lower() == "needle-in"
        view.search.setText('"Image"')
        found = len(view.matches)
        assert found >= 1 and len(view.text.extraSelections()) == found
        view.go_to_match(+1)
        assert view.count.text() == f"{min(2, found)} of {found}" or found == 1
        view.search.setText("no-such-text-anywhere")
        assert view.matches == [] and view.count.text() == "no match" and view.text.extraSelections() == []

        qtbot.mouseClick(view.copy_button, Qt.MouseButton.LeftButton)
        assert QGuiApplication.clipboard().text() == view.json_text()
        assert json.loads(QGuiApplication.clipboard().text())[0]["Name"] == "/berth-gui-inspect"
    finally:

        remove_and_close(run_async, engine, id)
