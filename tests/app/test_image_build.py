"""Building an image from the Images page against the session's berthd: the folder chosen in a
directory dialog, the build followed live in the task panel, the image in the table at the end, a
failed step's message on the page. Also how a build's output becomes the job's log lines."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from app.desktop.window import MainWindow
from app.services.jobs import Job, JobCenter
from app.services.resources import BuildLog
from app.widgets.resource_pages import suggested_tag
from tests.app.support import answer_file_dialog
from tests.support.daemon import Berthd


@pytest.fixture
def tag(berthd: Berthd, busybox_image: str) -> Iterator[str]:
    """A name of this test's own (the session's berthd is shared), removed afterwards."""
    name = f"berth-gui-build-{uuid.uuid4().hex[:8]}:test"
    yield name
    berthd.api.request("DELETE", f"/images/{quote(name, safe='')}?force=1")


def open_images_page(qtbot: Any, make_window: Callable[[str], MainWindow], berthd: Berthd) -> MainWindow:
    window = make_window(berthd.url)
    qtbot.waitUntil(lambda: window.connection.status.events is True, timeout=20_000)
    window.show_place("images")
    qtbot.waitUntil(lambda: window.images_model.rowCount() > 0, timeout=10_000)
    return window


def listed(window: MainWindow, reference: str) -> bool:
    return any(reference in (window.images_model.item(key) or {}).get("RepoTags", [])
               for key in window.images_model.all_keys())


@pytest.mark.gui
@pytest.mark.integration
def test_build_from_the_images_page_is_followed_live_in_the_task_panel(
    qtbot: Any, make_window: Callable[[str], MainWindow], berthd: Berthd, tag: str, tmp_path: Path,
) -> None:
    token = uuid.uuid4().hex[:12]  # fresh steps, whatever the session's build cache holds
    folder = tmp_path / "My App"
    folder.mkdir()
    (folder / "Dockerfile").write_text(
        f"FROM busybox:latest\nCOPY . /app/\nRUN echo first-{token} && sleep 0.5 && echo second-{token}\n")
    (folder / "kept.txt").write_text("kept\n")
    (folder / "ignored.txt").write_text("ignored\n")
    (folder / ".dockerignore").write_text("ignored.txt\n")
    window = open_images_page(qtbot, make_window, berthd)
    page = window.images_page
    # (state, fraction, log, panel line) at each change of a job
    seen: list[tuple[str, float | None, list[str], str]] = []
    window.jobs.jobChanged.connect(
        lambda job: seen.append((job.state, job.fraction, list(job.log), window.task_panel.summary.text())))

    # Build… opens its dialog and, no folder chosen yet, the directory dialog over it.
    qtbot.mouseClick(page.build_button, Qt.MouseButton.LeftButton)
    dialog = page.build_dialog
    assert dialog is not None and dialog.isVisible() and dialog.windowTitle() == "Build an image"
    answer_file_dialog(qtbot, window, folder, folder=True)
    folder_field, name_field = dialog.fields["folder"], dialog.fields["name"]
    assert folder_field.text() == str(folder)
    assert name_field.text() == "my-app:latest"  # suggested from the folder's name
    qtbot.waitUntil(lambda: dialog.focusWidget() is name_field)
    name_field.clear()
    qtbot.keyClicks(name_field, tag)
    qtbot.keyClick(name_field, Qt.Key.Key_Return)

    job = window.jobs.jobs[-1]
    assert job.title == f"building {tag}"
    qtbot.waitUntil(lambda: job.state != "running", timeout=30_000)
    assert job.state == "done", job.error
    qtbot.waitUntil(lambda: not dialog.isVisible())  # closed once the build worked
    assert window.task_panel.summary.text().endswith(f"building {tag} ✓")

    # Live: the step's first line was in the panel while it still ran (before its second line).
    first, second = f"first-{token}", f"second-{token}"
    assert any(state == "running" and first in log and second not in log for state, _, log, _ in seen), seen
    # Progress from the step headers: a share of the steps, as a percentage in the panel.
    assert any(state == "running" and fraction == pytest.approx(2 / 3) and line.endswith(" 67 %")
               for state, fraction, _, line in seen), seen
    assert job.log[0] == "Step 1/3 : FROM busybox:latest" and job.log[1].startswith(" ---> ")
    assert [first, second] == [line for line in job.log if token in line and not line.startswith("Step")]
    assert job.log[-1] == f"Successfully tagged {tag}"
    # The expanded panel: the job done, its last output lines as the row's tooltip.
    qtbot.mouseClick(window.task_panel.toggle, Qt.MouseButton.LeftButton)
    row = window.jobs.jobs.index(job)
    assert window.jobs.data(window.jobs.index(row, 0)) == f"building {tag} ✓"
    assert f"Successfully tagged {tag}" in window.jobs.data(window.jobs.index(row, 0), Qt.ItemDataRole.ToolTipRole)

    # The image is in the table, made from the folder less what .dockerignore excludes.
    qtbot.waitUntil(lambda: listed(window, tag), timeout=10_000)
    assert not page.message.isVisible(), page.message.text()
    assert sorted(files_in(berthd, tag)) == ["/app", "/app/.dockerignore", "/app/Dockerfile", "/app/kept.txt"]


def files_in(berthd: Berthd, image: str) -> list[str]:
    """`find /app` in a container of the image."""
    api = berthd.api
    id = str(api.json("POST", "/containers/create", {"Image": image, "Cmd": ["find", "/app"]})["Id"])
    try:
        status, _, body = api.request("POST", f"/containers/{id}/start")
        assert status == 204, body
        assert api.json("POST", f"/containers/{id}/wait")["StatusCode"] == 0
        status, _, data = api.request("GET", f"/containers/{id}/logs?stdout=1")
        text, offset = b"", 0
        while offset + 8 <= len(data):
            size = int.from_bytes(data[offset + 4:offset + 8], "big")
            text += data[offset + 8:offset + 8 + size]
            offset += 8 + size
        return text.decode().split()
    finally:
        api.request("DELETE", f"/containers/{id}?force=1")


@pytest.mark.gui
@pytest.mark.integration
def test_a_failed_build_shows_the_engines_message_in_its_dialog(
    qtbot: Any, make_window: Callable[[str], MainWindow], berthd: Berthd, tag: str, tmp_path: Path,
) -> None:
    token = uuid.uuid4().hex
    (tmp_path / "Dockerfile").write_text(f"FROM busybox:latest\nRUN echo {token} && exit 3\n")
    window = open_images_page(qtbot, make_window, berthd)
    page = window.images_page
    # Typed rather than chosen, and started from the palette's command.
    command = next(action for title, _, action in window.palette_commands() if title == "Build an image…")
    command()
    dialog = page.build_dialog
    assert dialog is not None and dialog.isVisible()
    chooser = next(d for d in window.findChildren(QFileDialog) if d.isVisible())  # no folder yet: asked
    chooser.reject()
    shiboken6.delete(chooser)
    dialog.fields["folder"].setText(str(tmp_path))
    dialog.fields["name"].setText(tag)
    qtbot.mouseClick(dialog.submit, Qt.MouseButton.LeftButton)

    job = window.jobs.jobs[-1]
    qtbot.waitUntil(lambda: job.state != "running", timeout=30_000)
    message = "The command '/bin/sh -c"
    assert job.state == "failed" and job.error.startswith(message) and "returned a non-zero code: 3" in job.error
    assert job.log[-1] == token  # the output up to the failure stays
    # Said in the dialog, which keeps the folder and name to fix and try again.
    qtbot.waitUntil(dialog.error.isVisible)
    assert dialog.isVisible()
    assert dialog.error.text().replace("\u200b", "").startswith(f"Could not build {tag}: {message}")
    assert dialog.values() == {"folder": str(tmp_path), "name": tag}
    assert not page.message.isVisible()
    # Said once, in place: no toast repeats it, nor does the tasks line.
    assert not any("returned a non-zero code: 3" in notice for notice in window.notices.notices)
    assert "non-zero code" not in window.task_panel.summary.text()
    assert not listed(window, tag)

    # No folder: said in the dialog, nothing started.
    jobs = len(window.jobs.jobs)
    dialog.fields["folder"].clear()
    qtbot.mouseClick(dialog.submit, Qt.MouseButton.LeftButton)
    assert dialog.error.text() == "Choose the folder to build: the one with the Dockerfile."
    assert len(window.jobs.jobs) == jobs


@pytest.mark.unit
def test_build_output_becomes_whole_log_lines_with_the_steps_share() -> None:
    center = JobCenter()
    job = Job(center, "building x")
    center.jobs.append(job)
    log = BuildLog(job)
    log.feed("Step 1/4 : FROM busybox\n ---> abc\n")
    assert (job.log, job.fraction) == (["Step 1/4 : FROM busybox", " ---> abc"], 0.0)
    log.feed("Step 2/4 : RUN x\nsame")
    log.feed(" line\nsame line\n\n")  # split across chunks; a repeated line is output too
    log.feed("10%\r50%\r100%\n")  # a progress bar redrawn in place: its last state
    assert job.log[2:] == ["Step 2/4 : RUN x", "same line", "same line", "100%"]
    assert job.fraction == 0.25 and job.status == "100%"
    log.feed("no newline at the end")
    assert job.log[-1] == "100%"
    log.flush()
    assert job.log[-1] == "no newline at the end"
    assert suggested_tag("/home/me/My Project") == "my-project:latest"
    assert suggested_tag("/srv/__") == ""
