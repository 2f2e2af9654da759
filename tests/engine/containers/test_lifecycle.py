"""The container lifecycle against a fake runtime: create, start, pause, stop, kill, restart
policies and removal, with the state, events and runtime calls dockerd's would give. No root."""

from __future__ import annotations

import asyncio
import signal as signals
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from engine.config import EnginePaths
from engine.containers.model import Container, State
from engine.containers.service import ContainerService
from engine.containers.store import ContainerStore
from engine.errors import Conflict, NotFound, NotModified, RuntimeFailure
from engine.events import EventBus
from engine.state.db import Database
from tests.engine.containers.fakes import FakeImages, FakeMounts, FakeNetworking, FakeRootfs, FakeRuntime

pytestmark = pytest.mark.unit


class Engine:
    def __init__(self, tmp: Path) -> None:
        self.paths = EnginePaths(root=tmp / "root", exec_root=tmp / "exec", socket=tmp / "berth.sock")
        self.paths.ensure()
        self.runtime = FakeRuntime(self.paths.exits)
        self.rootfs, self.networking, self.mounts = FakeRootfs(), FakeNetworking(), FakeMounts()
        self.events = EventBus()
        self.svc = ContainerService(self.paths, ContainerStore(Database(self.paths.database)), FakeImages(),
                                    self.runtime, self.rootfs, self.events, self.networking, self.mounts)

    def actions(self, cid: str) -> list[str]:
        return [e.action for e in self.events.since(0) if e.actor_id == cid]

    async def until(self, cid: str, state: State) -> None:
        for _ in range(200):
            if self.svc.get(cid).state is state:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"still {self.svc.get(cid).state}, never {state}")


def lifecycle(body: Callable[[Engine], Awaitable[None]]) -> Callable[[Path], None]:
    """A test of its own event loop, with an engine in `tmp_path` (no pytest-asyncio here)."""

    def test(tmp_path: Path) -> None:
        async def run() -> None:
            engine = Engine(tmp_path)
            try:
                await body(engine)
            finally:
                for c in engine.svc.all():  # no watcher or restart task outlives the test
                    await engine.svc.remove(c.id, force=True)
        asyncio.run(run())

    test.__name__, test.__doc__ = body.__name__, body.__doc__  # not wraps: pytest would ask for `engine`
    return test


@lifecycle
async def test_create_start_stop_remove(engine: Engine) -> None:
    c, warnings = engine.svc.create({"Image": "busybox"}, "web")
    assert (c.state, c.command, warnings) == (State.CREATED, ["sh"], [])
    await engine.svc.start("web")
    c = engine.svc.get("web")
    assert c.state is State.RUNNING and c.pid > 0
    assert engine.rootfs.mounted and c.id in engine.networking.attached
    assert (engine.svc.bundle_dir(c.id) / "config.json").exists()
    with pytest.raises(NotModified):
        await engine.svc.start("web")
    await engine.svc.stop("web", timeout=5)
    c = engine.svc.get("web")
    assert (c.state, c.exit_code, c.pid) == (State.EXITED, 128 + signals.SIGTERM, 0)
    assert not engine.rootfs.mounted and c.id not in engine.networking.attached
    await engine.svc.remove("web")
    with pytest.raises(NotFound):
        engine.svc.get("web")
    assert engine.actions(c.id) == ["create", "start", "kill", "die", "stop", "destroy"]


@lifecycle
async def test_pause_unpause_and_their_refusals(engine: Engine) -> None:
    c, _ = engine.svc.create({"Image": "busybox"}, None)
    with pytest.raises(Conflict, match="is not running"):
        await engine.svc.pause(c.id)
    await engine.svc.start(c.id)
    await engine.svc.pause(c.id)
    assert engine.svc.get(c.id).state is State.PAUSED
    with pytest.raises(Conflict, match="already paused"):
        await engine.svc.pause(c.id)
    with pytest.raises(Conflict, match="cannot remove container"):
        await engine.svc.remove(c.id)
    await engine.svc.unpause(c.id)
    assert engine.svc.get(c.id).state is State.RUNNING
    with pytest.raises(Conflict, match="is not paused"):
        await engine.svc.unpause(c.id)


@lifecycle
async def test_kill_of_a_paused_container_thaws_it(engine: Engine) -> None:
    c, _ = engine.svc.create({"Image": "busybox"}, None)
    await engine.svc.start(c.id)
    await engine.svc.pause(c.id)
    await engine.svc.kill(c.id)
    assert ("resume", c.id) in engine.runtime.calls
    c = engine.svc.get(c.id)
    assert (c.state, c.exit_code) == (State.EXITED, 137)


@lifecycle
async def test_stop_escalates_to_sigkill(engine: Engine) -> None:
    engine.runtime.ignore_signals.add(signals.SIGTERM)
    c, _ = engine.svc.create({"Image": "busybox"}, None)
    await engine.svc.start(c.id)
    await engine.svc.stop(c.id, timeout=0)
    assert [call for call, _ in engine.runtime.calls if call.startswith("kill")] == ["kill 15", "kill 9"]
    assert engine.svc.get(c.id).exit_code == 137


@lifecycle
async def test_failed_start_leaves_it_created_and_undone(engine: Engine) -> None:
    engine.runtime.fail_create = True
    c, _ = engine.svc.create({"Image": "busybox"}, None)
    with pytest.raises(RuntimeFailure):
        await engine.svc.start(c.id)
    c = engine.svc.get(c.id)
    assert (c.state, c.exit_code) == (State.CREATED, 128)
    assert "executable file not found" in c.error
    assert not engine.rootfs.mounted and not engine.networking.attached


@lifecycle
async def test_auto_remove_on_exit(engine: Engine) -> None:
    c, _ = engine.svc.create({"Image": "busybox", "HostConfig": {"AutoRemove": True}}, None)
    await engine.svc.start(c.id)
    engine.runtime.exit(c.id, 0)
    for _ in range(100):
        await asyncio.sleep(0.01)
        if not engine.svc.all():
            break
    assert engine.svc.all() == []
    assert engine.mounts.removed == [c.id]


@lifecycle
async def test_on_failure_restarts_until_its_cap(engine: Engine) -> None:
    policy = {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}}
    c, _ = engine.svc.create({"Image": "busybox", "HostConfig": policy}, None)
    await engine.svc.start(c.id)
    for count in (1, 2):
        engine.runtime.exit(c.id, 3)
        await engine.until(c.id, State.RESTARTING)
        await engine.until(c.id, State.RUNNING)  # after the back-off: 0.1 s, then 0.2 s
        assert engine.svc.get(c.id).restart_count == count
    engine.runtime.exit(c.id, 3)
    await engine.until(c.id, State.EXITED)
    c = engine.svc.get(c.id)
    assert (c.state, c.exit_code, c.restart_count) == (State.EXITED, 3, 2)


@lifecycle
async def test_always_is_not_restarted_after_docker_stop(engine: Engine) -> None:
    c, _ = engine.svc.create({"Image": "busybox", "HostConfig": {"RestartPolicy": {"Name": "always"}}}, None)
    await engine.svc.start(c.id)
    await engine.svc.stop(c.id, timeout=1)
    await asyncio.sleep(0.2)
    c = engine.svc.get(c.id)
    assert (c.state, c.manually_stopped, c.restart_count) == (State.EXITED, True, 0)


@lifecycle
async def test_exit_code_and_wait(engine: Engine) -> None:
    c, _ = engine.svc.create({"Image": "busybox"}, None)
    await engine.svc.start(c.id)
    waiter = engine.svc.wait_future(c.id)
    engine.runtime.exit(c.id, 42)
    assert await asyncio.wait_for(waiter, 2) == 42
    assert engine.actions(c.id)[-1] == "die"


@lifecycle
async def test_restore_after_a_berthd_restart(engine: Engine) -> None:
    """A new service on the same store: the container that exited while berthd was down is
    settled with its code, the one still running is watched again."""
    gone, _ = engine.svc.create({"Image": "busybox"}, "gone")
    alive, _ = engine.svc.create({"Image": "busybox"}, "alive")
    await engine.svc.start("gone")
    await engine.svc.start("alive")
    await engine.svc.close()  # berthd stops; the containers run on under their monitors
    engine.runtime.exit(gone.id, 7)
    engine.svc = ContainerService(engine.paths, ContainerStore(Database(engine.paths.database)), FakeImages(),
                                  engine.runtime, engine.rootfs, engine.events, engine.networking, engine.mounts)
    await engine.svc.restore()
    assert (engine.svc.get("gone").state, engine.svc.get("gone").exit_code) == (State.EXITED, 7)
    assert engine.svc.get("alive").state is State.RUNNING
    engine.runtime.exit(alive.id, 0)
    await engine.until(alive.id, State.EXITED)


@lifecycle
async def test_create_checks_the_requested_platform(engine: Engine) -> None:
    """A platform the local image is not: 404 (the docker CLI then pulls it); nothing is stored."""
    from engine.images.platform import Platform, host_platform

    other = "arm64" if host_platform().architecture != "arm64" else "amd64"
    with pytest.raises(NotFound, match=f"does not match the specified platform: wanted linux/{other}"):
        engine.svc.create({"Image": "busybox"}, "web", Platform("linux", other))
    assert engine.svc.all() == []
    c, _ = engine.svc.create({"Image": "busybox"}, "web", host_platform())
    assert c.spec.restart.name == "no"


@lifecycle
async def test_start_reads_the_typed_specs_not_the_json(engine: Engine) -> None:
    """HostConfig and Config are parsed at create (and at a row's first load), never again at
    start: starts after the first reuse the specs kept with the row."""
    from unittest import mock

    from engine.containers.configspec import ConfigSpec
    from engine.containers.hostspec import HostSpec

    engine.svc.create({"Image": "busybox", "HostConfig": {"Memory": 64 << 20}}, "web")
    await engine.svc.start("web")
    await engine.svc.stop("web", timeout=1)
    with mock.patch.object(HostSpec, "parse", side_effect=AssertionError("HostConfig parsed again")), \
            mock.patch.object(ConfigSpec, "parse", side_effect=AssertionError("Config parsed again")):
        await engine.svc.start("web")
        await engine.svc.stop("web", timeout=1)
    assert engine.svc.get("web").exit_code == 128 + signals.SIGTERM


@lifecycle
async def test_the_bundle_from_the_typed_specs(engine: Engine) -> None:
    """config.json and the /etc files carry the Config and the sandbox options asked at create."""
    import json

    c, _ = engine.svc.create({
        "Image": "busybox", "Cmd": ["top"], "Env": ["A=1"], "WorkingDir": "/srv", "Hostname": "box",
        "Domainname": "example.org", "Tty": True,
        "HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": 512, "Hard": 512}], "ExtraHosts": ["db:10.0.0.5"],
                       "SecurityOpt": ["no-new-privileges"], "ReadonlyRootfs": True, "CapDrop": ["ALL"],
                       "Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/nothing"}]},
    }, "web")
    await engine.svc.start("web")
    oci = json.loads((engine.svc.bundle_dir(c.id) / "config.json").read_text())
    process = oci["process"]
    assert (process["args"], process["cwd"], process["terminal"]) == (["top"], "/srv", True)
    assert "A=1" in process["env"] and "HOSTNAME=box" in process["env"]
    assert {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 512} in process["rlimits"]
    assert process["noNewPrivileges"] is True and process["capabilities"]["effective"] == []
    assert oci["root"]["readonly"] is True and (oci["hostname"], oci["domainname"]) == ("box", "example.org")
    assert any(d["path"] == "/dev/nothing" for d in oci["linux"]["devices"])
    hosts = (engine.paths.containers / c.id / "hosts").read_text()
    assert "10.0.0.5\tdb\n" in hosts and "127.0.1.1\tbox\n" in hosts


@lifecycle
async def test_docker_restart_is_not_a_final_stop(engine: Engine) -> None:
    """The stop of a restart leaves the policy alone: no manual stop recorded, no policy restart on
    top of the restart's own start, one restart event."""
    c, _ = engine.svc.create({"Image": "busybox", "HostConfig": {"RestartPolicy": {"Name": "always"}}}, None)
    await engine.svc.start(c.id)
    await engine.svc.restart(c.id, timeout=1)
    c = engine.svc.get(c.id)
    assert (c.state, c.manually_stopped, c.restart_count) == (State.RUNNING, False, 0)
    await asyncio.sleep(0.3)  # a policy restart would have come after its 0.1 s back-off
    assert [call for call, cid in engine.runtime.calls if call == "create" and cid == c.id] == ["create"] * 2
    assert engine.actions(c.id)[-5:] == ["kill", "die", "stop", "start", "restart"]


@lifecycle
async def test_stop_during_the_back_off_cancels_the_restart(engine: Engine) -> None:
    c, _ = engine.svc.create({"Image": "busybox", "HostConfig": {"RestartPolicy": {"Name": "always"}}}, None)
    await engine.svc.start(c.id)
    engine.runtime.exit(c.id, 1)
    await engine.until(c.id, State.RESTARTING)
    with pytest.raises(Conflict, match="is restarting"):
        await engine.svc.kill(c.id)
    await engine.svc.stop(c.id)
    await asyncio.sleep(0.3)
    c = engine.svc.get(c.id)
    assert (c.state, c.manually_stopped, c.restart_count) == (State.EXITED, True, 0)


@lifecycle
async def test_kill_and_resize_refused_when_not_running(engine: Engine) -> None:
    c, _ = engine.svc.create({"Image": "busybox", "Tty": True}, None)
    with pytest.raises(Conflict, match="is not running"):
        await engine.svc.kill(c.id)
    with pytest.raises(Conflict, match="cannot resize"):
        engine.svc.resize(c.id, 24, 80)
    await engine.svc.start(c.id)
    engine.svc.resize(c.id, 24, 80)
    assert ("control 1", c.id) in engine.runtime.calls


@lifecycle
async def test_joining_the_namespaces_of_a_stopped_container_is_refused(engine: Engine) -> None:
    engine.svc.create({"Image": "busybox"}, "db")
    engine.svc.create({"Image": "busybox", "HostConfig": {"PidMode": "container:db"}}, "web")
    with pytest.raises(Conflict, match="cannot join PID of a non running container"):
        await engine.svc.start("web")
    await engine.svc.start("db")
    await engine.svc.start("web")
    assert engine.svc.get("web").state is State.RUNNING


@lifecycle
async def test_a_failed_start_answers_the_waiting_attach(engine: Engine) -> None:
    engine.runtime.fail_create = True
    c, _ = engine.svc.create({"Image": "busybox"}, None)

    async def write(_stream: int, _data: bytes) -> None:
        pass

    attach = asyncio.ensure_future(engine.svc.attach(c.id, write, None, True, True))
    await asyncio.sleep(0)
    with pytest.raises(RuntimeFailure):
        await engine.svc.start(c.id)
    with pytest.raises(RuntimeFailure):
        await asyncio.wait_for(attach, 2)


@lifecycle
async def test_an_update_while_an_exit_is_recorded_is_kept(engine: Engine) -> None:
    """`docker update` as the container exits: the exit, recorded from the row it loaded before its
    teardown's awaits, must not write the old HostConfig back over the update."""
    c, _ = engine.svc.create({"Image": "busybox"}, None)
    await engine.svc.start(c.id)
    gate, detaching = asyncio.Event(), asyncio.Event()
    detach = engine.networking.detach

    async def slow_detach(container: Container) -> None:
        detaching.set()
        await gate.wait()
        await detach(container)

    engine.networking.detach = slow_detach  # type: ignore[method-assign,assignment]
    engine.runtime.exit(c.id, 0)
    await asyncio.wait_for(detaching.wait(), 2)
    update = asyncio.create_task(engine.svc.update(c.id, {"RestartPolicy": {"Name": "unless-stopped"}}))
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.wait_for(update, 2)
    await engine.until(c.id, State.EXITED)
    assert engine.svc.get(c.id).host_config["RestartPolicy"] == {"Name": "unless-stopped"}
