"""Errors say words, not internals: no object reprs or HTML entities, names for container ids, and
the next step for the engine the socket belongs to (issue 22)."""

from __future__ import annotations

import html
import shutil
from typing import Any

import pytest

from app.display import plain_reason
from tests.app.support import state_text
from tests.engine.client.fake_engine import FakeEngine, short_socket_dir

pytestmark = pytest.mark.gui


def test_plain_reason_drops_object_reprs_and_entities() -> None:
    aiohttp = ("Cannot connect to host example.com:2376 ssl:<ssl.SSLContext object at 0x7f3c2a1b9d50> "
               "[Errno 111] Connection refused")
    assert plain_reason(aiohttp) == "Cannot connect to host example.com:2376 (TLS) Connection refused"
    assert plain_reason("No such image: &#x27;busybox&#x27; &amp; co") == "No such image: 'busybox' & co"


@pytest.mark.parametrize(("name", "says"), [
    ("docker.sock", "Start Docker"), ("podman/podman.sock", "podman.socket"), ("berth.sock", "berthd"),
])
def test_a_missing_socket_gets_the_next_step_of_its_own_engine(
    qtbot: Any, make_window: Any, name: str, says: str,
) -> None:
    directory = short_socket_dir()
    try:
        window = make_window(f"unix://{directory / name}")
        page = window.containers_page
        qtbot.waitUntil(lambda: page.stack.currentWidget() is page.unreachable)
        message = page.unreachable.message
        assert says in message and "the socket does not exist" in message
        if name != "berth.sock":
            assert "berthd" not in message
        assert "0x" not in message and "&amp;#" not in message
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_a_failed_action_names_the_container_not_its_id(
    qtbot: Any, fake_engine: FakeEngine, make_window: Any,
) -> None:
    id = fake_engine.add_container("web", state="running")
    window = make_window(fake_engine.url)
    qtbot.waitUntil(lambda: state_text(window, "web") == "running")
    window.containers.actionFailed.emit(id, "stop", f"container {id} is marked for removal &#x27;now&#x27;")
    text = html.unescape(window.containers_page.message.text())  # as the label shows it
    assert text == "Could not stop web: container web is marked for removal 'now'"
