"""The Run dialog of a peer (issue 22): it keeps what was typed when the engine refuses; it lists the
image's EXPOSE ports with host-port fields, warns before running an image with no command, has
+/- rows, an Advanced section and the `docker run` line, and what it shows is what runs."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from engine.client import EngineClient
from engine.client.errors import EngineClientError
from tests.app.support import state_text
from tests.engine.client.fake_engine import FakeEngine

pytestmark = pytest.mark.gui


def test_a_refused_run_keeps_the_dialog_and_its_input(
    qtbot: Any, fake_engine: FakeEngine, make_window: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = make_window(fake_engine.url)
    qtbot.waitUntil(lambda: window.connection.status.reachable is True)
    calls: list[dict[str, Any]] = []

    async def refuse(config: dict[str, Any], *, name: str | None = None, platform: str = "") -> dict[str, Any]:
        calls.append(config)
        raise EngineClientError(400, "no command specified")

    monkeypatch.setattr(window.connection.client, "create", refuse)
    window.show_place("images")
    dialog = window.open_run_dialog("busybox:latest")
    dialog.name.setText("web")
    dialog.ports.add_button.click()
    dialog.ports.rows[-1][1].setText("8000")
    dialog.env.add_row("GREETING", "hello")
    dialog.run_button.click()
    qtbot.waitUntil(lambda: dialog.error.isVisible())
    assert "no command specified" in dialog.error.text()
    assert dialog.isVisible() and dialog.run_button.isEnabled()
    assert dialog.name.text() == "web" and dialog.env.values() == [("GREETING", "hello")]
    # said once, there
    assert not window.images_page.message.isVisible(), window.images_page.message.text()
    assert not window.notices.isVisible(), window.notices.notices
    assert calls[0]["HostConfig"]["PortBindings"] == {"8000/tcp": [{"HostIp": "", "HostPort": ""}]}  # -p 8000
    assert dialog.run_line.text() == "docker run -d --name web -p 8000 -e GREETING=hello busybox:latest"


def test_rows_come_and_go_and_the_line_follows(qtbot: Any) -> None:
    from app.dialogs.run import RunDialog

    dialog = RunDialog("busybox:latest")
    qtbot.addWidget(dialog)
    dialog.volumes.add_button.click()
    row = dialog.volumes.rows[-1]
    row[1].setText("data")
    row[2].setText("/data")
    dialog.env.add_row("A", "1")
    assert dialog.run_line.text() == "docker run -d -v data:/data -e A=1 busybox:latest"
    minus = row[0].findChildren(type(dialog.advanced_toggle))[0]
    minus.click()
    assert dialog.volumes.values() == [] and dialog.run_line.text() == "docker run -d -e A=1 busybox:latest"
    dialog.show()
    assert not dialog.advanced.isVisible()
    dialog.advanced_toggle.click()
    assert dialog.advanced.isVisible()
    dialog.restart.setCurrentText("always")
    dialog.remove.setChecked(True)
    dialog.run_button.click()  # restart and --rm together: refused in place, nothing sent
    assert dialog.error.isVisible() and "--rm" in dialog.error.text() and dialog.run_button.isEnabled()


@pytest.mark.integration
def test_exposed_ports_publish_and_a_missing_command_is_said_first(
    qtbot: Any, berthd: Any, busybox_image: str, make_window: Any, run_async: Any, tmp_path: Path,
) -> None:
    engine = EngineClient(berthd.url)
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nEXPOSE 8080 53/udp\nLABEL berth.test=run\n")

    async def build() -> None:
        async for _ in engine.build_image(tmp_path, "berth-gui-exposed:latest"):
            pass

    run_async(build(), timeout=60_000)
    window = make_window(berthd.url)
    qtbot.waitUntil(lambda: window.connection.status.reachable is True)
    window.show_place("images")
    dialog = window.open_run_dialog("berth-gui-exposed:latest")
    # The image's ports are rows, its own, with a host-port field each; no command of its own is
    # said before anything is sent.
    qtbot.waitUntil(lambda: len(dialog.ports.rows) == 2, timeout=10_000)
    assert [(first.text(), first.isReadOnly()) for _, first, _ in dialog.ports.rows] == [
        ("53/udp", True), ("8080", True)]
    assert dialog.warning.isVisible() and "no command" in dialog.warning.text()
    assert dialog.network.findText("bridge") >= 0
    dialog.name.setText("berth-gui-exposed")
    dialog.run_button.click()
    assert dialog.isVisible() and dialog.advanced.isVisible() and "command" in dialog.error.text()
    assert state_text(window, "berth-gui-exposed") is None  # nothing was created
    dialog.ports.rows[1][2].setText("0")  # 8080 on any free host port; 53/udp left unpublished
    dialog.command.setText("sleep 300")
    dialog.restart.setCurrentText("on-failure")
    dialog.labels.add_row("team", "web")
    assert not dialog.warning.isVisible()
    assert dialog.run_line.text() == ("docker run -d --name berth-gui-exposed --restart on-failure -p 8080 "
                                      "--label team=web berth-gui-exposed:latest sleep 300")
    dialog.run_button.click()
    try:
        qtbot.waitUntil(lambda: state_text(window, "berth-gui-exposed") == "running" or dialog.error.isVisible(),
                        timeout=20_000)
        assert not dialog.error.isVisible(), dialog.error.text()
        assert not dialog.isVisible()
        inspect = run_async(engine.inspect_container("berth-gui-exposed"))
        ports = inspect["NetworkSettings"]["Ports"]
        assert ports.get("53/udp") is None and int(ports["8080/tcp"][0]["HostPort"]) > 0
        assert inspect["HostConfig"]["RestartPolicy"]["Name"] == "on-failure"
        assert inspect["Config"]["Labels"]["team"] == "web" and inspect["Config"]["Cmd"] == ["sleep", "300"]
    finally:
        async def clean() -> None:
            # Stopped first: berthd takes 30 s to force-remove a running container with a restart
            # policy (dockerd does it at once), which is not what this test is about.
            for call in (lambda: engine.stop("berth-gui-exposed", timeout=0),
                         lambda: engine.remove("berth-gui-exposed", force=True),
                         lambda: engine.remove_image("berth-gui-exposed:latest", force=True)):
                with contextlib.suppress(EngineClientError):
                    await call()
            await engine.close()

        run_async(clean(), timeout=30_000)


def test_run_on_the_containers_page_opens_the_dialog_with_an_image_picker(
    qtbot: Any, fake_engine: FakeEngine, make_window: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from PySide6.QtCore import Qt

    window = make_window(fake_engine.url)
    qtbot.waitUntil(lambda: window.images_model.rowCount() > 0)
    asked: list[str] = []
    monkeypatch.setattr(window.images, "run_details", asked.append)
    monkeypatch.setattr(window.containers, "run", lambda *args: None)  # what is sent is checked, not run
    page = window.containers_page
    run = next(b for b in page.toolbar.factory_buttons() if b.text() == "Run…")
    qtbot.mouseClick(run, Qt.MouseButton.LeftButton)
    dialog = window.run_dialog
    assert dialog is not None and dialog.isVisible()
    assert window.pages.currentWidget() is page  # no detour through the Images page
    assert dialog.windowTitle() == "Run a container" and dialog.image_box.accessibleName() == "Image"
    assert dialog.focusWidget() is dialog.image_box or dialog.image_box.isAncestorOf(dialog.focusWidget())
    assert [dialog.image_box.itemText(i) for i in range(dialog.image_box.count())] == ["busybox:latest"]
    # No image yet: said in the dialog, nothing sent.
    sent: list[dict[str, Any]] = []
    dialog.runRequested.connect(lambda config, name, platform: sent.append(config))
    dialog.image_box.setCurrentText("")
    dialog.run_button.click()
    assert dialog.error.text() == "Choose the image to run, e.g. busybox:latest." and not sent
    # Picked from the list: the image's details are asked for, the line and the run follow it.
    dialog.image_box.setCurrentIndex(0)
    dialog.image_box.setCurrentText("busybox:latest")
    assert asked == ["busybox:latest"] and dialog.windowTitle() == "Run busybox:latest"
    assert dialog.run_line.text() == "docker run -d busybox:latest"
    dialog.has_command = True
    dialog.run_button.click()
    assert sent and sent[0]["Image"] == "busybox:latest"
