"""A stop that takes time shows progress: the row says "stopping…" at once (not "running" for the
stop's 10 s grace period) and the detail counts the seconds, until the engine reports it exited."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from PySide6.QtCore import Qt

from engine.client import EngineClient
from tests.app.support import remove_and_close, state_text

pytestmark = [pytest.mark.gui, pytest.mark.integration]


def test_a_slow_stop_says_stopping_with_the_elapsed_time(
    qtbot: Any, berthd: Any, busybox_image: str, make_window: Any, run_async: Any,
) -> None:
    engine = EngineClient(berthd.url)
    name = "berth-gui-slow-stop"

    async def start() -> str:
        # sleep as PID 1 has no SIGTERM handler, so the kernel ignores the signal: the stop waits 10 s.
        id = await engine.create_container({"Image": busybox_image, "Cmd": ["sleep", "300"]}, name=name)
        await engine.start(id)
        return id

    id = run_async(start(), timeout=30_000)
    try:
        window = make_window(berthd.url)
        qtbot.waitUntil(lambda: state_text(window, name) == "running", timeout=10_000)
        page = window.containers_page
        assert page.select_container(id)
        detail = window.detail
        stop = page.toolbar.widgetForAction(page.action_stop)
        qtbot.waitUntil(stop.isEnabled)
        asked = time.monotonic()
        qtbot.mouseClick(stop, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: state_text(window, name) == "stopping…", timeout=1_000)
        assert detail.stop_progress.isVisible() and detail.stop_progress.text().startswith("Stopping… 0 s")
        # Seconds go by; the engine's kill event and re-reads of the row do not turn it back to "running".
        qtbot.waitUntil(lambda: "Stopping… 3 s" in detail.stop_progress.text(), timeout=5_000)
        assert state_text(window, name) == "stopping…"
        assert "killed if it has not exited after 10 s" in detail.stop_progress.text()
        # The engine reports it exited: the row says so and the progress line goes.
        qtbot.waitUntil(lambda: (state_text(window, name) or "").startswith("exited"), timeout=20_000)
        assert time.monotonic() - asked >= 9  # it was a slow stop indeed
        qtbot.waitUntil(lambda: not detail.stop_progress.isVisible(), timeout=5_000)
        assert re.match(r"exited \(\d+\)", state_text(window, name) or "")
    finally:

        remove_and_close(run_async, engine, id)


@pytest.mark.unit
def test_the_stopping_word_lasts_until_the_engine_says_stopped(qapp: Any) -> None:
    from app.models.containers import Column, ContainersModel

    model = ContainersModel()
    running = {"Id": "a" * 64, "Names": ["/x"], "State": "running", "Status": "Up 2 minutes", "Image": "busybox"}
    model.set_containers([running])
    state = model.index(0, Column.STATE)
    model.set_stopping("a" * 64, True)
    assert model.data(state) == "stopping…"
    model.upsert({**running, "Status": "Up 3 minutes"})
    assert model.data(state) == "stopping…"
    model.upsert({**running, "State": "exited", "Status": "Exited (137) 1 second ago"})
    assert model.data(state) == "exited (137)"
    model.upsert(running)  # started again later: running, not "stopping…"
    assert model.data(state) == "running"
