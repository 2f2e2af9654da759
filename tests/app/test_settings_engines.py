"""Settings lists only engine sockets that exist, each with its status, and picking a missing or dead
socket says what to do for that engine: dockerd, podman or berthd (issue 22)."""

from __future__ import annotations

import html
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.desktop.window import MainWindow
from app.display import engine_advice
from app.services.socket_status import SocketStatus, socket_status
from app.widgets.settings_page import advice
from tests.engine.client.fake_engine import short_socket_dir

pytestmark = [pytest.mark.gui]


def _texts(window: MainWindow) -> list[str]:
    page = window.settings_page
    return [page.contexts.item(row).text() for row in range(page.contexts.count())]


def _said(window: MainWindow) -> str:
    return html.unescape(window.settings_page.message.text()).replace("\u200b", "")


def test_only_sockets_that_exist_are_listed_with_their_status(
    qtbot: Any, fake_engine: Any, make_window: Callable[[str], MainWindow], monkeypatch: pytest.MonkeyPatch,
) -> None:
    directory = short_socket_dir()
    dead = directory / "dead.sock"
    # A socket file nobody listens on any more: an engine that stopped without removing it.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(dead))
    try:
        window = make_window(fake_engine.url)
        qtbot.waitUntil(lambda: window.connection.status.reachable is True, timeout=10_000)
        window.show_place("settings")
        page = window.settings_page
        texts = _texts(window)
        # None of the built-in sockets exists on this machine: none is listed, each is named below.
        for missing in ("/var/run/docker.sock", "/run/podman/podman.sock", "/run/berth/berth.sock"):
            assert not Path(missing).exists()
            assert not any(missing in t for t in texts), texts
        assert page.absent.isVisible()
        for name in ("dockerd", "podman", "local berthd"):
            assert name in page.absent.text()
        # The current engine answers.
        assert page.status_of(fake_engine.url) == "reachable"
        assert any(fake_engine.url in t and "reachable" in t for t in texts)

        # Picking a missing socket: what to do for THAT engine, and no switch.
        for url, says in (("unix:///var/run/docker.sock", "sudo systemctl start docker"),
                          ("unix:///run/podman/podman.sock", "systemctl --user start podman.socket"),
                          ("unix:///run/berth/berth.sock", "berthd")):
            page.absent.linkActivated.emit(url)
            assert page.message.isVisible() and says in _said(window), _said(window)
            assert "does not exist" in _said(window)
            assert window.connection.url == fake_engine.url
        assert "docker" not in advice("unix:///run/podman/podman.sock", SocketStatus.MISSING)

        # An engine added by the user whose socket is there but dead: listed as not running.
        page.new_name.setText("stale")
        page.new_url.setText(f"unix://{dead}")
        page.add_button.click()
        assert "not running" in _said(window)
        assert page.status_of(f"unix://{dead}") == "not running"
        stale = next(page.contexts.item(r) for r in range(page.contexts.count())
                     if "stale" in page.contexts.item(r).text())
        page.contexts.setCurrentItem(stale)
        page.use.click()
        assert _said(window) == advice(f"unix://{dead}", SocketStatus.NOT_RUNNING)
        assert window.connection.url == fake_engine.url  # not switched to a dead engine

        # It starts: shown as reachable once the page is shown again, and usable.
        dead.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(dead))
        listener.listen(1)
        try:
            window.show_place("containers")
            window.show_place("settings")
            assert page.status_of(f"unix://{dead}") == "reachable"
        finally:
            listener.close()
    finally:
        dead.unlink(missing_ok=True)
        directory.rmdir()


@pytest.mark.unit
def test_status_and_advice_words(tmp_path: Path) -> None:
    assert socket_status("unix:///nonexistent/x.sock") is SocketStatus.MISSING
    assert socket_status("tcp://host:2376") is SocketStatus.REMOTE
    denied = engine_advice("unix:///var/run/docker.sock", True, permission_denied=True)
    assert "Permission denied" in denied and "usermod -aG docker" in denied
    assert "usermod -aG berth" in engine_advice("unix:///run/berth/berth.sock", True, permission_denied=True)
    assert "sudo systemctl start docker" in advice("unix:///var/run/docker.sock", SocketStatus.NOT_RUNNING)
