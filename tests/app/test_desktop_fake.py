"""The desktop against an in-memory engine: events, fallback refresh, actions, unreachable."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from PySide6.QtCore import Qt

from tests.app.support import SCREENSHOTS, run_in_loop, save_screenshot, state_text
from tests.engine.client.fake_engine import FakeEngine, short_socket_dir

pytestmark = pytest.mark.gui


def test_lists_and_follows_events(qtbot: Any, fake_engine: FakeEngine, make_window: Any) -> None:
    fake_engine.add_container("web", state="running")
    window = make_window(fake_engine.url)
    qtbot.waitUntil(lambda: state_text(window, "web") == "running")
    assert "Fake Engine 9.9.9" in window.engine_status.plain_text
    assert "answers" in window.engine_status.plain_text
    qtbot.waitUntil(lambda: window.connection.status.events is True)

    id = fake_engine.add_container("db", state="created")
    qtbot.waitUntil(lambda: state_text(window, "db") == "created")
    fake_engine.set_state(id, "exited", exit_code=3)
    qtbot.waitUntil(lambda: state_text(window, "db") == "exited (3)")


def test_stop_and_remove_through_actions(qtbot: Any, fake_engine: FakeEngine, make_window: Any) -> None:
    id = fake_engine.add_container("web", state="running")
    window = make_window(fake_engine.url)
    page = window.containers_page
    qtbot.waitUntil(lambda: state_text(window, "web") == "running")
    assert page.select_container(id)
    assert page.action_stop.isEnabled() and not page.action_start.isEnabled()
    page.action_stop.trigger()
    qtbot.waitUntil(lambda: state_text(window, "web") == "exited (137)")
    assert page.action_start.isEnabled()

    page.action_remove.trigger()  # stopped: removed without a question
    qtbot.waitUntil(lambda: window.containers_model.rowCount() == 0)
    assert window.confirmation is None
    assert page.stack.currentWidget() is page.empty


def test_remove_running_asks_first(qtbot: Any, fake_engine: FakeEngine, make_window: Any) -> None:
    id = fake_engine.add_container("web", state="running")
    window = make_window(fake_engine.url)
    page = window.containers_page
    qtbot.waitUntil(lambda: state_text(window, "web") == "running")
    page.select_container(id)
    page.action_remove.trigger()
    box = window.confirmation
    assert box is not None and box.isVisible()
    assert "web" in box.text()
    box.reject()  # Cancel: nothing happens
    qtbot.wait(100)
    assert state_text(window, "web") == "running"

    page.action_remove.trigger()
    box = window.confirmation
    assert box is not None
    destructive = [b for b in box.buttons() if box.buttonRole(b) == box.ButtonRole.DestructiveRole]
    qtbot.mouseClick(destructive[0], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.containers_model.rowCount() == 0)
    assert fake_engine.containers == {}


def test_without_events_refreshes_after_actions(qtbot: Any, fake_engine: FakeEngine, make_window: Any) -> None:
    fake_engine.events_enabled = False
    id = fake_engine.add_container("web", state="running")
    window = make_window(fake_engine.url)
    page = window.containers_page
    qtbot.waitUntil(lambda: window.connection.status.events is False)
    qtbot.waitUntil(lambda: state_text(window, "web") == "running")
    assert "no live updates" in window.engine_status.plain_text
    page.select_container(id)
    page.action_stop.trigger()
    qtbot.waitUntil(lambda: state_text(window, "web") == "exited (137)")


def test_action_error_shows_in_place(qtbot: Any, fake_engine: FakeEngine, make_window: Any) -> None:
    id = fake_engine.add_container("web", state="running")
    window = make_window(fake_engine.url)
    page = window.containers_page
    qtbot.waitUntil(lambda: state_text(window, "web") == "running")
    fake_engine.call(lambda: fake_engine.containers.pop(id))  # gone behind the app's back
    window.containers.start(id)
    qtbot.waitUntil(lambda: page.message.isVisible())
    assert "No such container" in page.message.text()


def test_unreachable_then_retry(qtbot: Any, make_window: Any) -> None:
    directory = short_socket_dir()
    socket = directory / "later.sock"
    window = make_window(f"unix://{socket}")
    page = window.containers_page
    qtbot.waitUntil(lambda: page.stack.currentWidget() is page.unreachable)
    assert "Cannot reach the engine" in page.unreachable.message
    assert "the socket does not exist" in page.unreachable.message
    assert page.unreachable.retry.isVisible()
    assert "not answering" in window.engine_status.plain_text
    assert not page.action_stop.isEnabled()
    save_screenshot(window, "engine-unreachable.png")

    engine = FakeEngine(socket).start()  # the engine comes up; Retry finds it
    try:
        engine.add_container("web", state="running")
        qtbot.mouseClick(page.unreachable.retry, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: state_text(window, "web") == "running")
        assert page.stack.currentWidget() is page.table
    finally:
        run_in_loop(qtbot, window.shutdown())
        engine.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("theme_name", ["light", "dark", "high-contrast"])
def test_screenshots_in_both_themes(
    qtbot: Any, qapp: Any, fake_engine: FakeEngine, make_window: Any, theme_name: str
) -> None:
    """Every page in each theme, kept under artifacts/screenshots so a change in look is seen."""
    from app.desktop.theme import Theme, apply_theme

    for name, state, code in [("web", "running", 0), ("job", "exited", 0), ("crashed", "exited", 2)]:
        id = fake_engine.add_container(name, state=state)
        if state == "exited":
            fake_engine.set_state(id, state, exit_code=code)
    fake_engine.add_container("paused-one", state="paused")
    fake_engine.add_container("fresh", state="created")
    fake_engine.volumes.append({"Name": "data", "Driver": "local", "Mountpoint": "/v/data", "Labels": {},
                                "Scope": "local"})
    theme = Theme.load(theme_name)
    apply_theme(qapp, theme)
    try:
        window = make_window(fake_engine.url)
        window.use_theme(theme)
        window.resize(1180, 620)
        qtbot.waitUntil(lambda: window.containers_model.rowCount() == 5)
        qtbot.waitUntil(lambda: window.connection.status.events is True)
        qtbot.waitUntil(lambda: window.images_model.rowCount() == 1 and window.volumes_model.rowCount() == 1)
        assert state_text(window, "crashed") == "exited (2)"
        page = window.containers_page
        # A row selected: its actions show at its end, as on the row under the pointer.
        assert page.select_container(page.model.ids()[0])
        qtbot.waitUntil(page.row_actions.isVisible)
        save_screenshot(window, f"containers-fake-{theme_name}.png")
        for place in ("stats", "images", "volumes", "networks", "compose", "machines", "settings"):
            window.show_place(place)
            if place == "images":
                window.images_page.table.selectRow(0)  # its row actions enabled, as when in use
            qtbot.wait(20)
            save_screenshot(window, f"fake-{place}-{theme_name}.png")
        # The dialogs: a "…" action's, refused with its words and the next step; Run… with its picker.
        window.show_place("images")
        pull = window.images_page.open_pull_dialog()
        pull.fields["image"].setText("busybox:nosuchtag")
        pull.failed("Could not pull busybox:nosuchtag: manifest unknown")
        qtbot.wait(20)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        assert pull.grab().save(str(SCREENSHOTS / f"dialog-pull-{theme_name}.png"))
        pull.reject()
        window.show_place("containers")
        run = window.open_run_dialog("")
        qtbot.wait(20)
        assert run.grab().save(str(SCREENSHOTS / f"dialog-run-{theme_name}.png"))
        run.reject()
    finally:
        apply_theme(qapp, Theme.load("light"))
