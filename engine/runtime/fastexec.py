"""The fast exec path: berthd starts an exec process inside a running container itself, through the
exec zygote (`engine/runtime/nsenter.py`), instead of conmon and `runc exec` (~50 ms of the ~100 an
exec took). Same result as runc's exec: the init's cgroups (every hierarchy, v1 and v2), its
namespaces, the process spec's rlimits, user, groups, capabilities, no_new_privs and the
container's seccomp filter (compiled by `libseccomp.py`, once per profile).

Everything is decided here, in berthd, and sent to the zygote as one plan. What the fast path does
not reproduce exactly is refused (`refusal`, `Unsupported`) and the exec takes the runtime's path:
a terminal, AppArmor or SELinux labels, I/O priority, scheduler or CPU affinity settings, a
personality, Intel RDT, a user or time namespace of the container's own, a cgroup hierarchy not
mounted on the host, a seccomp notify listener or filter flags.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import json
import logging
import os
import resource
import socket
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from engine import mountinfo
from engine.errors import RuntimeFailure
from engine.runtime import libseccomp, rlimits
from engine.runtime.libseccomp import Unsupported
from engine.runtime.spec import capability_mask

log = logging.getLogger(__name__)

__all__ = ["FastExec", "FastExecProcess", "Unsupported", "refusal"]

OutputWriter = Callable[[int, bytes], Awaitable[None]]

# setns(2) flags; joined in this order (user first, the mount namespace last: it moves the root)
NAMESPACES = (("user", 0x10000000), ("cgroup", 0x02000000), ("ipc", 0x08000000), ("uts", 0x04000000),
              ("net", 0x40000000), ("mnt", 0x00020000))
_STDIN, _STDOUT, _STDERR = 0, 1, 2
_PROCESS_KEYS_REFUSED = ("apparmorProfile", "selinuxLabel", "ioPriority", "scheduler", "execCPUAffinity")
_LINUX_KEYS_REFUSED = ("mountLabel", "personality", "intelRdt")


def refusal(config: Mapping[str, Any], process: Mapping[str, Any]) -> str | None:
    """Why this exec must take the runtime's path, or None when the fast path gives the same."""
    if process.get("terminal"):
        return "a terminal"
    for key in _PROCESS_KEYS_REFUSED:
        if process.get(key):
            return f"process.{key}"
    linux = config.get("linux") or {}
    for key in _LINUX_KEYS_REFUSED:
        if linux.get(key):
            return f"linux.{key}"
    if linux.get("seccomp"):
        try:
            libseccomp.check(linux["seccomp"])
        except Unsupported as e:
            return str(e)
    return None


@functools.cache
def last_capability() -> int:
    return int(Path("/proc/sys/kernel/cap_last_cap").read_text())


def rlimit_number(name: str) -> int:
    number = rlimits.resource_number(name)
    if number is None:
        raise Unsupported(f"rlimit {name}")
    return number


def build_request(process: Mapping[str, Any], *, namespaces: Sequence[int], pid_namespace: bool,
                  cgroups: Sequence[str], seccomp: bytes, last_cap: int) -> dict[str, Any]:
    """The zygote's plan for one exec (pure). Its fds follow the five stdio/status ones: the
    namespaces to join in `namespaces`' order, then the PID namespace."""
    user = process.get("user") or {}
    caps = process.get("capabilities") or {}
    first_ns = 5
    return {
        "args": list(process["args"]),
        "env": list(process.get("env") or ()),
        "cwd": process.get("cwd") or "/",
        "uid": int(user.get("uid", 0)),
        "gid": int(user.get("gid", 0)),
        "groups": [int(g) for g in user.get("additionalGids") or ()],
        "umask": int(user["umask"]) if user.get("umask") is not None else 0o022,
        "caps": {kind: capability_mask(caps.get(kind) or ())
                 for kind in ("bounding", "effective", "permitted", "inheritable", "ambient")},
        "last_cap": last_cap,
        "rlimits": [[rlimit_number(r["type"]), _rlim(r["soft"]), _rlim(r["hard"])]
                    for r in process.get("rlimits") or ()],
        "no_new_privs": bool(process.get("noNewPrivileges")),
        "oom_score_adj": process.get("oomScoreAdj"),
        "seccomp": seccomp.hex(),
        "cgroups": list(cgroups),
        "namespaces": [[flag, first_ns + i] for i, flag in enumerate(namespaces)],
        "pid_namespace": first_ns + len(namespaces) if pid_namespace else None,
    }


def _rlim(value: Any) -> int:
    """An OCI rlimit value (uint64, all ones for no limit) as setrlimit takes it."""
    number = int(value)
    return resource.RLIM_INFINITY if number >= 1 << 63 else number


def namespaces_to_join(pid: int, proc: Path = Path("/proc")) -> tuple[list[tuple[str, int]], bool]:
    """The init's namespaces that differ from berthd's (name, setns flag), in joining order, and
    whether its PID namespace does. A user or time namespace of its own is refused."""
    def differs(kind: str) -> bool:
        theirs = os.stat(proc / str(pid) / "ns" / kind)
        ours = os.stat(proc / "self" / "ns" / kind)
        return (theirs.st_dev, theirs.st_ino) != (ours.st_dev, ours.st_ino)

    with contextlib.suppress(FileNotFoundError):
        if differs("time"):
            raise Unsupported("a time namespace")
    joined = [(kind, flag) for kind, flag in NAMESPACES if differs(kind)]
    if any(kind == "user" for kind, _ in joined):
        raise Unsupported("a user namespace")
    return joined, differs("pid")


@functools.cache
def _cgroup_mounts() -> tuple[mountinfo.MountEntry, ...]:
    return tuple(e for e in mountinfo.entries() if e.fstype in ("cgroup", "cgroup2"))


def cgroup_procs_files(cgroup_text: str, mounts: Sequence[mountinfo.MountEntry]) -> list[str]:
    """The cgroup.procs file of every hierarchy in a /proc/<pid>/cgroup text (pure): what joining
    all of a process's cgroups writes to, as runc's exec joins each of the container's."""
    files = []
    for line in cgroup_text.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if not hierarchy:
            continue
        wanted = set(filter(None, controllers.split(",")))
        if wanted:
            candidates = [m for m in mounts if m.fstype == "cgroup" and wanted <= set(m.super_options)]
        else:
            candidates = [m for m in mounts if m.fstype == "cgroup2"]
        target = None
        for m in candidates:
            root = m.root.rstrip("/")
            if path == root or path.startswith(root + "/"):
                target = f"{m.mount_point.rstrip('/')}{path[len(root):]}".rstrip("/") + "/cgroup.procs"
                break
        if target is None:
            raise Unsupported(f"cgroup hierarchy {controllers or 'v2'} ({path}) is not mounted where berthd sees it")
        files.append(target)
    return files


def sealed_copy(path: str) -> int:
    """A sealed in-memory copy of the interpreter for the zygote to run from. An exec process runs
    the zygote's code until its execve, so its /proc/self/exe is the zygote's binary; a command that
    is a script naming /proc/self/exe as its interpreter would run that binary in the container and
    could keep it open to write it later (runc's CVE-2019-5736). A sealed memfd cannot be written."""
    fd = os.memfd_create("berth-exec-zygote", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        with open(path, "rb") as source:
            size = os.fstat(source.fileno()).st_size
            offset = 0
            while offset < size:
                offset += os.sendfile(fd, source.fileno(), offset, size - offset)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS,
                    fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    except BaseException:
        os.close(fd)
        raise
    return fd


class FastExec:
    """berthd's end of the exec zygote, started on first use and kept; one per berthd."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._starting = asyncio.Lock()

    async def _control(self) -> socket.socket:
        async with self._starting:
            if self._sock is not None and self._proc is not None and self._proc.returncode is None:
                return self._sock
            self._drop()
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            binary = sealed_copy(os.path.realpath(sys.executable))
            try:
                # -S: the zygote imports the standard library alone; started from its file, no package
                self._proc = await asyncio.create_subprocess_exec(
                    f"/proc/self/fd/{binary}", "-S", str(Path(__file__).with_name("nsenter.py")),
                    str(theirs.fileno()), pass_fds=(theirs.fileno(), binary), stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL, start_new_session=True, cwd="/",
                    env={"PYTHONHOME": sys.base_prefix, "PATH": os.defpath})
            except BaseException:
                ours.close()
                raise
            finally:
                theirs.close()
                os.close(binary)
            log.debug("exec zygote started: pid %d", self._proc.pid)
            self._sock = ours
            return ours

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def close(self) -> None:
        """Stop the zygote (it exits when its socket closes); execs it started keep running."""
        self._drop()
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), timeout=2)
            except TimeoutError:
                proc.kill()
                await proc.wait()

    async def exec(self, init_pid: int, config: Mapping[str, Any], process: Mapping[str, Any], *,
                   stdin: bool, stdout: bool, stderr: bool) -> FastExecProcess:
        """Start `process` in the container whose init is `init_pid`; raises `Unsupported` before
        anything started when the fast path cannot give the same result. Await `started()` next."""
        reason = refusal(config, process)
        if reason is not None:
            raise Unsupported(reason)
        joined, pid_ns = namespaces_to_join(init_pid)
        cgroups = cgroup_procs_files(Path(f"/proc/{init_pid}/cgroup").read_text(), _cgroup_mounts())
        section = (config.get("linux") or {}).get("seccomp")
        program = await asyncio.to_thread(libseccomp.compile_bpf, section) if section else b""
        request = build_request(process, namespaces=[flag for _, flag in joined], pid_namespace=pid_ns,
                                cgroups=cgroups, seccomp=program, last_cap=last_capability())
        theirs: list[int] = []  # the zygote's copies: closed here once sent
        ours: list[int] = []
        status: socket.socket | None = None
        try:
            ns_fds = []
            for kind in [k for k, _ in joined] + (["pid"] if pid_ns else []):
                ns_fds.append(os.open(f"/proc/{init_pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC))
                theirs.append(ns_fds[-1])
            stdio: list[int] = []
            ends: list[int | None] = []
            for stream, wanted in ((_STDIN, stdin), (_STDOUT, stdout), (_STDERR, stderr)):
                if not wanted:
                    stdio.append(os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC))
                    theirs.append(stdio[-1])
                    ends.append(None)
                    continue
                r, w = os.pipe2(os.O_CLOEXEC)
                mine, child = (w, r) if stream == _STDIN else (r, w)
                ours.append(mine)
                theirs.append(child)
                os.set_blocking(mine, False)
                stdio.append(child)
                ends.append(mine)
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
            ours.append(err_r)
            theirs.append(err_w)
            status, status_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            status_fd = status_child.detach()
            theirs.append(status_fd)
            status.setblocking(False)
            # the init gone (its pid perhaps reused): the namespaces opened may not be the container's
            if not Path(f"/proc/{init_pid}/ns").exists():
                raise RuntimeFailure("the container's process has exited")
            await self._send(json.dumps(request).encode(), [*stdio, err_w, status_fd, *ns_fds])
        except BaseException:
            for fd in ours:
                os.close(fd)
            if status is not None:
                status.close()
            raise
        finally:
            for fd in theirs:
                with contextlib.suppress(OSError):
                    os.close(fd)
        return FastExecProcess(status, err_r, stdin=ends[0], stdout=ends[1], stderr=ends[2])

    async def _send(self, payload: bytes, fds: list[int]) -> None:
        for attempt in (1, 2):
            sock = await self._control()
            try:
                socket.send_fds(sock, [payload], fds)
                return
            except (BrokenPipeError, ConnectionError):
                if attempt == 2:
                    raise RuntimeFailure("the exec zygote is not answering") from None
                log.warning("the exec zygote had gone; starting it again")
                self._drop()


class FastExecProcess:
    """One exec started by the zygote: its pid, its exit code, and berthd's ends of its stdio."""

    def __init__(self, status: socket.socket, errpipe: int, *, stdin: int | None, stdout: int | None,
                 stderr: int | None) -> None:
        self._status = status
        self._errpipe = errpipe
        self._stdin = stdin
        self._outputs = [(fd, stream) for fd, stream in ((stdout, 1), (stderr, 2)) if fd is not None]
        self.exited = asyncio.Event()
        self.pid = 0
        self._holders = 1  # wait(); pump() and its drains hold the fds too: the last one closes them
        self._drains: set[asyncio.Task[None]] = set()

    async def _message(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        try:
            data = await loop.sock_recv(self._status, 65536)
        except OSError as e:
            return {"error": f"the exec zygote went away: {e}"}
        if not data:
            return {"error": "the exec zygote went away"}
        message = json.loads(data)
        return message if isinstance(message, dict) else {"error": str(message)}

    async def started(self) -> int:
        """The exec's pid, once its command has been executed; RuntimeFailure if it could not be."""
        message = await self._message()
        pid = message.get("pid")
        if not isinstance(pid, int):
            self.close()
            raise RuntimeFailure(f"unable to start container process: {message.get('error')}")
        self.pid = pid
        failure = await _read_to_end(self._errpipe)  # empty: the pipe closed at execve
        os.close(self._errpipe)
        self._errpipe = -1
        if failure:
            raise RuntimeFailure(f"unable to start container process: {failure.decode(errors='replace')}")
        return pid

    async def wait(self) -> int:
        """The exit code (128 + n when killed by signal n), once the process has exited."""
        try:
            message = await self._message()
        finally:
            self.exited.set()
            self._release()
        code = message.get("exit")
        if not isinstance(code, int):
            log.warning("exec %d: %s", self.pid, message.get("error"))
            return 126
        return code

    async def pump(self, write: OutputWriter, stdin: asyncio.StreamReader | None, *,
                   detach: Callable[[bytes], tuple[bytes, bool]] | None = None) -> bool:
        """Copy the process's output to `write` and `stdin` to it until its output ends (or it has
        exited and what it wrote is read) or the client detaches (`detach` says, given stdin's
        bytes, what to pass on and whether to detach). Returns True if the client detached."""
        loop = asyncio.get_running_loop()
        self._holders += 1
        detached = asyncio.Event()
        copies = [loop.create_task(self._copy(fd, stream, write)) for fd, stream in self._outputs]
        feeder = (loop.create_task(self._feed(stdin, detach, detached))
                  if stdin is not None and self._stdin is not None else None)
        watch = loop.create_task(detached.wait())

        async def output_done() -> None:
            if copies:
                await asyncio.gather(*copies)
            else:
                await self.exited.wait()

        ended = loop.create_task(output_done())
        try:
            await asyncio.wait({ended, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*copies, feeder, watch, ended):
                if task is not None and not task.done():
                    task.cancel()
            for task in (*copies, feeder, watch, ended):
                if task is not None:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            if detached.is_set() and not self.exited.is_set():
                # the process runs on: read (and drop) its output until it exits, as conmon would
                for fd, stream in self._outputs:
                    self._holders += 1
                    drain = loop.create_task(self._copy(fd, stream, _discard))
                    self._drains.add(drain)
                    drain.add_done_callback(self._drained)
            self._release()
        return detached.is_set()

    def _drained(self, task: asyncio.Task[None]) -> None:
        self._drains.discard(task)
        self._release()

    def _release(self) -> None:
        self._holders -= 1
        if self._holders <= 0:
            self.close()

    async def _copy(self, fd: int, stream: int, write: OutputWriter) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                if self.exited.is_set():
                    return  # what the process wrote is read; a child of its holding the pipe is not waited for
                ready = loop.create_task(_fd_ready(fd))
                ended = loop.create_task(self.exited.wait())
                try:
                    await asyncio.wait({ready, ended}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    ready.cancel()
                    ended.cancel()
                continue
            if not data:
                return
            await write(stream, data)

    async def _feed(self, stdin: asyncio.StreamReader, detach: Callable[[bytes], tuple[bytes, bool]] | None,
                    detached: asyncio.Event) -> None:
        fd = self._stdin
        assert fd is not None
        try:
            while True:
                chunk = await stdin.read(65536)
                if not chunk:
                    return
                data, leave = detach(chunk) if detach is not None else (chunk, False)
                view = memoryview(data)
                while view:
                    try:
                        view = view[os.write(fd, view):]
                    except BlockingIOError:
                        await _fd_ready(fd, writing=True)
                if leave:
                    detached.set()
                    return
        except (BrokenPipeError, ConnectionError):
            return
        finally:
            self._close_stdin()

    def _close_stdin(self) -> None:
        if self._stdin is not None:
            os.close(self._stdin)
            self._stdin = None

    def close(self) -> None:
        """Release berthd's ends (the process itself is not touched)."""
        self._close_stdin()
        for fd, _ in self._outputs:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._outputs = []
        if self._errpipe >= 0:
            os.close(self._errpipe)
            self._errpipe = -1
        self._status.close()


async def _discard(stream: int, data: bytes) -> None:
    pass


async def _fd_ready(fd: int, writing: bool = False) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    (loop.add_writer if writing else loop.add_reader)(fd, wake)
    try:
        await ready
    finally:
        (loop.remove_writer if writing else loop.remove_reader)(fd)


async def _read_to_end(fd: int) -> bytes:
    os.set_blocking(fd, False)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            await _fd_ready(fd)
            continue
        if not data:
            return b"".join(chunks)
        chunks.append(data)
