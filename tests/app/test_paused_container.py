"""A paused container is up: the list offers Stop (not Start) and the engine stops it; removing it
asks first, as for a running one (issue 22)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.client import EngineClient
from tests.app.support import remove_and_close, state_text

pytestmark = [pytest.mark.gui, pytest.mark.integration]


def test_a_paused_container_offers_stop_and_stops(
    qtbot: Any, berthd: Any, busybox_image: str, make_window: Any, run_async: Any,
) -> None:
    engine = EngineClient(berthd.url)

    async def run_paused() -> str:
        id = await engine.create_container({"Image": busybox_image, "Cmd": ["sleep", "300"]}, name="berth-gui-paused")
        await engine.start(id)
        await engine.pause(id)
        return id

    id = run_async(run_paused(), timeout=30_000)
    try:
        window = make_window(berthd.url)
        page = window.containers_page
        qtbot.waitUntil(lambda: state_text(window, "berth-gui-paused") == "paused", timeout=10_000)
        assert page.select_container(id)
        qtbot.waitUntil(page.action_stop.isEnabled)
        assert not page.action_start.isEnabled() and page.actions_by_name["unpause"].isEnabled()
        page.action_remove.trigger()  # up, so removing it would kill it: asked first
        assert window.confirmation is not None and "berth-gui-paused" in window.confirmation.text()
        window.confirmation.reject()
        page.action_stop.trigger()
        qtbot.waitUntil(lambda: (state_text(window, "berth-gui-paused") or "").startswith("exited"), timeout=30_000)
        assert page.action_start.isEnabled() and not page.action_stop.isEnabled()
    finally:

        remove_and_close(run_async, engine, id)
