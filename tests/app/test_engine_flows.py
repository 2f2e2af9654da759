"""Desktop flows against a real berthd: notifications of containers that die or turn unhealthy,
the Volumes page's export/import/clone, and a pull followed in the task panel."""

from __future__ import annotations

import io
import json
import os
import struct
import tarfile
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSystemTrayIcon, QWidget

from app.desktop.window import MainWindow
from app.services.jobs import Job
from tests.app.support import answer_file_dialog, state_text
from tests.support.api import RawApi
from tests.support.daemon import Berthd
from tests.support.registry import running_registry

pytestmark = [pytest.mark.gui, pytest.mark.integration]

PREFIX = "berth-gui-flow-"  # the session's berthd is shared: every name here is the test's own


@dataclass
class Created:
    """What a test made in the session's berthd, removed after it whatever happened."""

    api: RawApi
    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)

    def run(self, name: str, cmd: list[str], **config: Any) -> str:
        id = str(self.api.json("POST", f"/containers/create?name={name}",
                               {"Image": "busybox:latest", "Cmd": cmd, **config})["Id"])
        self.containers.append(id)
        status, _, body = self.api.request("POST", f"/containers/{id}/start")
        assert status == 204, body
        return id

    def wait(self, id: str) -> int:
        return int(self.api.json("POST", f"/containers/{id}/wait")["StatusCode"])

    def output(self, id: str) -> str:
        """stdout and stderr of a finished container (demultiplexed)."""
        status, _, data = self.api.request("GET", f"/containers/{id}/logs?stdout=1&stderr=1")
        assert status == 200, data
        text, offset = b"", 0
        while offset + 8 <= len(data):
            (size,) = struct.unpack(">L", data[offset + 4:offset + 8])
            text += data[offset + 8:offset + 8 + size]
            offset += 8 + size
        return text.decode()

    def remove_all(self) -> None:
        for id in self.containers:
            self.api.request("DELETE", f"/containers/{id}?force=1")
        for name in self.volumes:
            self.api.request("DELETE", f"/volumes/{name}?force=1")
        for image in self.images:
            self.api.request("DELETE", f"/images/{quote(image, safe='')}?force=1")


@pytest.fixture
def created(berthd: Berthd, busybox_image: str) -> Iterator[Created]:
    objects = Created(berthd.api)
    try:
        yield objects
    finally:
        objects.remove_all()


def wait_for_events(qtbot: Any, window: MainWindow) -> None:
    """Notifications come from /events: the stream must be up before anything happens."""
    qtbot.waitUntil(lambda: window.connection.status.events is True, timeout=20_000)


# -- notifications ---------------------------------------------------------------------------------


def ours(notices: list[str]) -> list[str]:
    return [notice for notice in notices if notice.startswith(PREFIX)]


def test_unexpected_exit_and_unhealthy_are_notified_but_a_stop_is_not(
    qtbot: Any, created: Created, make_window: Callable[[str], MainWindow], berthd: Berthd,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Offscreen has no tray: pretend there is one and record what it would show.
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    window = make_window(berthd.url)
    assert window.tray is not None
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(window.tray, "showMessage", lambda title, message, *_: shown.append((title, message)))
    wait_for_events(qtbot, window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)

    clean, stopped, crashed = (f"{PREFIX}clean", f"{PREFIX}stopped", f"{PREFIX}crashed")
    created.run(clean, ["true"])
    # Exits non-zero (143) on SIGTERM: a stop from the window must still not count as a crash.
    stopped_id = created.run(stopped, ["sh", "-c", "trap 'exit 143' TERM; sleep 300 & wait"])
    created.run(crashed, ["sh", "-c", "sleep 1; exit 3"])
    qtbot.waitUntil(lambda: state_text(window, stopped) == "running", timeout=10_000)
    page = window.containers_page
    assert page.select_container(stopped_id)
    page.action_stop.trigger()
    qtbot.waitUntil(lambda: state_text(window, stopped) == "exited (143)", timeout=15_000)
    qtbot.waitUntil(lambda: state_text(window, crashed) == "exited (3)", timeout=15_000)
    assert state_text(window, clean) == "exited (0)"

    # The window is in front: the crash shows in its notice bar, not (again) in the tray. (Only this
    # test's containers count: the session's berthd is shared.)
    assert ours(window.notices.notices) == [f"{crashed} stopped unexpectedly: It exited with code 3. Its logs say why."]
    assert window.notices.isVisible()
    assert crashed in window.notices.label.text()
    assert shown == []

    # In the background, a container turning unhealthy reaches the tray, once.
    other = QWidget()
    qtbot.addWidget(other)
    other.show()
    other.activateWindow()
    qtbot.waitUntil(lambda: not window.isActiveWindow())
    sick = f"{PREFIX}sick"
    created.run(sick, ["sleep", "300"], Healthcheck={"Test": ["CMD-SHELL", "exit 1"], "Interval": 100_000_000,
                                                     "Retries": 1})
    qtbot.waitUntil(lambda: any(sick in title for title, _ in shown), timeout=15_000)
    qtbot.wait(500)  # a few more failing probes: still one notification, not one per probe
    assert [(t, m) for t, m in shown if PREFIX in t] == [(f"{sick} is unhealthy", "Its health check is failing.")]
    assert ours(window.notices.notices)[-1] == f"{sick} is unhealthy: Its health check is failing."


# -- volumes ---------------------------------------------------------------------------------------


def click_when_enabled(qtbot: Any, button: Any) -> None:
    qtbot.waitUntil(button.isEnabled)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_volume_export_import_and_clone_from_the_volumes_page(
    qtbot: Any, created: Created, make_window: Callable[[str], MainWindow], berthd: Berthd, tmp_path: Path,
) -> None:
    source, imported, clone = f"{PREFIX}source", f"{PREFIX}imported", f"{PREFIX}clone"
    created.volumes += [source, imported, clone]
    window = make_window(berthd.url)
    wait_for_events(qtbot, window)
    window.show_place("volumes")
    page = window.volumes_page
    finished: list[tuple[str, str]] = []
    window.volumes.actionFinished.connect(lambda target, action: finished.append((target, action)))

    def create(name: str) -> None:
        page.create_button.click()
        dialog = page.create_dialog
        assert dialog is not None and dialog.isVisible()
        qtbot.keyClicks(dialog.fields["name"], name)
        qtbot.keyClick(dialog.fields["name"], Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10_000)  # closes once it is made
        qtbot.waitUntil(lambda: page.select_key(name), timeout=10_000)

    create(source)
    fill = "echo hello > /data/greeting && mkdir /data/sub && echo nested > /data/sub/file"
    filler = created.run(f"{PREFIX}filler", ["sh", "-c", fill], HostConfig={"Binds": [f"{source}:/data"]})
    assert created.wait(filler) == 0

    # Export: a tar on disk holding the volume's files.
    archive = tmp_path / "exported.tar"
    assert page.select_key(source)
    click_when_enabled(qtbot, page.export_button)
    answer_file_dialog(qtbot, window, archive)
    qtbot.waitUntil(lambda: (source, "export") in finished, timeout=15_000)
    with tarfile.open(archive) as tar:
        names = {member.name.lstrip("./") for member in tar.getmembers()}
        greeting = tar.extractfile(next(m for m in tar.getmembers() if m.name.endswith("greeting")))
        assert greeting is not None and greeting.read() == b"hello\n"
    assert {"greeting", "sub", "sub/file"} <= names

    # Import that tar into a new, empty volume.
    create(imported)
    click_when_enabled(qtbot, page.import_button)
    answer_file_dialog(qtbot, window, archive)
    qtbot.waitUntil(lambda: (imported, "import") in finished, timeout=15_000)

    # Clone the source under a new name.
    assert page.select_key(source)
    click_when_enabled(qtbot, page.clone_button)
    dialog = page.clone_dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.keyClicks(dialog.fields["name"], clone)
    qtbot.keyClick(dialog.fields["name"], Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10_000)
    qtbot.waitUntil(lambda: page.select_key(clone), timeout=10_000)
    assert not page.message.isVisible(), page.message.text()

    # Browse the clone from the page, then read both copies from a container.
    click_when_enabled(qtbot, page.browse_button)
    qtbot.waitUntil(lambda: page.files.count() > 0 and page.files.item(0).text() == f"{clone}:/", timeout=10_000)
    listed = [page.files.item(i).text() for i in range(1, page.files.count())]
    assert any(text.endswith(" greeting") for text in listed) and any(text.endswith(" sub/") for text in listed)
    reader = created.run(f"{PREFIX}reader", ["cat", "/a/greeting", "/a/sub/file", "/b/greeting", "/b/sub/file"],
                         HostConfig={"Binds": [f"{imported}:/a:ro", f"{clone}:/b:ro"]})
    assert created.wait(reader) == 0
    assert created.output(reader) == "hello\nnested\nhello\nnested\n"
    archive.unlink()


# -- pull and the task panel -----------------------------------------------------------------------


def random_rootfs(size: int) -> bytes:
    """A one-file rootfs of incompressible bytes: big enough for the pull to report progress."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("payload.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(os.urandom(size)))
    return buffer.getvalue()


def stream_ok(answer: tuple[int, dict[str, str], bytes]) -> None:
    """A JSON-lines answer (import, push) that succeeded, errors included in the stream."""
    status, _, body = answer
    assert status == 200, body
    for line in body.decode().splitlines():
        assert "error" not in json.loads(line), line


def import_random(api: RawApi, repo: str, tag: str, size: int) -> str:
    """An image `repo:tag` of `size` random bytes, made in berthd (no registry involved yet)."""
    stream_ok(api.request("POST", f"/images/create?fromSrc=-&repo={repo}&tag={tag}", random_rootfs(size),
                          {"Content-Type": "application/x-tar"}))
    return f"{repo}:{tag}"


def test_pull_is_followed_in_the_task_panel(
    qtbot: Any, created: Created, make_window: Callable[[str], MainWindow], berthd: Berthd, tmp_path: Path,
) -> None:
    with running_registry(tmp_path / "registry") as registry:
        # An image only the registry has: push one made here, then remove it (and its layer) locally.
        api = berthd.api
        reference = import_random(api, f"{registry.host}/gui/pulled", "1", 3 << 20)
        created.images.append(reference)
        stream_ok(api.request("POST", f"/images/{registry.host}/gui/pulled/push?tag=1",
                              headers={"X-Registry-Auth": "e30="}))  # "{}": anonymous
        status, _, body = api.request("DELETE", f"/images/{quote(reference, safe='')}")
        assert status == 200, body

        window = make_window(berthd.url)
        wait_for_events(qtbot, window)
        window.show_place("images")
        page = window.images_page
        qtbot.waitUntil(lambda: window.images_model.rowCount() > 0, timeout=10_000)
        seen: list[tuple[str, float | None, str]] = []  # (panel line, fraction, state) at each change

        def record(job: Job) -> None:
            seen.append((window.task_panel.summary.text(), job.fraction, job.state))

        window.jobs.jobChanged.connect(record)
        qtbot.mouseClick(page.pull_button, Qt.MouseButton.LeftButton)
        dialog = page.pull_dialog
        assert dialog is not None and dialog.isVisible() and dialog.windowTitle() == "Pull an image"
        field = dialog.fields["image"]
        qtbot.waitUntil(lambda: dialog.focusWidget() is field)  # the dialog is ready to type in
        qtbot.keyClicks(field, reference)
        qtbot.keyClick(field, Qt.Key.Key_Return)
        assert dialog.isVisible() and dialog.status.isVisible()  # it waits for the pull, which goes on

        assert len(window.jobs.jobs) == 1
        job = window.jobs.jobs[0]
        assert job.title == f"pulling {reference}"
        qtbot.waitUntil(lambda: job.state != "running", timeout=30_000)
        assert job.state == "done", job.error
        qtbot.waitUntil(lambda: not dialog.isVisible())  # closed once the pull worked
        assert window.task_panel.summary.text() == f"tasks: pulling {reference} ✓"
        assert seen[0] == (f"tasks: ⟳ pulling {reference}", None, "running")
        # Progress while it ran: a known share of the bytes, shown as a percentage in the panel.
        partial = [(line, f) for line, f, state in seen if state == "running" and f is not None and 0 < f < 1]
        assert partial, seen
        assert all(line.startswith(f"tasks: ⟳ pulling {reference} ") and line.endswith(" %") for line, _ in partial)
        assert any("Downloading" in status for status in job.log), job.log
        assert any("Pull complete" in status for status in job.log), job.log

        # The expanded panel lists it as done; the image is in the table.
        qtbot.mouseClick(window.task_panel.toggle, Qt.MouseButton.LeftButton)
        assert window.task_panel.table.isVisible()
        assert window.jobs.data(window.jobs.index(0, 0)) == f"pulling {reference} ✓"

        def listed() -> bool:
            return any(reference in (window.images_model.item(key) or {}).get("RepoTags", [])
                       for key in window.images_model.all_keys())

        qtbot.waitUntil(listed, timeout=10_000)
        assert not page.message.isVisible(), page.message.text()
        assert api.json("GET", f"/images/{quote(reference, safe='')}/json")["RepoTags"] == [reference]


def test_push_is_followed_in_the_task_panel(
    qtbot: Any, created: Created, make_window: Callable[[str], MainWindow], berthd: Berthd, tmp_path: Path,
) -> None:
    with running_registry(tmp_path / "registry") as registry:
        reference = import_random(berthd.api, f"{registry.host}/gui/pushed", "2", 1 << 20)
        created.images.append(reference)
        window = make_window(berthd.url)
        window.show_place("images")
        page = window.images_page
        # A second name, given on the page, is a row of its own (as `docker images` lists names);
        # Push acts on the selected row's name only.
        qtbot.waitUntil(lambda: page.select_key(reference), timeout=10_000)
        tag_dialog = page.open_tag_dialog()
        assert tag_dialog is not None
        tag_dialog.fields["name"].setText("local/only:keep")
        tag_dialog.submit.click()
        qtbot.waitUntil(lambda: not tag_dialog.isVisible(), timeout=10_000)
        created.images.append("local/only:keep")
        qtbot.waitUntil(lambda: window.images_model.item("local/only:keep") is not None, timeout=10_000)
        second, first = window.images_model.item("local/only:keep") or {}, window.images_model.item(reference) or {}
        assert second.get("Id") == first.get("Id")
        assert page.select_key(reference)
        qtbot.mouseClick(page.push_button, Qt.MouseButton.LeftButton)
        job = window.jobs.jobs[-1]
        assert job.title == f"pushing {reference}"
        qtbot.waitUntil(lambda: job.state != "running", timeout=30_000)
        assert job.state == "done", job.error
        assert job.fraction == 1.0 and any("Pushed" in line for line in job.log), job.log
        # The registry has it now, under that tag.
        with urllib.request.urlopen(f"{registry.url}/v2/gui/pushed/tags/list", timeout=10) as answer:
            assert json.load(answer)["tags"] == ["2"]
        # Removing one name of an image removes that name only; the image keeps its other one.
        assert page.select_key("local/only:keep")
        qtbot.mouseClick(page.remove_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.confirmation is not None and window.confirmation.isVisible())
        assert window.confirmation is not None and reference in window.confirmation.informativeText()  # it stays
        qtbot.keyClick(window.confirmation, Qt.Key.Key_Return)  # asked first: Enter confirms
        qtbot.waitUntil(lambda: window.images_model.item("local/only:keep") is None, timeout=10_000)
        assert window.images_model.item(reference) is not None
