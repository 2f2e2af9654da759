"""The tray icon: the engine's state on the icon and in words, and quick actions on running
containers and engines without opening the window."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from app.desktop.window import MainWindow
from app.resources import icon_path
from app.services.settings import Context
from app.widgets.tray import MAX_CONTAINERS, STATE_COLORS, BerthTray, state_icon
from tests.engine.client.fake_engine import FakeEngine

pytestmark = pytest.mark.gui


def dot_color(icon: QIcon) -> str:
    image = icon.pixmap(64, 64).toImage()
    return image.pixelColor(52, 52).name()  # inside the dot in the lower right corner


def submenu(menu: QMenu, title: str) -> QMenu:
    for action in menu.actions():
        if action.menu() is not None and action.text() == title:
            return action.menu()  # type: ignore[return-value]
    raise AssertionError(f"no submenu {title!r} in {[a.text() for a in menu.actions()]}")


def test_state_is_a_coloured_dot_and_words(qapp: Any) -> None:
    base = QIcon(str(icon_path("berth")))
    for reachable in (True, False, None):
        assert dot_color(state_icon(base, reachable)) == STATE_COLORS[reachable]
    tray = BerthTray(base)
    assert tray.state.text() == "Engine: checking…"
    tray.set_status(True, "Berth 0.1.0")
    assert tray.state.text() == "Engine: Berth 0.1.0 answers" and tray.toolTip() == "Berth — engine Berth 0.1.0 answers"
    assert dot_color(tray.icon()) == STATE_COLORS[True]
    tray.set_status(False, "", "connection refused")
    assert tray.state.text() == "Engine: not answering (connection refused)"
    assert dot_color(tray.icon()) == STATE_COLORS[False]


def test_quick_actions_on_running_containers_and_engines(qtbot: Any) -> None:
    tray = BerthTray(QIcon(str(icon_path("berth"))))
    assert [a.text() for a in tray.containers.actions()] == ["none running"]
    tray.set_containers([("id-web", "web"), ("id-db", "db")])
    web = submenu(tray.containers, "web")
    assert [a.text() for a in web.actions()] == ["Show logs", "Restart", "Stop"]
    with qtbot.waitSignal(tray.containerAction) as chosen:
        web.actions()[2].trigger()
    assert chosen.args == ["id-web", "stop"]
    tray.set_containers([(f"id{i}", f"c{i}") for i in range(MAX_CONTAINERS + 3)])
    assert tray.containers.actions()[-1].text() == "… 3 more in the window"
    tray.set_contexts([Context("here", "unix:///a.sock"), Context("there", "ssh://box")], "ssh://box")
    assert [(a.text(), a.isChecked()) for a in tray.engines.actions()] == [("here", False), ("there", True)]
    with qtbot.waitSignal(tray.contextChosen) as picked:
        tray.engines.actions()[0].trigger()
    assert picked.args == ["unix:///a.sock"]


def test_window_keeps_the_tray_current_and_its_actions_work(
    qtbot: Any, fake_engine: FakeEngine, make_window: Callable[[str], MainWindow], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Offscreen has no tray: pretend there is one (the icon is made but never shown on a desktop).
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    web = fake_engine.add_container("web", state="running")
    fake_engine.add_container("job", state="exited")
    window = make_window(fake_engine.url)
    tray = window.tray
    assert tray is not None
    qtbot.waitUntil(lambda: tray.state.text() == "Engine: Fake Engine 9.9.9 answers", timeout=10_000)
    qtbot.waitUntil(lambda: [a.text() for a in tray.containers.actions()] == ["web"], timeout=10_000)
    assert [a.text() for a in tray.engines.actions()][:1] == ["current"]  # the window's engine, checked
    submenu(tray.containers, "web").actions()[0].trigger()  # Show logs
    assert window.current_place() == "containers" and window.containers_page.current_id() == web
    assert window.detail.tabs.tabText(window.detail.tabs.currentIndex()) == "Logs"
    submenu(tray.containers, "web").actions()[2].trigger()  # Stop
    qtbot.waitUntil(lambda: fake_engine.containers[web].state == "exited", timeout=10_000)
    qtbot.waitUntil(lambda: [a.text() for a in tray.containers.actions()] == ["none running"], timeout=10_000)
    assert not any("unexpectedly" in notice for notice in window.notices.notices)  # a stop asked for is no crash
