"""The detail's Terminal: its button says what it does while connected, and its shell does not
outlive the tab (issue 22); the Overview shows the command with its quoting."""

from __future__ import annotations

from typing import Any

import pytest

from app.display import command_line
from engine.client import EngineClient
from tests.app.support import remove_and_close, state_text

pytestmark = [pytest.mark.gui, pytest.mark.integration]


def test_the_shell_ends_when_the_tab_is_left_and_the_command_keeps_its_quotes(
    qtbot: Any, berthd: Any, busybox_image: str, make_window: Any, run_async: Any,
) -> None:
    engine = EngineClient(berthd.url)

    async def start() -> str:
        id = await engine.create_container(
            {"Image": busybox_image, "Cmd": ["sh", "-c", "echo hi; sleep 300"]}, name="berth-gui-term")
        await engine.start(id)
        return id

    async def shells(id: str) -> int:
        top = await engine.top(id)
        return sum(1 for row in top.get("Processes") or [] if "/bin/sh" in " ".join(map(str, row)))

    id = run_async(start(), timeout=30_000)
    try:
        window = make_window(berthd.url)
        qtbot.waitUntil(lambda: state_text(window, "berth-gui-term") == "running", timeout=10_000)
        assert window.containers_page.select_container(id)
        detail = window.detail
        qtbot.waitUntil(lambda: "echo hi; sleep 300" in detail.overview.text(), timeout=10_000)
        assert "sh -c &#x27;echo hi; sleep 300&#x27;" in detail.overview.text() or \
            "sh -c 'echo hi; sleep 300'" in detail.overview.text()
        detail.show_tab("Terminal")
        qtbot.waitUntil(lambda: detail.session is not None and detail.session.active, timeout=20_000)
        qtbot.waitUntil(lambda: detail.terminal_button.text() == "Disconnect", timeout=5_000)
        qtbot.waitUntil(lambda: run_async(shells(id)) == 1, timeout=10_000)
        detail.show_tab("Logs")
        assert detail.session is None and detail.terminal_button.text() == "Connect"
        qtbot.waitUntil(lambda: run_async(shells(id)) == 0, timeout=10_000)  # the exec is gone
    finally:

        remove_and_close(run_async, engine, id)


@pytest.mark.unit
def test_command_line_quotes_as_typed() -> None:
    assert command_line({"Entrypoint": ["/init"], "Cmd": ["sh", "-c", "echo hi; sleep 1"]}) == \
        "/init sh -c 'echo hi; sleep 1'"
