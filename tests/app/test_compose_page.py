"""The Compose page: its models, its empty state, and a project's whole life against a real berthd."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox

from app.desktop.theme import Theme, apply_theme
from app.desktop.window import MainWindow
from app.display import Tone
from app.models.compose import TONE_ROLE, container_item, project_containers_model, project_item, projects_model
from engine import compose
from engine.client import EngineClient
from tests.app.test_pages_engine import shoot
from tests.engine.client.fake_engine import FakeEngine

PROJECT = "berth-gui-compose"
COMPOSE_YAML = f"""\
name: {PROJECT}
services:
  sleeper:
    image: busybox:latest
    init: true
    command: ["sh", "-c", "echo sleeper ready; exec sleep 300"]
  web:
    image: busybox:latest
    init: true
    command: ["httpd", "-f", "-v", "-p", "8080"]
"""


def summary(name: str, running: int, total: int) -> compose.ProjectSummary:
    return compose.ProjectSummary(name=name, working_dir=f"/src/{name}", config_files=[f"/src/{name}/compose.yaml"],
                                  services=["db", "web"], running=running, total=total)


@pytest.mark.gui
def test_compose_models_pass_qtmodeltester(qtmodeltester: Any) -> None:
    projects = projects_model()
    projects.set_items([project_item(summary("shop", 2, 2)), project_item(summary("blog", 1, 2))])
    qtmodeltester.check(projects, force_py=True)
    projects.set_items([project_item(summary("shop", 0, 2))])
    qtmodeltester.check(projects, force_py=True)
    assert projects.data(projects.index(0, 1)) == "stopped (0/2)"
    assert projects.data(projects.index(0, 1), TONE_ROLE) == Tone.NEUTRAL.value
    assert projects.data(projects.index(0, 4)) == "/src/shop/compose.yaml"

    containers = project_containers_model()
    states = [compose.ContainerState(id=f"{i:064x}", name=f"shop-web-{i}", service="web", number=i,
                                     image="busybox", state=state, status=status, ports=["8080/tcp"], oneoff=False,
                                     config_hash="", labels={})
              for i, (state, status) in enumerate([("running", "Up 3 seconds"), ("exited", "Exited (1) 2 s ago")])]
    containers.set_items([container_item(s) for s in states])
    qtmodeltester.check(containers, force_py=True)
    assert containers.data(containers.index(0, 2), TONE_ROLE) == Tone.OK.value
    assert containers.data(containers.index(1, 2), TONE_ROLE) == Tone.ERROR.value


@pytest.mark.gui
def test_empty_state_explains_and_offers_a_file(
    qtbot: Any, fake_engine: FakeEngine, make_window: Callable[[str], MainWindow]
) -> None:
    window = make_window(fake_engine.url)
    qtbot.waitUntil(lambda: window.connection.status.reachable is True, timeout=10_000)
    window.show_place("compose")
    page = window.compose_page
    assert page.stack.currentWidget() is page.empty
    assert "compose.yaml" in page.empty_text.text()
    assert not page.up_button.isEnabled() and not page.down_button.isEnabled()
    dialog = page.ask_file()
    assert dialog.isVisible()
    dialog.reject()
    commands = [c[0] for c in window.palette_commands()]
    assert "Open a compose file…" in commands and "Go to Compose" in commands


@pytest.mark.gui
@pytest.mark.integration
def test_compose_project_up_stop_up_logs_down(
    qtbot: Any, qapp: Any, berthd: Any, busybox_image: str, tmp_path: Path,
    make_window: Callable[[str], MainWindow], run_async: Callable[..., Any],
) -> None:
    (tmp_path / "compose.yaml").write_text(COMPOSE_YAML)
    window = make_window(berthd.url)
    window.resize(1280, 860)
    page = window.compose_page
    model = window.compose_model

    def status() -> str:
        return str((model.item(PROJECT) or {}).get("status", ""))

    try:
        window.show_place("compose")
        qtbot.waitUntil(lambda: window.connection.status.reachable is True, timeout=20_000)
        # "Open compose file…" with the dialog answered by the test.
        page.open_files([str(tmp_path / "compose.yaml")])
        qtbot.waitUntil(lambda: status() == "running (2/2)", timeout=60_000)
        job = next(j for j in window.jobs.jobs if j.title == f"compose up {PROJECT}")
        qtbot.waitUntil(lambda: job.state == "done", timeout=10_000)
        assert any("Started" in line for line in job.log)
        item = model.item(PROJECT) or {}
        assert item["services"] == ["sleeper", "web"]
        assert item["config_files"] == [str(tmp_path / "compose.yaml")]
        assert item["working_dir"] == str(tmp_path)
        assert page.stack.currentWidget() is page.splitter

        # Selecting the project shows its services' containers.
        qtbot.waitUntil(lambda: page.selected_project() == PROJECT, timeout=5_000)
        containers = window.compose_containers_model

        def services() -> dict[str, str]:
            rows = [containers.item(k) or {} for k in containers.all_keys()]
            return {str(r.get("service")): str(r.get("state")) for r in rows}

        qtbot.waitUntil(lambda: services() == {"sleeper": "running", "web": "running"}, timeout=10_000)

        # Logs: merged, one source per service.
        page.logs_button.click()
        assert page.logs.isVisible()
        buffer = window.compose.log_buffer
        qtbot.waitUntil(lambda: sorted(buffer.sources) == ["sleeper", "web"], timeout=10_000)
        qtbot.waitUntil(lambda: any("sleeper ready" in buffer.line(i) and buffer.sources[buffer.source(i)] == "sleeper"
                                    for i in range(len(buffer))), timeout=10_000)

        for theme_name in ("light", "dark"):
            window.choose_theme(theme_name)
            shoot(window, f"page-compose-{theme_name}.png")
        window.choose_theme("light")

        # Stop from the page: refreshed from events, not polling.
        page.stop_button.click()
        qtbot.waitUntil(lambda: status() == "stopped (0/2)", timeout=60_000)
        qtbot.waitUntil(lambda: set(services().values()) == {"exited"}, timeout=10_000)

        # Up again from the files found through the labels.
        qtbot.waitUntil(page.up_button.isEnabled, timeout=10_000)
        page.up_button.click()
        qtbot.waitUntil(lambda: status() == "running (2/2)", timeout=60_000)

        # Files that are not readable here: said in place.
        window.compose.projects[PROJECT]["config_files"] = ["/nowhere/compose.yaml"]
        qtbot.waitUntil(page.up_button.isEnabled, timeout=10_000)
        page.up_button.click()
        assert page.message.isVisible() and "not readable here" in page.message.text()
        window.compose.projects[PROJECT]["config_files"] = [str(tmp_path / "compose.yaml")]

        # Down, confirmed, with volumes.
        box = page.ask_down()
        assert box is not None and box.isVisible()
        box.checkBox().setChecked(True)
        down = next(b for b in box.buttons() if box.buttonRole(b) == QMessageBox.ButtonRole.DestructiveRole)
        down.click()
        qtbot.waitUntil(lambda: model.row_of(PROJECT) is None, timeout=60_000)
        assert page.stack.currentWidget() is page.empty

        async def leftovers() -> list[str]:
            engine = EngineClient(berthd.url)
            try:
                found = [c["Id"] for c in await engine.containers(all=True)
                         if (c.get("Labels") or {}).get("com.docker.compose.project") == PROJECT]
                found += [n["Name"] for n in await engine.networks()
                          if (n.get("Labels") or {}).get("com.docker.compose.project") == PROJECT]
                return found
            finally:
                await engine.close()

        assert run_async(leftovers(), 20_000) == []
    finally:

        async def cleanup() -> None:
            async with EngineClient(berthd.url) as engine:
                bare = compose.load_project_from_dict({"services": {}}, name=PROJECT, working_dir=tmp_path)
                with contextlib.suppress(compose.ComposeError):
                    await compose.down(engine, bare, volumes=True)

        run_async(cleanup(), 60_000)
        apply_theme(qapp, Theme.load("light"))
