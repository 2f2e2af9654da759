"""Each page's main flow against a real berthd (and the containers/images pages against dockerd)."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.desktop.theme import Theme, apply_theme
from app.desktop.window import MainWindow
from engine.client import EngineClient, EngineClientError
from tests.app.support import SCREENSHOTS, state_text
from tests.engine.client.fake_engine import short_socket_dir

pytestmark = [pytest.mark.gui, pytest.mark.integration]


def distinct_colors(path: Path) -> int:
    from PySide6.QtGui import QImage

    image = QImage(str(path))
    step = 3
    return len({image.pixel(x, y) for x in range(0, image.width(), step) for y in range(0, image.height(), step)})


def shoot(window: MainWindow, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    assert window.grab().save(str(path))
    assert distinct_colors(path) > 20, f"{path} looks blank"
    return path


def test_run_follow_search_stop_and_volume_refusal(
    qtbot: Any, qapp: Any, berthd: Any, busybox_image: str, make_window: Callable[[str], MainWindow],
    run_async: Callable[..., Any],
) -> None:
    window = make_window(berthd.url)
    window.resize(1280, 800)
    engine = EngineClient(berthd.url)
    # Run from the images page.
    window.show_place("images")
    qtbot.waitUntil(lambda: window.images_page.select_key(
        next((k for k in window.images_model.all_keys()
              if "busybox:latest" in (window.images_model.item(k) or {}).get("RepoTags", [])), "")))
    assert window.images_page.run_button.isEnabled()
    window.images_page.run_button.click()
    dialog = window.run_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.name.setText("berth-gui-run")
    dialog.volumes.add_row("berth-gui-data", "/data")
    dialog.env.add_row("GREETING", "hello")
    dialog.command.setText(
        "sh -c 'i=0; while [ $i -lt 300 ]; do echo \"$GREETING line $i\"; echo \"oops $i\" >&2; i=$((i+1)); done;"
        " touch /data/here; sleep 300'"
    )
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    try:
        qtbot.waitUntil(lambda: state_text(window, "berth-gui-run") == "running", timeout=20_000)
        qtbot.waitUntil(lambda: window.current_place() == "containers", timeout=5_000)
        detail = window.detail
        assert detail.name == "berth-gui-run"
        assert detail.tabs.tabText(detail.tabs.currentIndex()) == "Logs"
        # Follow its logs, then search them.
        qtbot.waitUntil(lambda: len(detail.log_buffer) >= 600, timeout=20_000)
        from app.models.logs import STDERR

        assert any(detail.log_buffer.stream(i) == STDERR for i in range(len(detail.log_buffer)))
        detail.logs.set_query(r"hello line \d*7$")
        qtbot.waitUntil(lambda: detail.logs.search.done and detail.logs.search.count == 30, timeout=10_000)
        assert detail.logs.count.text() == "1 of 30 matches"
        detail.logs.filter.setChecked(True)
        assert detail.logs.view.row_count() == 30

        # Overview, inspect, environment, files, stats, terminal.
        qtbot.waitUntil(lambda: "berth-gui-data" in detail.overview.text(), timeout=10_000)
        envs = [detail.environment.item(r, 0).text() for r in range(detail.environment.rowCount())]
        assert "GREETING" in envs
        detail.show_tab("Files")
        qtbot.waitUntil(lambda: "entries in /" in detail.files_status.text(), timeout=20_000)
        names = [detail.files.topLevelItem(i).text(0) for i in range(detail.files.topLevelItemCount())]
        assert "bin/" in names and "data/" in names
        detail.show_tab("Stats")
        qtbot.waitUntil(lambda: len(window.stats.history(detail.id)) >= 2, timeout=20_000)
        qtbot.waitUntil(lambda: window.containers_model.stats_of(detail.id) is not None, timeout=5_000)
        # The all-containers view lists it from the same stats reader; opening its row shows its own graphs.
        window.show_place("stats")
        qtbot.waitUntil(lambda: window.stats_model.row_of(detail.id) is not None, timeout=10_000)
        assert window.stats_page.stack.currentWidget() is window.stats_page.table
        assert window.stats_page.summary.text().startswith("1 running")
        row = window.stats_page.proxy.mapFromSource(window.stats_model.index(window.stats_model.row_of(detail.id), 0))
        window.stats_page.table.doubleClicked.emit(row)
        assert window.current_place() == "containers"
        assert detail.tabs.tabText(detail.tabs.currentIndex()) == "Stats"
        detail.show_tab("Terminal")
        qtbot.waitUntil(lambda: detail.session is not None and detail.session.active, timeout=20_000)
        detail.session.write(b"echo $((6*7))-from-exec\r")
        qtbot.waitUntil(lambda: "42-from-exec" in detail.terminal.text(), timeout=20_000)
        detail.show_tab("Logs")
        for theme_name in ("light", "dark"):
            window.choose_theme(theme_name)
            window.show_place("containers")
            window.containers_page.select_container(detail.id)
            shoot(window, f"page-containers-{theme_name}.png")
            for place in ("stats", "images", "volumes", "networks", "settings"):
                window.show_place(place)
                if place == "volumes":
                    qtbot.waitUntil(lambda: window.volumes_model.rowCount() > 0, timeout=10_000)
                if place == "networks":
                    qtbot.waitUntil(lambda: window.networks_model.rowCount() > 0, timeout=10_000)
                shoot(window, f"page-{place}-{theme_name}.png")
        window.choose_theme("light")

        # Remove the volume while the container uses it: the engine refuses, shown in place.
        window.show_place("volumes")
        qtbot.waitUntil(lambda: window.volumes_page.select_key("berth-gui-data"), timeout=10_000)
        assert "berth-gui-run" in window.volumes_model.data(window.volumes_model.index(
            window.volumes_model.row_of("berth-gui-data"), 3))
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow)
        window.volumes_page.table.setFocus()
        qtbot.waitUntil(window.volumes_page.table.hasFocus)
        qtbot.keyClick(window.volumes_page.table, Qt.Key.Key_Delete)  # the Delete key removes, as a click would
        # It holds a file: asked first, naming what goes and who mounts it; Enter confirms.
        qtbot.waitUntil(lambda: window.confirmation is not None, timeout=10_000)
        box = window.confirmation
        assert box is not None and box.isVisible() and "berth-gui-data" in box.text()
        assert "1 item (here)" in box.text() and "berth-gui-run" in box.informativeText()
        qtbot.keyClick(box, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: window.volumes_page.message.isVisible(), timeout=10_000)
        assert "in use" in window.volumes_page.message.text()
        window.volumes_page.browse_button.click()
        qtbot.waitUntil(lambda: window.volumes_page.files.count() > 0, timeout=10_000)
        assert any("here" in window.volumes_page.files.item(i).text() for i in range(window.volumes_page.files.count()))

        # Stop it from the table.
        window.show_place("containers")
        page = window.containers_page
        assert page.select_container(detail.id)
        stop = page.toolbar.widgetForAction(page.action_stop)
        qtbot.waitUntil(stop.isEnabled)
        qtbot.mouseClick(stop, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: page.action_stop.text() == "Stopping…", timeout=2_000)
        qtbot.waitUntil(lambda: (state_text(window, "berth-gui-run") or "").startswith("exited"), timeout=30_000)
        assert page.action_stop.text() == "Stop"
        assert not window.notices.notices or "unexpectedly" not in window.notices.notices[-1]
    finally:

        async def cleanup() -> None:
            try:
                for c in await engine.containers():
                    if c["Names"] == ["/berth-gui-run"]:
                        await engine.remove(c["Id"], force=True)
                with contextlib.suppress(EngineClientError):
                    await engine.remove_volume("berth-gui-data")
            finally:
                await engine.close()

        run_async(cleanup(), 30_000)
        apply_theme(qapp, Theme.load("light"))


@pytest.fixture
def dockerd(busybox_tar: Path) -> Any:
    from tests.support.peers import PrivateDockerd, dockerd_missing

    missing = dockerd_missing()
    if missing:
        pytest.skip(missing)
    base = short_socket_dir()
    daemon = PrivateDockerd(base / "d")
    try:
        daemon.start()
    except RuntimeError as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"dockerd does not start here: {exc}")
    status, _, body = daemon.api.request(
        "POST", "/images/create?fromSrc=-&repo=busybox&tag=latest", busybox_tar.read_bytes(),
        {"Content-Type": "application/x-tar"})
    assert status == 200, body
    try:
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_containers_and_images_pages_against_stock_dockerd(
    qtbot: Any, dockerd: Any, make_window: Callable[[str], MainWindow], run_async: Callable[..., Any]
) -> None:
    window = make_window(dockerd.url)
    qtbot.waitUntil(lambda: window.connection.status.reachable is True, timeout=20_000)
    assert "1.41" in json.dumps(run_async(window.connection.client.api_version()))
    window.show_place("images")
    qtbot.waitUntil(lambda: window.images_model.rowCount() >= 1, timeout=20_000)
    key = window.images_model.all_keys()[0]
    assert window.images_page.select_key(key)
    dialog = window.open_run_dialog("busybox:latest")
    dialog.name.setText("berth-on-dockerd")
    dialog.command.setText("sh -c 'echo hello-from-dockerd; sleep 300'")
    dialog.run_button.click()
    qtbot.waitUntil(lambda: state_text(window, "berth-on-dockerd") == "running", timeout=30_000)
    qtbot.waitUntil(lambda: any("hello-from-dockerd" in window.detail.log_buffer.line(i)
                                for i in range(len(window.detail.log_buffer))), timeout=20_000)
    page = window.containers_page
    assert page.select_container(window.containers_model.find_by_name("berth-on-dockerd") or "")
    page.action_stop.trigger()
    qtbot.waitUntil(lambda: (state_text(window, "berth-on-dockerd") or "").startswith("exited"), timeout=30_000)
    page.action_remove.trigger()
    qtbot.waitUntil(lambda: state_text(window, "berth-on-dockerd") is None, timeout=20_000)
