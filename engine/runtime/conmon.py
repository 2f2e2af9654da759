"""The OCI runtime driven through conmon, the way podman does it.

conmon holds the container's stdio, writes its log, records its exit code and keeps it
alive across a berthd restart. berthd spawns conmon (which runs `<runtime> create`),
learns the container's pid from the sync pipe, then calls `<runtime> start` itself.
Exit is observed through a pidfd on conmon, which also works after a restart when
conmon is no longer our child.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal as signals
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InvalidArgument, RuntimeFailure

log = logging.getLogger(__name__)

# conmon's attach socket packets start with a byte naming the pipe.
PIPE_STDOUT = 2
PIPE_STDERR = 3


@dataclass(frozen=True)
class ConmonLayout:
    """The files one container's conmon uses."""

    bundle: Path
    log_path: Path
    exit_file: Path
    socket_dir: Path
    short_id: str

    @property
    def pidfile(self) -> Path:
        return self.bundle / "pidfile"

    @property
    def conmon_pidfile(self) -> Path:
        return self.bundle / "conmon.pid"

    @property
    def attach_socket(self) -> Path:
        return self.socket_dir / self.short_id / "attach"


@dataclass(frozen=True)
class Created:
    pid: int
    conmon_pid: int


class ConmonRuntime:
    def __init__(self, runtime_name: str, runtime_path: str, state_root: Path,
                 conmon: str = "conmon") -> None:
        self.name = runtime_name
        self.path = runtime_path
        self.state_root = state_root
        self.conmon = conmon

    async def create(self, container_id: str, name: str, layout: ConmonLayout, *, stdin: bool) -> Created:
        """Run conmon (and `runtime create`); return once the container exists."""
        layout.exit_file.unlink(missing_ok=True)
        for stale in (layout.pidfile, layout.conmon_pidfile):
            stale.unlink(missing_ok=True)
        sync_r, sync_w = os.pipe()
        args = [
            self.conmon, "--api-version", "1", "-c", container_id, "-u", layout.short_id, "-n", name,
            "-r", self.path, "-b", str(layout.bundle), "-p", str(layout.pidfile),
            "-P", str(layout.conmon_pidfile), "-l", f"k8s-file:{layout.log_path}",
            "--exit-dir", str(layout.exit_file.parent), "--socket-dir-path", str(layout.socket_dir),
            "--runtime-arg", f"--root={self.state_root}", "--syslog=false", "--log-level=error",
        ]
        if stdin:
            args.append("-i")
        env = dict(os.environ, _OCI_SYNCPIPE=str(sync_w))
        try:
            # conmon forks and its first process exits at once; its stdio must not be pipes we
            # read, since the daemonised child would hold them open until the container exits.
            proc = await asyncio.create_subprocess_exec(
                *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL, pass_fds=(sync_w,), env=env, start_new_session=True,
            )
        except OSError as e:
            os.close(sync_r)
            os.close(sync_w)
            raise RuntimeFailure(f"cannot run conmon: {e}") from e
        os.close(sync_w)
        try:
            message = await _read_sync_message(sync_r)
        finally:
            os.close(sync_r)
        await proc.wait()
        data = message.get("data", -1)
        pid = data if isinstance(data, int) else -1
        if pid <= 0:
            raise RuntimeFailure(_runtime_message(
                str(message.get("message") or "the OCI runtime failed to create the container")))
        conmon_pid = int(layout.conmon_pidfile.read_text().strip())
        return Created(pid=pid, conmon_pid=conmon_pid)

    async def start(self, container_id: str) -> None:
        await self._run("start", container_id)

    async def kill(self, container_id: str, signal: int, all_processes: bool = False) -> None:
        args = ["kill"] + (["--all"] if all_processes else []) + [container_id, str(signal)]
        await self._run(*args)

    async def pause(self, container_id: str) -> None:
        await self._run("pause", container_id)

    async def resume(self, container_id: str) -> None:
        await self._run("resume", container_id)

    async def delete(self, container_id: str) -> None:
        """Remove the runtime's state and cgroups; quietly succeeds if already gone."""
        try:
            await self._run("delete", "--force", container_id)
        except RuntimeFailure as e:
            if "does not exist" not in e.message and "not exist" not in e.message:
                raise

    async def _run(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            self.path, f"--root={self.state_root}", *args,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            text = err.decode(errors="replace") or f"{self.name} {args[0]} failed"
            raise RuntimeFailure(_runtime_message(text))
        return out.decode(errors="replace")


def read_exit_code(exit_file: Path) -> int | None:
    try:
        text = exit_file.read_text().strip()
    except FileNotFoundError:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def wait_for_exit(pid: int) -> None:
    """Return when process `pid` (not necessarily our child) has exited."""
    loop = asyncio.get_running_loop()
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)


async def _read_sync_message(fd: int) -> dict[str, object]:
    """Read conmon's first JSON message from the sync pipe without blocking the loop."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    buf = b""
    ready: asyncio.Queue[None] = asyncio.Queue()
    loop.add_reader(fd, ready.put_nowait, None)
    try:
        while True:
            await asyncio.wait_for(ready.get(), timeout=60)
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                break
            buf += chunk
            try:
                msg = json.loads(buf.decode())
            except ValueError:
                continue
            if isinstance(msg, dict):
                return msg
    finally:
        loop.remove_reader(fd)
    if not buf:
        return {"data": -1, "message": "conmon exited before the container was created"}
    try:
        msg = json.loads(buf.decode().splitlines()[0])
    except (ValueError, IndexError):
        return {"data": -1, "message": buf.decode(errors="replace")}
    return msg if isinstance(msg, dict) else {"data": -1, "message": str(msg)}


def _runtime_message(text: str) -> str:
    """Keep the runtime's own words, on one line, without its log framing."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    msg = lines[-1] if lines else "the OCI runtime failed"
    if msg.startswith("time=") and 'msg="' in msg:
        msg = msg.split('msg="', 1)[1].rsplit('"', 1)[0]
    return msg


def signal_number(value: str | int | None, default: int = signals.SIGTERM) -> int:
    """Parse "SIGTERM", "TERM", "15" or 15 into a signal number, with a clear error."""
    if value is None or value == "":
        return default
    if isinstance(value, int):
        return value
    v = value.strip().upper()
    if v.isdigit():
        return int(v)
    name = v if v.startswith("SIG") else "SIG" + v
    try:
        return int(signals.Signals[name])
    except KeyError:
        raise InvalidArgument(f"invalid signal: {value}") from None
