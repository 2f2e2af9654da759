"""Metrics history against a real berthd: a container's readings and events outlive the app (a new
window on the same store draws them after the container exited) and are exported as CSV and JSON;
the detectors fire on real containers made to misbehave and mark the graphs."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.desktop.window import MainWindow
from tests.app.support import answer_file_dialog, save_screenshot

pytestmark = [pytest.mark.gui, pytest.mark.integration]


def create(berthd: Any, name: str, config: dict[str, Any]) -> str:
    berthd.api.request("DELETE", f"/containers/{name}?force=1")
    id = str(berthd.api.json("POST", f"/containers/create?name={name}", config)["Id"])
    berthd.api.json("POST", f"/containers/{id}/start")
    return id


def stored(window: MainWindow, id: str) -> int:
    now = time.time()
    return len(window.stats.series(id, now - 300, now))


def kinds(window: MainWindow, id: str) -> list[str]:
    now = time.time()
    return [f"{e.kind}:{e.detail}" for e in window.stats.events(id, now - 300, now)]


def test_history_survives_a_restart_of_the_app_and_is_exported(
    qtbot: Any, berthd: Any, busybox_image: str, make_window: Callable[[str], MainWindow], tmp_path: Path,
) -> None:
    first = make_window(berthd.url)
    qtbot.waitUntil(lambda: bool(first.connection.status.events), timeout=10_000)
    name = "berth-stats-history"
    id = create(berthd, name, {"Image": busybox_image, "Labels": {"com.docker.compose.project": "shop"},
                               "Cmd": ["sh", "-c", "trap 'exit 3' TERM; while true; do sleep 0.1; done"]})
    try:
        qtbot.waitUntil(lambda: stored(first, id) >= 3, timeout=20_000)
        berthd.api.request("POST", f"/containers/{id}/stop?t=5")
        qtbot.waitUntil(lambda: "die:3" in kinds(first, id), timeout=10_000)
        assert kinds(first, id)[0] == "start:"
        samples = stored(first, id)
        # The app quits; a new one opens on the same store (the same data directory).
        first.close()
        task = asyncio.ensure_future(first.shutdown())
        qtbot.waitUntil(task.done, timeout=10_000)
        second = make_window(berthd.url)
        assert second.stats is not first.stats
        second.show_place("stats")
        page = second.stats_page
        assert second.stats.latest(id) is None  # nothing read since it started
        assert len(second.stats.history(id)) >= samples  # the detail's graphs read the store
        assert page.choose(id), [page.container_box.itemText(i) for i in range(page.container_box.count())]
        assert page.container_box.currentText() == f"{name} (exited)"
        assert len(page.cpu_graph.series[0][2]) >= samples
        assert page.memory_graph.axis_note.startswith("against its peak")  # no limit: not the host's memory
        assert [m.label for m in page.cpu_graph.marks] == ["start", "exited 3"]
        assert "exited 3" in page.cpu_graph.accessibleDescription()
        assert "Project shop (1 containers" in page.projects.text()
        page.set_range(7 * 86400)
        assert page.range_box.currentText() == "7 days" and len(page.cpu_graph.series[0][2]) >= 1
        page.set_range(300)
        save_screenshot(second, "stats-history-light.png")

        # Export: the CSV through its button and the file dialog, the JSON directly.
        target = tmp_path / "stats.csv"
        page.export_csv_button.click()
        answer_file_dialog(qtbot, second, target)
        rows = list(csv.DictReader(io.StringIO(target.read_text())))
        assert len(rows) >= samples and {r["container"] for r in rows} == {name}
        assert rows[0]["project"] == "shop" and max(float(r["memory"]) for r in rows) > 0, rows
        page.export(str(tmp_path / "stats.json"), "json")
        data = json.loads((tmp_path / "stats.json").read_text())
        assert data["containers"][0]["id"] == id and len(data["containers"][0]["points"]) == len(rows)
        assert "Saved" in page.message.text()
    finally:
        berthd.api.request("DELETE", f"/containers/{id}?force=1")


def test_detectors_fire_on_misbehaving_containers_and_mark_the_graphs(
    qtbot: Any, berthd: Any, busybox_image: str, make_window: Callable[[str], MainWindow],
) -> None:
    window = make_window(berthd.url)
    qtbot.waitUntil(lambda: bool(window.connection.status.events), timeout=10_000)
    found: list[Any] = []
    window.stats.detected.connect(found.append)
    ids = []
    try:
        # A restart loop: it exits at once and its restart policy starts it again.
        ids.append(loop := create(berthd, "berth-detect-loop", {
            "Image": busybox_image, "Cmd": ["sh", "-c", "sleep 0.2; exit 1"],
            "HostConfig": {"RestartPolicy": {"Name": "always"}}}))
        # A memory hog limited to 32 MB (no swap): sort holds every line until the end, and gets a
        # megabyte more a second.
        ids.append(hog := create(berthd, "berth-detect-oom", {
            "Image": busybox_image,
            "Cmd": ["sh", "-c", "while true; do head -c 262144 /dev/zero | tr '\\000' a; echo; sleep 0.25; done"
                    " | sort"],
            "HostConfig": {"Memory": 32 << 20, "MemorySwap": 32 << 20}}))
        # A health check that fails.
        ids.append(sick := create(berthd, "berth-detect-sick", {
            "Image": busybox_image, "Cmd": ["sleep", "300"],
            "Healthcheck": {"Test": ["CMD-SHELL", "exit 1"], "Interval": 500_000_000, "Retries": 1,
                            "Timeout": 2_000_000_000}}))

        def kinds_found() -> dict[str, str]:
            return {d.container: d.kind for d in found}

        try:
            qtbot.waitUntil(lambda: {loop, hog, sick} <= set(kinds_found()), timeout=40_000)
        except Exception:
            hog_state = berthd.api.json("GET", f"/containers/{hog}/json")["State"]
            last = window.stats.series(hog, time.time() - 300, time.time())[-3:]
            raise AssertionError(f"found {kinds_found()}; events {[kinds(window, id) for id in ids]}; "
                                 f"hog {hog_state} last readings {last}") from None
        assert kinds_found()[loop] == "restart-loop"
        assert kinds_found()[hog] == "oom-kill"
        assert kinds_found()[sick] == "unhealthy"
        said = window.notices.notices
        for title in ("berth-detect-loop is restarting in a loop", "berth-detect-oom ran out of memory",
                      "berth-detect-sick is unhealthy"):
            assert any(title in notice for notice in said), said
        # Each is marked on its graphs.
        window.show_place("stats")
        page = window.stats_page
        for id, word in ((loop, "restart loop"), (hog, "OOM kill"), (sick, "unhealthy")):
            assert page.choose(id)
            assert word in [m.label for m in page.cpu_graph.marks], (word, page.cpu_graph.marks)
        assert page.choose(hog)
        assert "OOM killed" in [m.label for m in page.memory_graph.marks]
    finally:
        for id in ids:
            berthd.api.request("DELETE", f"/containers/{id}?force=1")
