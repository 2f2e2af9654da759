"""A fresh or offline machine is no dead end (issue 22): the empty list's steps work as written
(a link to Images, the `berth` command as it is typed here), and the Images page loads a docker
save archive and imports a root file system tar with no registry."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from engine.client import EngineClient, EngineClientError
from tests.app.support import answer_file_dialog
from tests.engine.client.fake_engine import FakeEngine

pytestmark = pytest.mark.gui


def test_the_empty_list_says_steps_that_work(qtbot: Any, fake_engine: FakeEngine, make_window: Any) -> None:
    window = make_window(fake_engine.url)
    page = window.containers_page
    qtbot.waitUntil(lambda: page.stack.currentWidget() is page.empty)
    text = page.empty.text()
    command = re.search(r"<code>(\S+) run -d", text)
    assert command is not None
    typed = command.group(1)
    # What it says to type runs here: on PATH, or given with its full path.
    assert shutil.which(typed) or (os.path.isabs(typed) and os.access(typed, os.X_OK)), typed
    assert "Load…" in text
    page.empty.linkActivated.emit("images")  # the link in its first step
    assert window.current_place() == "images"
    assert "Load…" in window.images_page.empty.text() and window.images_page.load_button.isVisible()


@pytest.mark.integration
def test_load_and_import_without_a_registry(
    qtbot: Any, berthd: Any, busybox_image: str, busybox_tar: Path, make_window: Any, run_async: Any,
    tmp_path: Path,
) -> None:
    engine = EngineClient(berthd.url)
    archive = tmp_path / "saved.tar"

    async def save() -> None:  # docker save of a name that is then gone
        await engine.tag(busybox_image, "berth-gui-loaded", "v1")
        with archive.open("wb") as out:
            async for chunk in engine.request_bytes("GET", "images/get", params={"names": "berth-gui-loaded:v1"}):
                out.write(chunk)
        await engine.remove_image("berth-gui-loaded:v1")

    run_async(save(), timeout=60_000)
    rootfs = tmp_path / "my-rootfs.tar"
    shutil.copy(busybox_tar, rootfs)
    window = make_window(berthd.url)
    page = window.images_page
    window.show_place("images")

    def names() -> set[str]:
        return {tag for key in window.images_model.all_keys()
                for tag in (window.images_model.item(key) or {}).get("RepoTags", [])}

    try:
        qtbot.waitUntil(lambda: busybox_image in names(), timeout=10_000)
        assert "berth-gui-loaded:v1" not in names()
        page.load_button.click()
        answer_file_dialog(qtbot, window, archive)
        qtbot.waitUntil(lambda: bool(window.jobs.jobs), timeout=5_000)
        job = window.jobs.jobs[-1]
        qtbot.waitUntil(lambda: job.state != "running", timeout=30_000)
        assert job.state == "done", (job.error, job.log)
        qtbot.waitUntil(lambda: "berth-gui-loaded:v1" in names(), timeout=10_000)
        assert any("berth-gui-loaded:v1" in line for line in job.log), job.log  # says what it loaded

        page.import_button.click()
        answer_file_dialog(qtbot, window, rootfs)
        dialog = page.import_dialog
        assert dialog is not None and dialog.isVisible() and dialog.windowTitle() == "Import a root file system"
        assert dialog.fields["name"].text() == "my-rootfs:latest"  # named from the file
        dialog.fields["name"].setText("berth-gui-imported:v2")
        dialog.submit.click()
        qtbot.waitUntil(lambda: "berth-gui-imported:v2" in names(), timeout=30_000)
        qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10_000)
        assert not page.message.isVisible()
    finally:

        async def clean() -> None:
            for name in ("berth-gui-loaded:v1", "berth-gui-imported:v2"):
                with contextlib.suppress(EngineClientError):
                    await engine.remove_image(name)
            await engine.close()

        run_async(clean(), timeout=30_000)
