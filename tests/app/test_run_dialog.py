"""The Run dialog keeps what was typed when the engine refuses, and closes once it has run (issue 22)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.client.errors import EngineClientError
from tests.engine.client.fake_engine import FakeEngine

pytestmark = pytest.mark.gui


def test_a_refused_run_keeps_the_dialog_and_its_input(
    qtbot: Any, fake_engine: FakeEngine, make_window: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = make_window(fake_engine.url)
    qtbot.waitUntil(lambda: window.connection.status.reachable is True)
    calls: list[dict[str, Any]] = []

    async def refuse(config: dict[str, Any], name: str | None = None) -> str:
        calls.append(config)
        raise EngineClientError(400, "no command specified")

    monkeypatch.setattr(window.connection.client, "create_container", refuse)
    window.show_place("images")
    dialog = window.open_run_dialog("busybox:latest")
    dialog.name.setText("web")
    dialog.ports.setText("8000")
    dialog.env.setPlainText("GREETING=hello")
    dialog.run_button.click()
    qtbot.waitUntil(lambda: dialog.error.isVisible())
    assert "no command specified" in dialog.error.text()
    assert dialog.isVisible() and dialog.run_button.isEnabled()
    assert dialog.name.text() == "web" and dialog.env.toPlainText() == "GREETING=hello"
    assert not window.images_page.message.isVisible() and not window.notices.isVisible()  # said once, there
    assert calls[0]["HostConfig"]["PortBindings"] == {"8000/tcp": [{"HostIp": "", "HostPort": ""}]}  # -p 8000
