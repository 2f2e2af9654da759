from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any, TypeVar

import pytest

from engine.client import (
    EngineClient,
    EngineClientError,
    EngineUnreachable,
    default_engine_url,
    describe_version,
)
from tests.engine.client.fake_engine import FakeEngine

pytestmark = pytest.mark.unit
T = TypeVar("T")


def run(url: str, work: Callable[[EngineClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with EngineClient(url) as engine:
            return await work(engine)

    return asyncio.run(main())


def test_ping_version_and_describe(fake_engine: FakeEngine) -> None:
    async def work(engine: EngineClient) -> tuple[bool, dict[str, Any], str, str]:
        ok = await engine.ping()
        return ok, await engine.version(), await engine.describe(), await engine.api_version()

    ok, version, description, api = run(fake_engine.url, work)
    assert ok
    assert version["Version"] == "9.9.9"
    assert description == "Fake Engine 9.9.9"
    assert api == "1.45"


def test_speaks_an_older_engines_api_version(fake_engine: FakeEngine) -> None:
    fake_engine.version_body["ApiVersion"] = "1.41"

    async def work(engine: EngineClient) -> list[dict[str, Any]]:
        return await engine.containers()

    run(fake_engine.url, work)
    assert "GET /v1.41/containers/json" in fake_engine.requests


def test_container_lifecycle(fake_engine: FakeEngine) -> None:
    def on_start(container: Any) -> None:
        container.output = [(1, b"hello\n"), (2, "wärning\n".encode())]

    fake_engine.on_start = on_start

    async def work(engine: EngineClient) -> tuple[Any, ...]:
        id = await engine.create_container({"Image": "busybox:latest", "Cmd": ["echo", "hello"]}, name="web")
        await engine.start(id)
        running = await engine.container(id[:12])
        logs = await engine.logs(id)
        chunks = [chunk async for chunk in engine.stream_logs(id, follow=False)]
        inspected = await engine.inspect_container(id)
        await engine.stop(id, timeout=1)
        code = await engine.wait(id)
        await engine.remove(id)
        gone = await engine.container(id)
        return id, running, logs, chunks, inspected, code, gone

    id, running, logs, chunks, inspected, code, gone = run(fake_engine.url, work)
    assert len(id) == 64
    assert running is not None and running["State"] == "running" and running["Names"] == ["/web"]
    assert logs == "hello\nwärning\n"
    assert [(c.stream, c.text) for c in chunks] == [("stdout", "hello\n"), ("stderr", "wärning\n")]
    assert inspected["Config"]["Image"] == "busybox:latest"
    assert code == 137
    assert gone is None


def test_engine_errors_carry_status_and_message(fake_engine: FakeEngine) -> None:
    async def work(engine: EngineClient) -> None:
        await engine.start("nope")

    with pytest.raises(EngineClientError) as caught:
        run(fake_engine.url, work)
    assert caught.value.status == 404
    assert caught.value.message == "No such container: nope"
    assert caught.value.not_found


def test_remove_running_without_force_is_a_conflict(fake_engine: FakeEngine) -> None:
    id = fake_engine.add_container("busy", state="running")

    async def work(engine: EngineClient) -> None:
        await engine.remove(id)

    with pytest.raises(EngineClientError) as caught:
        run(fake_engine.url, work)
    assert caught.value.status == 409
    assert "container is running" in caught.value.message

    async def force(engine: EngineClient) -> None:
        await engine.remove(id, force=True)

    run(fake_engine.url, force)
    assert fake_engine.containers == {}


def test_list_filters_and_images(fake_engine: FakeEngine) -> None:
    fake_engine.add_container("a", state="running")
    fake_engine.add_container("b", state="exited")

    async def work(engine: EngineClient) -> tuple[list[dict[str, Any]], ...]:
        return await engine.containers(all=False), await engine.containers(), await engine.images()

    running, everything, images = run(fake_engine.url, work)
    assert [c["Names"] for c in running] == [["/a"]]
    assert len(everything) == 2
    assert images[0]["RepoTags"] == ["busybox:latest"]


def test_events_stream(fake_engine: FakeEngine) -> None:
    async def work(engine: EngineClient) -> list[str]:
        seen: list[str] = []

        async def listen() -> None:
            # aclosing: leaving the loop early must close the stream now, not at garbage collection.
            async with aclosing(engine.events(filters={"type": ["container"]})) as events:
                async for event in events:
                    seen.append(event["Action"])
                    if len(seen) == 2:
                        return

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0.2)  # let the subscription reach the engine
        id = await engine.create_container({"Image": "busybox:latest"}, name="ev")
        await engine.start(id)
        await asyncio.wait_for(listener, 5)
        return seen

    assert run(fake_engine.url, work) == ["create", "start"]


def test_events_not_served_is_an_error_at_first_iteration(fake_engine: FakeEngine) -> None:
    fake_engine.events_enabled = False

    async def work(engine: EngineClient) -> None:
        async for _ in engine.events():
            pass

    with pytest.raises(EngineClientError) as caught:
        run(fake_engine.url, work)
    assert caught.value.status == 501
    assert caught.value.not_implemented


def test_unreachable_engine(tmp_path: Path) -> None:
    url = f"unix://{tmp_path}/absent.sock"

    async def ping(engine: EngineClient) -> bool:
        return await engine.ping()

    assert run(url, ping) is False

    async def listing(engine: EngineClient) -> list[dict[str, Any]]:
        return await engine.containers()

    with pytest.raises(EngineUnreachable) as caught:
        run(url, listing)
    assert caught.value.url == url
    assert "absent.sock" in str(caught.value) or caught.value.reason


def test_default_url_order(tmp_path: Path) -> None:
    berth_socket = tmp_path / "berth.sock"
    assert default_engine_url({"BERTH_HOST": "unix:///a", "DOCKER_HOST": "unix:///b"}) == "unix:///a"
    assert default_engine_url({"DOCKER_HOST": "/b.sock"}, berth_socket) == "unix:///b.sock"
    assert default_engine_url({}, berth_socket) == "unix:///var/run/docker.sock"
    berth_socket.touch()
    assert default_engine_url({}, berth_socket) == f"unix://{berth_socket}"


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ({"Platform": {"Name": "Berth"}, "Version": "0.1.0"}, "Berth 0.1.0"),
        ({"Platform": {"Name": "Berth 0.1.0"}, "Version": "0.1.0"}, "Berth 0.1.0"),
        (
            {"Platform": {"Name": ""}, "Components": [{"Name": "Engine"}], "Version": "20.10.24"},
            "Docker Engine 20.10.24",
        ),
        ({"Components": [{"Name": "Podman Engine"}], "Version": "4.3.1"}, "Podman Engine 4.3.1"),
        ({}, "Docker Engine"),
    ],
)
def test_describe_version(version: dict[str, Any], expected: str) -> None:
    assert describe_version(version) == expected


@pytest.mark.parametrize("reference", ["busybox@sha256:" + "ab" * 32, "fake.registry:5000/team/app:1.0"])
def test_pull_asks_as_the_docker_cli_does(fake_engine: FakeEngine, reference: str) -> None:
    # A digest goes in `tag` with the bare name in `fromImage`; a registry's port stays on the name.
    fake_engine.registry.add(reference)

    async def work(engine: EngineClient) -> list[dict[str, Any]]:
        return [item async for item in engine.pull(reference)]

    assert run(fake_engine.url, work)
    assert reference in fake_engine.pulled
