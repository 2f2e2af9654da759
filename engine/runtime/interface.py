"""The seam between the container service and the OCI runtime, as podman's OCIRuntime and
youki's Syscall: ConmonRuntime (conmon + runc/crun) is the real one, the tests bring a fake
so the lifecycle and the restart policy run without root."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from engine.runtime.conmon import ConmonLayout, Created, ExecLayout, ExecProcess
from engine.runtime.fastexec import FastExecProcess


class OCIRuntime(Protocol):
    @property
    def name(self) -> str: ...

    async def create(self, container_id: str, name: str, layout: ConmonLayout, *, stdin: bool = False,
                     tty: bool = False, leave_stdin_open: bool = False, log_size_max: int = 0,
                     keep_log: bool = True) -> Created: ...
    async def exec(self, container_id: str, name: str, session: ExecLayout, *, tty: bool,
                   stdin: bool) -> ExecProcess: ...
    async def start(self, container_id: str) -> None: ...
    async def kill(self, container_id: str, signal: int, all_processes: bool = False) -> None: ...
    async def pause(self, container_id: str) -> None: ...
    async def resume(self, container_id: str) -> None: ...
    async def update(self, container_id: str, resources: dict[str, int | str]) -> None: ...
    async def delete(self, container_id: str) -> None: ...

    def exit_status(self, exit_file: Path) -> int | None:
        """The exit code the monitor recorded, None while there is none."""
    async def wait_exit(self, monitor_pid: int) -> None:
        """Return once the container's monitor (conmon) has exited."""
    def monitor_alive(self, monitor_pid: int) -> bool: ...
    def control(self, bundle: Path, kind: int, height: int = 0, width: int = 0) -> None:
        """Resize the terminal (RESIZE) or reopen the log (REOPEN_LOG)."""


class DirectExec(Protocol):
    """The exec fast path beside the runtime: berthd enters the running container itself
    (`FastExec`, through its zygote). It refuses what it would not do as the runtime does."""

    async def exec(self, init_pid: int, config: Mapping[str, Any], process: Mapping[str, Any], *,
                   stdin: bool, stdout: bool, stderr: bool) -> FastExecProcess:
        """Start it; raises `Unsupported` (nothing started) when the container needs the runtime."""
    async def close(self) -> None: ...
