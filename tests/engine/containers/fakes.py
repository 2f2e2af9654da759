"""Stand-ins for the OCI runtime, images, rootfs, networking and mounts, so the container
service's lifecycle runs in a unit test: no root, no conmon, no runc."""

from __future__ import annotations

import asyncio
import itertools
import signal as signals
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.containers.hooks import NetworkAttachment
from engine.containers.model import Container
from engine.errors import NotFound, RuntimeFailure
from engine.images.platform import host_platform
from engine.runtime.conmon import ConmonLayout, Created, ExecLayout, ExecProcess
from engine.runtime.spec import Mount


class FakeRuntime:
    """A runtime whose processes run until the test (or a fatal signal) ends them."""

    name = "runc"

    def __init__(self, exits: Path) -> None:
        self.exits = exits
        self.calls: list[tuple[str, str]] = []
        self.fail_create = False
        self.ignore_signals: set[int] = set()  # signals a process survives (SIGTERM: a stubborn one)
        self._pids = itertools.count(40000)
        self._monitors: dict[str, int] = {}
        self._gone: dict[int, asyncio.Event] = {}
        self.live: set[str] = set()

    async def create(self, container_id: str, name: str, layout: ConmonLayout, *, stdin: bool = False,
                     tty: bool = False, leave_stdin_open: bool = False, log_size_max: int = 0,
                     keep_log: bool = True) -> Created:
        self.calls.append(("create", container_id))
        if self.fail_create:
            raise RuntimeFailure("runc create failed: exec: \"nope\": executable file not found in $PATH")
        (self.exits / container_id).unlink(missing_ok=True)
        monitor = next(self._pids)
        self._monitors[container_id] = monitor
        self._gone[monitor] = asyncio.Event()
        self.live.add(container_id)
        return Created(pid=next(self._pids), conmon_pid=monitor)

    async def exec(self, container_id: str, name: str, session: ExecLayout, *, tty: bool,
                   stdin: bool) -> ExecProcess:
        raise RuntimeFailure("the fake runtime runs no execs")

    async def start(self, container_id: str) -> None:
        self.calls.append(("start", container_id))

    async def kill(self, container_id: str, signal: int, all_processes: bool = False) -> None:
        self.calls.append((f"kill {signal}", container_id))
        if container_id not in self.live:
            raise RuntimeFailure("container not running")
        if signal == signals.SIGKILL or signal not in self.ignore_signals:
            self.exit(container_id, 128 + signal)

    async def pause(self, container_id: str) -> None:
        self.calls.append(("pause", container_id))

    async def resume(self, container_id: str) -> None:
        self.calls.append(("resume", container_id))

    async def update(self, container_id: str, resources: dict[str, int | str]) -> None:
        self.calls.append(("update", container_id))

    async def delete(self, container_id: str) -> None:
        self.calls.append(("delete", container_id))
        self.live.discard(container_id)

    def exit(self, container_id: str, code: int) -> None:
        """The container's process ends with `code`: the monitor records it and exits."""
        (self.exits / container_id).write_text(str(code))
        self.live.discard(container_id)
        self._gone[self._monitors[container_id]].set()

    def exit_status(self, exit_file: Path) -> int | None:
        try:
            return int(exit_file.read_text())
        except (OSError, ValueError):
            return None

    async def wait_exit(self, monitor_pid: int) -> None:
        await self._gone[monitor_pid].wait()

    def monitor_alive(self, monitor_pid: int) -> bool:
        return monitor_pid in self._gone and not self._gone[monitor_pid].is_set()

    def control(self, bundle: Path, kind: int, height: int = 0, width: int = 0) -> None:
        self.calls.append((f"control {kind}", bundle.name))


@dataclass(frozen=True)
class FakeImage:
    id: str


class FakeImages:
    def resolve(self, name_or_id: str) -> FakeImage:
        if name_or_id != "busybox":
            raise NotFound(f"No such image: {name_or_id}")
        return FakeImage("sha256:" + "b" * 64)

    def config(self, image_id: str) -> dict[str, Any]:
        return {"Cmd": ["sh"], "Env": ["PATH=/bin"]}

    def full_config(self, image_id: str | None) -> dict[str, Any]:
        return {"os": "linux", "architecture": host_platform().architecture, "config": self.config(image_id or "")}

    def layer_dirs(self, image_id: str) -> list[Path]:
        return []


class FakeRootfs:
    def __init__(self) -> None:
        self.mounted: set[Path] = set()

    def mount(self, lowers: list[Path], upper: Path, work: Path, target: Path) -> None:
        self.mounted.add(target)

    def unmount(self, target: Path) -> None:
        self.mounted.discard(target)


class FakeNetworking:
    def __init__(self) -> None:
        self.attached: set[str] = set()

    def validate(self, c: Container, endpoints_config: dict[str, Any] | None = None) -> None:
        pass

    async def attach(self, c: Container) -> NetworkAttachment:
        self.attached.add(c.id)
        return NetworkAttachment(resolv_conf="nameserver 127.0.0.1\n")

    async def detach(self, c: Container) -> None:
        self.attached.discard(c.id)

    async def release(self, c: Container) -> None:
        self.attached.discard(c.id)

    def settings(self, c: Container) -> dict[str, Any]:
        return {}

    def ports(self, c: Container) -> list[dict[str, Any]]:
        return []

    def summaries(self, containers: list[Container]) -> dict[str, dict[str, Any]]:
        return {}


class FakeMounts:
    def __init__(self) -> None:
        self.removed: list[str] = []

    def validate(self, c: Container) -> None:
        pass

    def prepare(self, c: Container, rootfs: Path) -> list[Mount]:
        return []

    def release(self, c: Container) -> None:
        pass

    def remove(self, c: Container, remove_anonymous: bool) -> None:
        self.removed.append(c.id)

    def inspect(self, c: Container) -> list[dict[str, Any]]:
        return []

    def host_binds(self, c: Container) -> list[Mount]:
        return []
