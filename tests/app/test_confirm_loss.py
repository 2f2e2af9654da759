"""Removing what holds data asks first, says what would be lost, and Enter confirms (issue 22)."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt

from tests.app.support import state_text
from tests.engine.client.fake_engine import FakeEngine

pytestmark = pytest.mark.gui


def _recorder(monkeypatch: pytest.MonkeyPatch, service: Any) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(service, "remove", lambda name, *a, **k: calls.append(name))
    return calls


def test_removing_an_image_in_use_asks_and_names_its_containers(
    qtbot: Any, fake_engine: FakeEngine, make_window: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_engine.add_container("web", state="running")  # made from the fake's one image
    window = make_window(fake_engine.url)
    qtbot.waitUntil(lambda: state_text(window, "web") == "running")
    qtbot.waitUntil(lambda: window.images_model.row_of("busybox:latest") is not None)
    removed = _recorder(monkeypatch, window.images)
    window.show_place("images")
    page = window.images_page
    assert page.select_key("busybox:latest")

    page.remove_button.click()
    box = window.confirmation
    assert box is not None and box.isVisible()
    assert "busybox:latest" in box.text() and "1.23MB" in box.text()
    assert "1 container" in box.informativeText() and "web" in box.informativeText()
    qtbot.keyClick(box, Qt.Key.Key_Escape)  # Escape keeps it
    qtbot.wait(50)
    assert removed == []

    page.remove_button.click()
    box = window.confirmation
    assert box is not None and box.isVisible()
    qtbot.keyClick(box, Qt.Key.Key_Return)  # one keystroke confirms
    qtbot.waitUntil(lambda: removed == ["busybox:latest"])


def test_removing_a_volume_with_files_asks_and_an_empty_one_does_not(
    qtbot: Any, fake_engine: FakeEngine, make_window: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = make_window(fake_engine.url)
    removed = _recorder(monkeypatch, window.volumes)
    fake_engine.volumes = [
        {"Name": "data", "Driver": "local", "UsageData": {"Size": 12_345, "RefCount": 0}},
        {"Name": "empty", "Driver": "local", "UsageData": {"Size": 0, "RefCount": 0}},
        {"Name": "unknown", "Driver": "local"},
    ]
    window.show_place("volumes")
    page = window.volumes_page
    qtbot.waitUntil(lambda: page.select_key("unknown"))

    assert page.select_key("empty")
    page.remove_button.click()
    qtbot.waitUntil(lambda: removed == ["empty"])
    assert window.confirmation is None  # nothing to lose: no question

    assert page.select_key("data")
    page.remove_button.click()
    qtbot.waitUntil(lambda: window.confirmation is not None and window.confirmation.isVisible())
    box = window.confirmation
    assert box is not None
    assert "data" in box.text() and "12.3kB" in box.text()
    assert "for good" in box.informativeText()
    assert removed == ["empty"]
    qtbot.keyClick(box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: removed == ["empty", "data"])

    assert page.select_key("unknown")
    window.confirmation = None  # the last box is gone (deleted once answered)
    page.remove_button.click()
    qtbot.waitUntil(lambda: window.confirmation is not None and "unknown" in window.confirmation.text())
    box = window.confirmation
    assert "size is unknown" in box.text()
    box.reject()
    qtbot.wait(50)
    assert removed == ["empty", "data"]


def test_a_volume_question_names_the_files_it_would_delete() -> None:
    from app.dialogs.confirm import volume_loss

    text, details = volume_loss("db", 0, ["web"], ["here", "pg_data"])
    assert "2 items (here, pg_data), 0B" in text  # a size of 0 with files in it still asks
    assert "Mounted by web" in details
