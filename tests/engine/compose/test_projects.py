"""Compose projects run by the library against a private berthd: busybox services only."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import urllib.request
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from engine.client import EngineClient
from engine.compose import (
    ComposeError,
    Progress,
    build_images,
    down,
    exec_command,
    list_projects,
    load_project,
    load_project_from_dict,
    logs,
    ps,
    up,
)
from tests.engine.compose.projects import STACK, free_port, labelled, remove_project, unique, write_project
from tests.support.cli import eventually
from tests.support.daemon import Berthd
from tests.support.peers import PrivateDockerd, dockerd_missing

pytestmark = pytest.mark.integration

T = TypeVar("T")


def go(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def projects(berthd: Berthd, busybox_image: str) -> Iterator[list[str]]:
    """Names of projects to remove after the test, whatever it left."""
    names: list[str] = []
    yield names
    for name in names:
        remove_project(berthd.api, name)


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode())


def test_stack_lifecycle(berthd: Berthd, projects: list[str], tmp_path: Path) -> None:
    name = unique("stack")
    projects.append(name)
    port = free_port()
    path = write_project(tmp_path / name, STACK.format(port=port, page="hello-compose"))
    events: list[Progress] = []

    async def bring_up(**kwargs: Any) -> dict[str, list[str]]:
        project = load_project([path], environ={})
        async with EngineClient(berthd.url) as engine:
            found = await up(engine, project, progress=events.append, **kwargs)
        ids: dict[str, list[str]] = {}
        for c in found:
            ids.setdefault(c.service, []).append(c.id)
        return ids

    first = go(bring_up())
    assert {k: len(v) for k, v in first.items()} == {"db": 1, "web": 1, "worker": 2}
    steps = [(e.name, e.action) for e in events]
    # web is created only once db is healthy.
    assert steps.index((f"{name}-db-1", "Healthy")) < steps.index((f"{name}-web-1", "Created"))

    project = load_project([path], environ={})

    async def states() -> dict[str, tuple[str, str, str]]:
        async with EngineClient(berthd.url) as engine:
            return {c.name: (c.service, c.state, c.health) for c in await ps(engine, project)}

    assert go(states()) == {f"{name}-db-1": ("db", "running", "healthy"), f"{name}-web-1": ("web", "running", ""),
                            f"{name}-worker-1": ("worker", "running", ""),
                            f"{name}-worker-2": ("worker", "running", "")}
    assert http_get(f"http://127.0.0.1:{port}/").strip() == "hello-compose"
    web = berthd.api.json("GET", f"/containers/{name}-web-1/json")
    assert web["HostConfig"]["Memory"] == 64 * 1024**2
    assert web["HostConfig"]["NanoCpus"] == 500_000_000
    assert web["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert web["Config"]["Labels"]["com.docker.compose.container-number"] == "1"
    network = berthd.api.json("GET", f"/networks/{name}_default")
    assert network["Labels"]["com.docker.compose.network"] == "default"
    volume = berthd.api.json("GET", f"/volumes/{name}_data")
    assert volume["Labels"]["com.docker.compose.volume"] == "data"

    async def worker_output() -> str:
        async with EngineClient(berthd.url) as engine:
            return "\n".join([line.text async for line in logs(engine, project, ["worker"])])

    # The workers reach web by its service name on the project's network.
    assert eventually(lambda: "hello-compose" in go(worker_output()), timeout=15)

    # Nothing changed: nothing recreated.
    assert go(bring_up()) == first
    # Scaled up: the two workers stay, a third joins.
    scaled = go(bring_up(scale={"worker": 3}))
    assert scaled["db"] == first["db"] and set(first["worker"]) < set(scaled["worker"])
    # A changed service is recreated; the others keep their containers.
    path.write_text(path.read_text().replace("sleep 0.5", "sleep 0.4"))
    changed = go(bring_up())
    assert changed["db"] == first["db"] and changed["web"] == first["web"]
    assert len(changed["worker"]) == 2 and not set(changed["worker"]) & set(scaled["worker"])

    async def first_mark() -> int | str:
        async with EngineClient(berthd.url) as engine:
            out: list[bytes] = []
            code = await exec_command(engine, project, "db", ["cat", "/data/first"],
                                      output=lambda _, data: out.append(data))
        return code if code else b"".join(out).decode()

    mark = go(first_mark())
    assert isinstance(mark, str) and mark.strip()

    # down keeps named volumes: the data is there after up.
    async def take_down(volumes: bool) -> None:
        async with EngineClient(berthd.url) as engine:
            await down(engine, load_project([path], environ={}), volumes=volumes)

    go(take_down(False))
    assert labelled(berthd.api, "containers", name) == [] and labelled(berthd.api, "networks", name) == []
    assert len(labelled(berthd.api, "volumes", name)) == 1
    go(bring_up())
    assert go(first_mark()) == mark
    go(take_down(True))
    for kind in ("containers", "networks", "volumes"):
        assert labelled(berthd.api, kind, name) == [], kind


def test_completed_successfully_gates_and_failures_stop_up(berthd: Berthd, projects: list[str], tmp_path: Path
                                                           ) -> None:
    name = unique("jobs")
    projects.append(name)
    path = write_project(tmp_path / name, """\
        services:
          migrate:
            image: busybox
            command: ["sh", "-c", "sleep 0.5; echo migrated"]
          app:
            image: busybox
            init: true
            command: ["sleep", "3600"]
            depends_on:
              migrate: {condition: service_completed_successfully}
          broken:
            image: busybox
            command: ["sh", "-c", "exit 3"]
            profiles: [broken]
          after-broken:
            image: busybox
            init: true
            command: ["sleep", "3600"]
            profiles: [broken]
            depends_on:
              broken: {condition: service_completed_successfully}
        """)

    async def run(profiles: list[str]) -> dict[str, str]:
        project = load_project([path], environ={}, profiles=profiles)
        async with EngineClient(berthd.url) as engine:
            await up(engine, project)
            return {c.service: c.state for c in await ps(engine, project, all=True)}

    assert go(run([])) == {"migrate": "exited", "app": "running"}
    with pytest.raises(ComposeError, match="service broken didn't complete successfully: exit 3"):
        go(run(["broken"]))
    names = {str(c["Names"][0]).lstrip("/") for c in labelled(berthd.api, "containers", name)}
    assert f"{name}-after-broken-1" not in names

    async def summary() -> list[str]:
        async with EngineClient(berthd.url) as engine:
            return [p.name for p in await list_projects(engine)]

    assert name in go(summary())


def test_build_then_run(berthd: Berthd, projects: list[str], tmp_path: Path) -> None:
    name = unique("built")
    projects.append(name)
    root = tmp_path / name
    write_project(root / "app", "FROM busybox\nCOPY greeting.txt /greeting.txt\nCOPY . /ctx/\n", name="Dockerfile")
    (root / "app" / "greeting.txt").write_text("built-by-compose\n")
    (root / "app" / "secret.txt").write_text("not in the context\n")
    (root / "app" / "top.tmp").write_text("scratch\n")
    (root / "app" / "kept.txt").write_text("kept\n")
    # Docker's rules: `**` also matches no directory at all, so top.tmp is left out too.
    (root / "app" / ".dockerignore").write_text("secret.txt\n**/*.tmp\n")
    path = write_project(root, """\
        services:
          app:
            build: ./app
            init: true
            command: ["sh", "-c", "cat /greeting.txt; ls /secret.txt 2>&1; ls /ctx; sleep 3600"]
        """)
    project = load_project([path], environ={})
    events: list[Progress] = []

    async def go_up() -> str:
        async with EngineClient(berthd.url) as engine:
            await up(engine, project, progress=events.append)
            return "\n".join([line.text async for line in logs(engine, project)])

    if berthd.api.request("POST", "/build")[0] == 404:
        async def build() -> None:
            async with EngineClient(berthd.url) as engine:
                await build_images(engine, project, progress=events.append)

        with pytest.raises(ComposeError, match="the engine cannot build"):
            go(build())
        assert any(e.action == "Skipped" for e in events)
        return
    assert eventually(lambda: "built-by-compose" in go(go_up()), timeout=15)
    output = go(go_up())
    assert "No such file" in output and "kept.txt" in output
    assert "top.tmp" not in output
    assert (f"{name}-app", "Built") in [(e.name, e.action) for e in events]

    async def go_down() -> None:
        async with EngineClient(berthd.url) as engine:
            await down(engine, project, rmi="local")

    go(go_down())
    assert berthd.api.request("GET", f"/images/{name}-app/json")[0] == 404


def test_same_project_on_stock_dockerd(tmp_path: Path, busybox_tar: Path) -> None:
    """The library speaks only the Engine API: a stock dockerd runs the same project."""
    missing = dockerd_missing()
    if missing:
        pytest.skip(missing)
    # containerd's socket lives under the exec root: pytest's tmp paths are too long for a socket name.
    short = Path(tempfile.mkdtemp(prefix="bcd", dir="/tmp"))
    dockerd = PrivateDockerd(short / "d")
    try:
        dockerd.start()
        status, _, body = dockerd.api.request("POST", "/images/create?fromSrc=-&repo=busybox&tag=latest",
                                              busybox_tar.read_bytes(), {"Content-Type": "application/x-tar"})
        assert status == 200, body
        project = load_project_from_dict({
            "services": {
                "db": {"image": "busybox", "init": True,
                       "command": ["sh", "-c", "sleep 0.5; touch /tmp/ok; exec sleep 300"],
                       "healthcheck": {"test": "test -f /tmp/ok", "interval": "500ms"}, "volumes": ["data:/data"]},
                "web": {"image": "busybox", "init": True, "command": ["sleep", "300"], "deploy": {"replicas": 2},
                        "depends_on": {"db": {"condition": "service_healthy"}}}},
            "volumes": {"data": {}}}, name="peer", working_dir=tmp_path)

        async def roundtrip() -> list[tuple[str, str, str]]:
            async with EngineClient(dockerd.url) as engine:
                await up(engine, project)
                found = [(c.name, c.state, c.health) for c in await ps(engine, project)]
                await down(engine, project, volumes=True)
                return found

        assert go(roundtrip()) == [("peer-db-1", "running", "healthy"), ("peer-web-1", "running", ""),
                                   ("peer-web-2", "running", "")]
        for kind in ("containers", "networks", "volumes"):
            assert labelled(dockerd.api, kind, "peer") == [], kind
    finally:
        dockerd.stop()
        shutil.rmtree(short, ignore_errors=True)
