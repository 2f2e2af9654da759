"""Berth's own client translates Windows bind paths for a Berth WSL machine, and only for one: `berth run -v
C:\\Users\\me\\app:/app` and the desktop's Run reach the engine as /mnt/c/Users/me/app. Tested on Linux with the
platform faked as Windows (so a machine's engine is loopback TCP, as there) and a recording engine on that port."""

from __future__ import annotations

import asyncio
import http.server
import io
import json
import ntpath
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from vmhost import localend, winpaths
from vmhost.machine import Machine
from vmhost.machines import Machines

WINDOWS_BIND = r"C:\Users\me\app:/app:ro"
WINDOWS_MOUNT = r"D:\data"


@dataclass
class Recorder:
    url: str = ""
    creates: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def engine() -> Iterator[Recorder]:
    """An engine on loopback TCP that records each create body and answers enough for `berth create`."""
    recorder = Recorder()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, body: Any = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Api-Version", "1.45")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.endswith("/_ping"):
                self._answer(200, "OK")
            else:
                self._answer(200, {"ApiVersion": "1.45", "Version": "9.9.9", "Os": "linux", "Arch": "amd64"})

        def do_HEAD(self) -> None:
            self._answer(200)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if "/containers/create" in self.path:
                recorder.creates.append(json.loads(body))
                self._answer(201, {"Id": "c0ffee" * 10 + "c0ff", "Warnings": []})
            else:
                self._answer(204)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder.url = f"tcp://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def windows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Machines:
    """The platform faked as Windows, with the user's machines in a directory of the test's own. The CLI makes
    a --mount source absolute with os.path, which is ntpath there (D:\\data stays D:\\data)."""
    monkeypatch.setattr(localend, "system", lambda: "Windows")
    monkeypatch.setattr(os.path, "abspath", ntpath.abspath)
    monkeypatch.setenv("BERTH_MACHINES_DIR", str(tmp_path / "machines"))
    return Machines(tmp_path / "machines")


def add_machine(machines: Machines, name: str, backend: str, engine_url: str) -> Machine:
    """A machine whose tunnel ends at `engine_url` (loopback TCP, as on Windows)."""
    port = int(engine_url.rsplit(":", 1)[1])
    machine = Machine(name=name, image="rootfs.tar", ssh_port=2222, backend=backend, engine_port=port)
    machine.dir = machines.root / name
    machine.dir.mkdir(parents=True)
    machines.save(machine)
    assert machine.docker_host == engine_url
    return machine


def berth(*argv: str) -> tuple[int, str, str]:
    from app import cli

    out, err = io.StringIO(), io.StringIO()
    code = asyncio.run(cli.dispatch(cli.build_parser().parse_args(list(argv)), out, err))
    return code, out.getvalue(), err.getvalue()


def create_binds(engine: Recorder, *flags: str) -> dict[str, Any]:
    code, _, err = berth("--host", engine.url, "create", *flags, "busybox")
    assert code == 0, err
    host: dict[str, Any] = engine.creates[-1]["HostConfig"]
    return host


@pytest.mark.unit
def test_berth_run_sends_wsl_paths_to_a_wsl_machine(engine: Recorder, windows: Machines) -> None:
    add_machine(windows, "default", "wsl", engine.url)
    host = create_binds(engine, "-v", WINDOWS_BIND, "--mount", f"type=bind,source={WINDOWS_MOUNT},target=/data",
                        "-v", "named:/named")
    assert host["Binds"] == ["/mnt/c/Users/me/app:/app:ro", "named:/named"]
    assert [m["Source"] for m in host["Mounts"]] == ["/mnt/d/data"]


@pytest.mark.unit
@pytest.mark.parametrize("backend", ["qemu", None])
def test_berth_run_sends_the_path_as_typed_to_any_other_engine(engine: Recorder, windows: Machines,
                                                              backend: str | None) -> None:
    # A QEMU machine at that address, or no machine at all (dockerd, Docker Desktop): the path is the host's.
    if backend:
        add_machine(windows, "default", backend, engine.url)
    host = create_binds(engine, "-v", WINDOWS_BIND, "--mount", f"type=bind,source={WINDOWS_MOUNT},target=/data")
    assert host["Binds"] == [WINDOWS_BIND]
    assert [m["Source"] for m in host["Mounts"]] == [WINDOWS_MOUNT]


@pytest.mark.unit
def test_a_wsl_machine_elsewhere_does_not_translate_for_this_engine(engine: Recorder, windows: Machines) -> None:
    add_machine(windows, "wsl", "wsl", "tcp://127.0.0.1:1")
    assert create_binds(engine, "-v", WINDOWS_BIND)["Binds"] == [WINDOWS_BIND]


@pytest.mark.unit
def test_creates_without_windows_paths_never_look_machines_up(engine: Recorder, windows: Machines,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: object) -> bool:
        raise AssertionError("machines looked up for a create with nothing to translate")

    add_machine(windows, "default", "wsl", engine.url)
    monkeypatch.setattr(winpaths, "is_wsl_machine_engine", fail)
    assert create_binds(engine, "-v", "/srv/app:/app")["Binds"] == ["/srv/app:/app"]


@pytest.mark.unit
def test_the_pipe_relay_and_the_client_share_one_translation() -> None:
    from vmhost import npipe

    body: dict[str, Any] = {"Image": "busybox", "HostConfig": {"Binds": [WINDOWS_BIND], "Mounts": [
        {"Type": "bind", "Source": WINDOWS_MOUNT, "Target": "/data"},
        {"Type": "volume", "Source": "C:named", "Target": "/v"}]}}
    translated = winpaths.translate_create(body)
    assert json.loads(npipe.translate_create(json.dumps(body).encode())) == translated
    assert translated["HostConfig"]["Binds"] == ["/mnt/c/Users/me/app:/app:ro"]
    assert translated["HostConfig"]["Mounts"][0]["Source"] == "/mnt/d/data"
    assert translated["HostConfig"]["Mounts"][1]["Source"] == "C:named"  # a volume's name is not a path
    assert body["HostConfig"]["Binds"] == [WINDOWS_BIND]  # the caller's body is left as it was
    plain: dict[str, Any] = {"Image": "busybox", "HostConfig": {"Binds": ["/srv:/srv"]}}
    assert winpaths.translate_create(plain) is plain


@pytest.mark.unit
def test_a_wsl_machine_served_on_a_pipe_is_known_by_the_pipe(windows: Machines, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    from vmhost import procs
    from vmhost.localend import BERTH_PIPE

    monkeypatch.setattr(procs, "_windows_alive", lambda pid: pid == os.getpid())  # OpenProcess, faked
    machine = add_machine(windows, "default", "wsl", "tcp://127.0.0.1:50123")
    assert not winpaths.is_wsl_machine_engine("npipe:////./pipe/berth")
    (machine.dir / "agent.pid").write_text(f"{os.getpid()}\n")
    (machine.dir / "status.json").write_text(json.dumps({"state": "running", "pipes": [BERTH_PIPE]}))
    assert winpaths.is_wsl_machine_engine("npipe:////./pipe/berth")
    assert winpaths.is_wsl_machine_engine("tcp://127.0.0.1:50123")
    assert not winpaths.is_wsl_machine_engine("npipe:////./pipe/docker_engine")


@pytest.mark.unit  # a QObject and its signals, no window: no QApplication is needed
def test_the_desktops_run_sends_wsl_paths_to_a_wsl_machine(engine: Recorder, windows: Machines) -> None:
    from PySide6.QtCore import QObject, Signal

    from app.client import engine_client
    from app.dialogs.run_form import RunForm
    from app.services.containers import ContainerService

    class Connection(QObject):
        resyncNeeded = Signal()
        containerEvent = Signal(dict)

        def __init__(self, url: str) -> None:
            super().__init__()
            self.url = url
            self.client = engine_client(url)  # as the window's EngineConnection makes it

    async def run(url: str) -> None:
        connection = Connection(url)
        service = ContainerService(connection)  # type: ignore[arg-type]
        failed: list[str] = []
        service.actionFailed.connect(lambda _id, _action, message: failed.append(message))
        config = RunForm("busybox", volumes=((r"C:\Users\me\app", "/app"),)).create_body()
        await service._run(config, None)
        await service.close()
        await connection.client.close()
        assert not failed

    asyncio.run(run(engine.url))  # no machine: dockerd or Docker Desktop
    assert engine.creates[-1]["HostConfig"]["Binds"] == [r"C:\Users\me\app:/app"]
    add_machine(windows, "default", "wsl", engine.url)
    asyncio.run(run(engine.url))
    assert engine.creates[-1]["HostConfig"]["Binds"] == ["/mnt/c/Users/me/app:/app"]


@pytest.mark.unit
def test_compose_creates_send_wsl_paths_to_a_wsl_machine(engine: Recorder, windows: Machines) -> None:
    """`berth compose up` (and the desktop's compose) create through the client Berth's front ends make: a
    service's bind of a Windows folder reaches a WSL machine as its distro's path, any other engine as typed."""
    from app.client import engine_client
    from engine.compose import operations
    from engine.compose.loader import load_project_from_dict

    project = load_project_from_dict({"services": {"web": {"image": "busybox", "volumes": [
        {"type": "bind", "source": r"C:\Users\me\app", "target": "/app"}]}}}, name="demo", working_dir=Path("/w"))

    async def create() -> dict[str, Any]:
        async with engine_client(engine.url) as client:
            await operations._create(client, project, project.services["web"], 1, no_start=True,
                                     report=lambda progress: None)
        return engine.creates[-1]["HostConfig"]

    host = asyncio.run(create())  # no machine: dockerd or Docker Desktop
    assert host["Binds"] == [r"C:\Users\me\app:/app:rw"]
    add_machine(windows, "default", "wsl", engine.url)
    host = asyncio.run(create())
    assert host["Binds"] == ["/mnt/c/Users/me/app:/app:rw"]
