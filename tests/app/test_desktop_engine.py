"""Berth Desktop against a real berthd (root, conmon and runc/crun; fixtures in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.desktop.window import MainWindow
from engine.client import EngineClient
from tests.app.support import save_screenshot, state_text

pytestmark = pytest.mark.gui

NAME = "berth-desktop-stop"


@pytest.mark.integration
def test_stop_a_running_container_from_the_window(
    qtbot: Any,
    berthd: Any,
    busybox_image: str,
    make_window: Callable[[str], MainWindow],
    run_async: Callable[..., Any],
) -> None:
    window = make_window(berthd.url)
    window.resize(1100, 560)
    page = window.containers_page
    engine = EngineClient(berthd.url)

    async def create_and_start() -> str:
        id = await engine.create_container({"Image": busybox_image, "Cmd": ["sleep", "300"]}, name=NAME)
        await engine.start(id)
        return id

    id = run_async(create_and_start())
    try:
        qtbot.waitUntil(lambda: state_text(window, NAME) == "running", timeout=20_000)
        assert "answers" in window.engine_status.plain_text

        assert page.select_container(id)
        stop_button = page.toolbar.widgetForAction(page.action_stop)
        qtbot.waitUntil(stop_button.isEnabled)
        qtbot.mouseClick(stop_button, Qt.MouseButton.LeftButton)

        # busybox sleep ignores SIGTERM as PID 1: the engine kills it after the stop timeout.
        qtbot.waitUntil(lambda: (state_text(window, NAME) or "").startswith("exited"), timeout=30_000)
        assert page.stack.currentWidget() is page.table
        page.table.clearSelection()  # show the state's colour, not the selection's
        path = save_screenshot(window, "containers.png")
        assert path.stat().st_size > 0
    finally:

        async def cleanup() -> None:
            try:
                await engine.remove(id, force=True)
            finally:
                await engine.close()

        run_async(cleanup(), 30_000)


def test_no_engine_shows_the_message_and_retry(
    qtbot: Any, make_window: Callable[[str], MainWindow], tmp_path: Path
) -> None:
    window = make_window(f"unix://{tmp_path}/no-engine.sock")
    page = window.containers_page
    qtbot.waitUntil(lambda: page.stack.currentWidget() is page.unreachable)
    assert "Cannot reach the engine" in page.unreachable.message
    assert page.unreachable.retry.isVisible() and page.unreachable.retry.text() == "Retry"
    assert "not answering" in window.engine_status.plain_text
