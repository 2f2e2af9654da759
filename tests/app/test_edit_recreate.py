"""Edit and recreate (issue 23): the Run form filled from a container's inspect, its docker run line,
and Recreate under the same name with its named volume's data intact; a refused create keeps the old
container as it was; a compose service opens its compose file instead."""

from __future__ import annotations

import contextlib
import io
import shlex
import tarfile
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices

from app.dialogs.run_form import PortRow, form_from_inspect, recreate_body
from engine.client import EngineClient, EngineClientError
from tests.app.support import remove_and_close, state_text

pytestmark = [pytest.mark.gui, pytest.mark.integration]

NAME = "berth-gui-edit"
VOLUME = "berth-gui-edit-data"
# Writes a random word into the volume once (a recreated container finds it there), then waits.
COMMAND = ["sh", "-c", "test -f /data/kept || cat /proc/sys/kernel/random/uuid > /data/kept; exec sleep 300"]


async def _read(engine: EngineClient, id: str, path: str) -> str:
    data = b"".join([chunk async for chunk in engine.archive(id, path)])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.next()
        assert member is not None
        source = tar.extractfile(member)
        assert source is not None
        return source.read().decode()


def _env(dialog: Any) -> dict[str, str]:
    return dict(dialog.env.values())


def test_edit_and_recreate_keeps_the_volume_and_a_failed_create_keeps_the_old(
    qtbot: Any, berthd: Any, busybox_image: str, make_window: Any, run_async: Any,
) -> None:
    engine = EngineClient(berthd.url)

    async def start() -> str:
        await engine.request("POST", "volumes/create", body={"Name": VOLUME})
        id = await engine.create_container({
            "Image": busybox_image, "Cmd": COMMAND, "Env": ["GREETING=hello"], "Labels": {"team": "web"},
            "ExposedPorts": {"8080/tcp": {}},
            "HostConfig": {"Binds": [f"{VOLUME}:/data"], "RestartPolicy": {"Name": "unless-stopped"},
                           "PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]},
                           "Memory": 64 * 1024 * 1024},
        }, name=NAME)
        await engine.start(id)
        return id

    old_id = run_async(start(), timeout=30_000)
    ids = [old_id]
    try:
        qtbot.waitUntil(lambda: len(run_async(_read(engine, old_id, "/data/kept"))) > 30, timeout=10_000)
        precious = run_async(_read(engine, old_id, "/data/kept"))
        window = make_window(berthd.url)
        qtbot.waitUntil(lambda: state_text(window, NAME) == "running", timeout=10_000)
        assert window.containers_page.select_container(old_id)
        detail = window.detail
        detail.show_tab("Overview")
        qtbot.waitUntil(lambda: detail.inspected.get("Id") == old_id, timeout=10_000)
        assert detail.edit_button.text() == "Edit…"
        qtbot.mouseClick(detail.edit_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: detail.edit_flow.dialog is not None and detail.edit_flow.dialog.isVisible(),
                        timeout=10_000)
        dialog = detail.edit_flow.dialog
        # Pre-filled from inspect, less what the image gives (no PATH from busybox's config).
        assert dialog.windowTitle() == f"Edit {NAME}" and dialog.run_button.text() == "Recreate"
        assert dialog.name.text() == NAME and dialog.name.isReadOnly()
        assert _env(dialog) == {"GREETING": "hello"}
        assert dialog.volumes.values() == [(VOLUME, "/data")]
        assert dialog.ports.values() == [("8080", "127.0.0.1:")]  # any free port, on that address only
        assert dialog.restart.currentText() == "unless-stopped"
        assert dict(dialog.labels.values()) == {"team": "web"}
        assert dialog.command.text() == shlex.join(COMMAND)
        line = dialog.run_line.text()
        assert line.startswith(f"docker run -d --name {NAME} --restart unless-stopped")
        assert f"-v {VOLUME}:/data" in line and "-e GREETING=hello" in line and "--label team=web" in line
        assert "-p 127.0.0.1::8080" in line

        # A create the engine refuses (no such network): the old container stays, running, as it was.
        dialog.show_advanced(True)
        dialog.network.setCurrentText("berth-no-such-network")
        dialog.run_button.click()
        qtbot.waitUntil(lambda: dialog.error.isVisible(), timeout=20_000)
        said = dialog.error.text()
        assert f"Could not recreate {NAME}" in said and "kept as it was" in said and f"-v {VOLUME}:/data" in said
        assert dialog.isVisible() and dialog.run_button.isEnabled()  # everything typed is still there
        still = run_async(engine.inspect_container(NAME))
        assert still["Id"] == old_id and still["State"]["Running"]
        names = [str(c["Names"][0]) for c in run_async(engine.containers(all=True))]
        assert not any("berth-new" in n or "berth-old" in n for n in names), names

        # Edited for real: the environment changes, the volume's data stays.
        dialog.network.setCurrentText("")
        for _, first, second in dialog.env.rows:
            if first.text() == "GREETING":
                second.setText("edited")
        dialog.run_button.click()
        qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=30_000)
        new = run_async(engine.inspect_container(NAME))
        ids.append(new["Id"])
        assert new["Id"] != old_id and new["State"]["Running"]
        assert "GREETING=edited" in new["Config"]["Env"]
        assert new["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
        assert new["HostConfig"]["Memory"] == 64 * 1024 * 1024  # what the form does not show is kept
        assert new["HostConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
        assert any(m.get("Name") == VOLUME and m["Destination"] == "/data" for m in new["Mounts"])
        assert run_async(_read(engine, new["Id"], "/data/kept")) == precious  # the volume's data is intact
        with pytest.raises(EngineClientError):
            run_async(engine.inspect_container(old_id))  # the old container is gone
        qtbot.waitUntil(lambda: window.detail.id == new["Id"], timeout=10_000)  # shown in its place
        qtbot.waitUntil(lambda: state_text(window, NAME) == "running", timeout=10_000)
    finally:

        async def clean() -> None:
            for id in ids:
                with contextlib.suppress(EngineClientError):
                    await engine.remove(id, force=True)
            with contextlib.suppress(EngineClientError):
                await engine.request("DELETE", f"volumes/{VOLUME}")
            await engine.close()

        run_async(clean(), timeout=30_000)


class _Opened(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_a_compose_service_opens_its_compose_file(
    qtbot: Any, berthd: Any, busybox_image: str, make_window: Any, run_async: Any, tmp_path: Path,
) -> None:
    compose_file = tmp_path / "compose.yaml"
    compose_file.write_text("services:\n  web:\n    image: busybox\n")
    engine = EngineClient(berthd.url)
    labels = {"com.docker.compose.project": "berth-gui-shop", "com.docker.compose.service": "web",
              "com.docker.compose.project.config_files": str(compose_file)}
    id = run_async(engine.create_container({"Image": busybox_image, "Cmd": ["true"], "Labels": labels},
                                           name="berth-gui-shop-web-1"))
    opened = _Opened()
    try:
        QDesktopServices.setUrlHandler("file", opened, "open")  # type: ignore[arg-type]  # the stub says bytes
        window = make_window(berthd.url)
        qtbot.waitUntil(lambda: window.containers_page.select_container(id), timeout=10_000)
        detail = window.detail
        qtbot.waitUntil(lambda: detail.inspected.get("Id") == id, timeout=10_000)
        assert detail.edit_button.text() == "Open compose file…"
        qtbot.mouseClick(detail.edit_button, Qt.MouseButton.LeftButton)
        assert [u.toLocalFile() for u in opened.urls] == [str(compose_file)]
        said = detail.edit_note.text().replace("\u200b", "")
        assert "web service of the compose project berth-gui-shop" in said and "edited there" in said
        assert detail.edit_flow.dialog is None
    finally:
        QDesktopServices.unsetUrlHandler("file")

        remove_and_close(run_async, engine, id)


@pytest.mark.unit
def test_form_from_inspect_leaves_out_what_the_image_gives() -> None:
    image = {"Config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "Labels": {"vendor": "x"}}}
    container = {
        "Name": "/web", "Image": "sha256:abc",
        "Config": {"Image": "busybox", "Env": ["PATH=/bin", "A=1=2"], "Cmd": ["sh"],
                   "Labels": {"vendor": "x", "t": "y"}, "Hostname": "0123456789ab", "User": "nobody"},
        "HostConfig": {"Binds": ["data:/data:ro"], "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                                                                    "53/udp": [{"HostIp": "", "HostPort": ""}]},
                       "RestartPolicy": {"Name": "always"}, "NetworkMode": "bridge", "CapAdd": ["NET_ADMIN"],
                       "Links": ["/db:/web/db"]},
        "Mounts": [{"Type": "volume", "Name": "data", "Destination": "/data", "RW": False},
                   {"Type": "volume", "Name": "cache", "Destination": "/cache", "RW": True}],
    }
    form = form_from_inspect(container, image)
    assert form.name == "web" and form.image == "busybox" and form.command == "" and form.entrypoint == ""
    assert form.env == (("A", "1=2"),) and form.labels == (("t", "y"),) and form.network == ""
    assert form.volumes == (("data", "/data:ro"), ("cache", "/cache")) and form.restart == "always"
    assert form.ports == (PortRow("53/udp", ""), PortRow("80", "8080"))
    body = recreate_body(form.create_body(), container)
    assert body["User"] == "nobody" and "Hostname" not in body  # the new container gets its own hostname
    assert body["HostConfig"]["CapAdd"] == ["NET_ADMIN"] and "Links" not in body["HostConfig"]
    assert body["HostConfig"]["Binds"] == ["data:/data:ro", "cache:/cache"]
