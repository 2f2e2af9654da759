"""The OCI runtime driven through conmon, the way podman does it.

conmon holds the container's stdio, writes its log, records its exit code and keeps it
alive across a berthd restart. berthd spawns conmon (which runs `<runtime> create`),
learns the container's pid from the sync pipe, then calls `<runtime> start` itself.
Exit is observed through a pidfd on conmon, which also works after a restart when
conmon is no longer our child.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal as signals
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InvalidArgument, RuntimeFailure
from engine.runtime import runcstate

log = logging.getLogger(__name__)

_UPDATE_FLAGS = {
    "Memory": "--memory", "MemorySwap": "--memory-swap", "MemoryReservation": "--memory-reservation",
    "CpuShares": "--cpu-share", "CpuPeriod": "--cpu-period", "CpuQuota": "--cpu-quota",
    "CpusetCpus": "--cpuset-cpus", "CpusetMems": "--cpuset-mems", "PidsLimit": "--pids-limit",
    "BlkioWeight": "--blkio-weight",
}

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

    async def create(self, container_id: str, name: str, layout: ConmonLayout, *, stdin: bool = False,
                     tty: bool = False, leave_stdin_open: bool = False, log_size_max: int = 0,
                     keep_log: bool = True) -> Created:
        """Run conmon (and `runtime create`); return once the container exists. Without
        `keep_log` (the none logging driver) nothing is written, attach still sees the output."""
        layout.exit_file.unlink(missing_ok=True)
        for stale in (layout.pidfile, layout.conmon_pidfile):
            stale.unlink(missing_ok=True)
        args = self._common_args(container_id, layout.short_id, name, layout.bundle, layout.socket_dir)
        args += ["-p", str(layout.pidfile), "-P", str(layout.conmon_pidfile),
                 "-l", f"k8s-file:{layout.log_path}" if keep_log else "none",
                 "--exit-dir", str(layout.exit_file.parent)]
        args += _stdio_flags(stdin=stdin, tty=tty, leave_stdin_open=leave_stdin_open)
        if log_size_max > 0:
            args += ["--log-size-max", str(log_size_max)]
        sync = SyncPipe()
        try:
            await _spawn(args, {"_OCI_SYNCPIPE": sync.child_end}, layout.bundle)
        except BaseException:
            sync.close()
            raise
        sync.close_child_end()  # so that conmon's death reads as EOF
        try:
            message = await sync.message()
        finally:
            sync.close()
        pid = _pid_of(message, "the OCI runtime failed to create the container")
        conmon_pid = int(layout.conmon_pidfile.read_text().strip())
        return Created(pid=pid, conmon_pid=conmon_pid)

    async def exec(self, container_id: str, name: str, session: ExecLayout, *, tty: bool,
                   stdin: bool) -> ExecProcess:
        """Start conmon for an exec session; it waits on the start pipe until `ExecProcess.go()`,
        so the caller can connect to the attach socket first and lose no output."""
        args = self._common_args(container_id, session.short_id, name, session.bundle, session.socket_dir)
        args += ["-p", str(session.bundle / "pidfile"), "-l", "none",
                 "--exit-dir", str(session.bundle), "--exec", "--exec-attach",
                 "--exec-process-spec", str(session.process_spec)]
        args += _stdio_flags(stdin=stdin, tty=tty, leave_stdin_open=False)
        sync, start, attach = SyncPipe(), StartPipe(), SyncPipe()
        try:
            await _spawn(args, {"_OCI_SYNCPIPE": sync.child_end, "_OCI_STARTPIPE": start.child_end,
                                "_OCI_ATTACHPIPE": attach.child_end}, session.bundle, before_wait=start)
            sync.close_child_end()
            attach.close_child_end()
            start.close_child_end()
            message = await attach.message()
            if message.get("data") != 0:
                raise RuntimeFailure(_runtime_message(str(message.get("message") or "conmon failed to set up exec")))
        except BaseException:
            for pipe in (sync, start, attach):
                pipe.close()
            raise
        attach.close()
        return ExecProcess(session=session, sync=sync, start=start)

    def _common_args(self, container_id: str, short_id: str, name: str, bundle: Path, socket_dir: Path) -> list[str]:
        return [
            self.conmon, "--api-version", "1", "-c", container_id, "-u", short_id, "-n", name,
            "-r", self.path, "-b", str(bundle), "--socket-dir-path", str(socket_dir),
            "--runtime-arg", f"--root={self.state_root}", "--syslog=false", "--log-level=error",
        ]

    async def start(self, container_id: str) -> None:
        if self.name == "runc" and await runcstate.start(self.state_root / container_id):
            return
        await self._run("start", container_id)

    async def kill(self, container_id: str, signal: int, all_processes: bool = False) -> None:
        args = ["kill"] + (["--all"] if all_processes else []) + [container_id, str(signal)]
        await self._run(*args)

    async def pause(self, container_id: str) -> None:
        await self._run("pause", container_id)

    async def resume(self, container_id: str) -> None:
        await self._run("resume", container_id)

    async def update(self, container_id: str, resources: dict[str, int | str]) -> None:
        """Live resource changes (`docker update`), in the API's field names."""
        flags: list[str] = []
        for key, value in resources.items():
            if key == "NanoCpus":
                period = 100_000
                flags += ["--cpu-period", str(period), "--cpu-quota", str(int(value) * period // 1_000_000_000)]
            elif key in _UPDATE_FLAGS:
                flags += [_UPDATE_FLAGS[key], str(value)]
        if "Memory" in resources and "MemorySwap" not in resources:
            flags += ["--memory-swap", "-1"]
        if flags:
            await self._run("update", *flags, container_id)

    async def delete(self, container_id: str) -> None:
        """Remove the runtime's state and cgroups; quietly succeeds if already gone."""
        # In a worker thread: the state file is read and every cgroup hierarchy's directory removed.
        if self.name == "runc" and await asyncio.to_thread(runcstate.delete_stopped, self.state_root / container_id):
            return
        try:
            await self._run("delete", "--force", container_id)
        except RuntimeFailure as e:
            if "does not exist" not in e.message and "not exist" not in e.message:
                raise

    def exit_status(self, exit_file: Path) -> int | None:
        return read_exit_code(exit_file)

    async def wait_exit(self, monitor_pid: int) -> None:
        await wait_for_exit(monitor_pid)

    def monitor_alive(self, monitor_pid: int) -> bool:
        return process_alive(monitor_pid)

    def control(self, bundle: Path, kind: int, height: int = 0, width: int = 0) -> None:
        write_control(bundle, kind, height, width)

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
    """Whether `pid` still runs. A zombie counts as dead: it has exited, only nobody reaped
    it (conmon's parent may be a berthd that is gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rpartition(")")[2].split()[0] != "Z"
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


class SyncPipe:
    """A pipe conmon writes JSON messages on ({"data": n, "message": ...}); we read them in turn."""

    def __init__(self) -> None:
        self.read_end, self.child_end = os.pipe()
        os.set_blocking(self.read_end, False)
        self._buf = b""
        self._closed_child = False

    def close_child_end(self) -> None:
        if not self._closed_child:
            os.close(self.child_end)
            self._closed_child = True

    def close(self) -> None:
        self.close_child_end()
        if self.read_end >= 0:
            os.close(self.read_end)
            self.read_end = -1

    async def message(self, timeout: float | None = 60) -> dict[str, object]:
        """The next message; {"data": -1, ...} if conmon went away without one."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Queue[None] = asyncio.Queue()
        loop.add_reader(self.read_end, ready.put_nowait, None)
        try:
            while True:
                line, sep, rest = self._buf.partition(b"\n")
                if sep:
                    self._buf = rest
                    try:
                        msg = json.loads(line)
                    except ValueError:
                        continue
                    return msg if isinstance(msg, dict) else {"data": -1, "message": str(msg)}
                await asyncio.wait_for(ready.get(), timeout=timeout)
                try:
                    chunk = os.read(self.read_end, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    text = self._buf.decode(errors="replace").strip()
                    self._buf = b""
                    return {"data": -1, "message": text or "conmon exited without reporting"}
                self._buf += chunk
        finally:
            loop.remove_reader(self.read_end)


class StartPipe:
    """The pipe conmon blocks on before an exec: each write lets it take one step."""

    def __init__(self) -> None:
        self.child_end, self.write_end = os.pipe()

    def signal(self) -> None:
        os.write(self.write_end, b"0")

    def close_child_end(self) -> None:
        if self.child_end >= 0:
            os.close(self.child_end)
            self.child_end = -1

    def close(self) -> None:
        for fd in (self.child_end, self.write_end):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.child_end = self.write_end = -1


@dataclass(frozen=True)
class ExecLayout:
    """The files of one exec session: its own little bundle with the process spec."""

    bundle: Path
    socket_dir: Path
    short_id: str

    @property
    def process_spec(self) -> Path:
        return self.bundle / "process.json"

    @property
    def attach_socket(self) -> Path:
        return self.socket_dir / self.short_id / "attach"


class ExecProcess:
    def __init__(self, session: ExecLayout, sync: SyncPipe, start: StartPipe) -> None:
        self.session = session
        self._sync = sync
        self._start = start
        self.pid = 0

    async def go(self) -> int:
        """Let conmon run `runtime exec`; returns the process's pid."""
        self._start.signal()
        self._start.close()
        self._sync.close_child_end()
        message = await self._sync.message()
        try:
            self.pid = _pid_of(message, "the OCI runtime failed to exec the process")
        except RuntimeFailure:
            self._sync.close()
            raise
        return self.pid

    async def wait(self) -> int:
        """The exit code, once the process has exited."""
        try:
            message = await self._sync.message(timeout=None)
        finally:
            self._sync.close()
        data = message.get("data", -1)
        return data if isinstance(data, int) and data >= 0 else 126

    def close(self) -> None:
        self._start.close()
        self._sync.close()


async def _spawn(args: list[str], pipes: dict[str, int], cwd: Path, before_wait: StartPipe | None = None) -> None:
    """Run conmon with `pipes` inherited and named in its environment; wait for its first
    process, which exits once the daemonised one has taken over. With a start pipe, conmon
    reads it once before it forks, so it is signalled first. It runs in `cwd` (the bundle):
    it writes a file named `oom` in its working directory when the container is OOM-killed."""
    env = dict(os.environ, **{k: str(v) for k, v in pipes.items()})
    try:
        # Its stdio must not be pipes we read: the daemonised child would hold them open.
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, pass_fds=tuple(pipes.values()), env=env, start_new_session=True,
            cwd=cwd,
        )
    except OSError as e:
        raise RuntimeFailure(f"cannot run conmon: {e}") from e
    if before_wait is not None:
        before_wait.signal()
    await proc.wait()


def _stdio_flags(*, stdin: bool, tty: bool, leave_stdin_open: bool) -> list[str]:
    flags = []
    if stdin:
        flags.append("-i")
    if tty:
        flags.append("-t")
    if leave_stdin_open:
        flags.append("--leave-stdin-open")
    return flags


def _pid_of(message: dict[str, object], default_error: str) -> int:
    data = message.get("data", -1)
    pid = data if isinstance(data, int) else -1
    if pid <= 0:
        raise RuntimeFailure(_runtime_message(str(message.get("message") or default_error)))
    return pid


def write_control(bundle: Path, kind: int, height: int = 0, width: int = 0) -> None:
    """A message on conmon's ctl FIFO: 1 = resize the terminal, 2 = reopen the log file."""
    try:
        fd = os.open(bundle / "ctl", os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        raise RuntimeFailure(f"cannot reach conmon's control fifo: {e.strerror}") from e
    try:
        os.write(fd, f"{kind} {height} {width}\n".encode())
    finally:
        os.close(fd)


RESIZE, REOPEN_LOG = 1, 2


def _runtime_message(text: str) -> str:
    """Keep the runtime's own words, on one line, without its log framing."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    msg = lines[-1] if lines else "the OCI runtime failed"
    if msg.startswith("time=") and 'msg="' in msg:
        msg = msg.split('msg="', 1)[1].rsplit('"', 1)[0]
    return msg


_REALTIME = re.compile(r"RT(MIN|MAX)(?:([+-])(\d+))?")


def signal_number(value: str | int | None, default: int = signals.SIGTERM) -> int:
    """A signal as dockerd's ParseSignal reads one: a number, or a name with or without SIG in any case
    ("SIGTERM", "term", "RTMIN+3"), exactly as sent; a clear error for anything else."""
    if value is None or value == "":
        return default
    if isinstance(value, int):
        return value
    if re.fullmatch(r"[+-]?\d+", value):
        if int(value) == 0:
            raise InvalidArgument(f"Invalid signal: {value}")
        return int(value)
    name = value.upper().removeprefix("SIG")
    realtime = _REALTIME.fullmatch(name)
    if realtime:
        # dockerd's table: RTMIN, RTMIN+1..RTMIN+15, RTMAX-14..RTMAX-1, RTMAX
        kind, sign, offset = realtime.group(1), realtime.group(2), int(realtime.group(3) or 0)
        if sign is None or (sign == ("+" if kind == "MIN" else "-") and 1 <= offset <= (15 if kind == "MIN" else 14)):
            return (signals.SIGRTMIN + offset) if kind == "MIN" else (signals.SIGRTMAX - offset)
    elif name.isalnum():
        with contextlib.suppress(KeyError):
            return int(signals.Signals["SIG" + name])
    raise InvalidArgument(f"Invalid signal: {value}")
