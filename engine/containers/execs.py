"""Exec sessions: a process started inside a running container (`docker exec`).

A session's process is the container's own process spec with the exec's command, env, user and
cwd. berthd starts it itself through the exec fast path (`DirectExec`: its zygote enters the
container as `runc exec` would, in about a tenth of the time); what that path refuses (a terminal,
security settings it does not reproduce) gets its own small bundle and its own conmon, which runs
`runtime exec`. Sessions live in memory, as in dockerd; they are forgotten with their container
or a while after they end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.containers import stdio
from engine.containers.create import check_workdir
from engine.containers.model import Container, State
from engine.containers.service import ContainerService
from engine.containers.users import resolve_user
from engine.errors import Conflict, InvalidArgument, NotFound
from engine.runtime.conmon import RESIZE, ExecLayout, ExecProcess
from engine.runtime.fastexec import FastExecProcess, Unsupported
from engine.runtime.interface import DirectExec
from engine.runtime.spec import capability_set, probe_host

log = logging.getLogger(__name__)

KEEP_ENDED = 64  # ended sessions remembered for inspect


@dataclass
class ExecSession:
    id: str
    container_id: str
    cmd: list[str]
    env: list[str]
    user: str
    workdir: str
    tty: bool
    privileged: bool
    attach_stdin: bool
    attach_stdout: bool
    attach_stderr: bool
    detach_keys: str
    running: bool = False
    started: bool = False
    exit_code: int | None = None
    pid: int = 0
    process: ExecProcess | FastExecProcess | None = field(default=None, repr=False)
    ended: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    began: asyncio.Event = field(default_factory=asyncio.Event, repr=False)  # its process runs (or ran)

    def inspect(self) -> dict[str, Any]:
        return {
            "ID": self.id, "ContainerID": self.container_id, "Running": self.running,
            "ExitCode": self.exit_code, "Pid": self.pid, "CanRemove": not self.running,
            "DetachKeys": self.detach_keys, "OpenStdin": self.attach_stdin, "OpenStdout": self.attach_stdout,
            "OpenStderr": self.attach_stderr,
            "ProcessConfig": {"tty": self.tty, "entrypoint": self.cmd[0] if self.cmd else "",
                              "arguments": self.cmd[1:], "privileged": self.privileged, "user": self.user},
        }


RESIZE_WAIT = 10.0  # seconds a resize waits for its exec's process, as dockerd's


class ExecService:
    def __init__(self, containers: ContainerService, direct: DirectExec | None = None) -> None:
        self.containers = containers
        self.direct = direct
        self.sessions: dict[str, ExecSession] = {}
        self._configs: dict[str, tuple[int, dict[str, Any]]] = {}  # container id: (mtime, config.json)

    async def close(self) -> None:
        if self.direct is not None:
            await self.direct.close()

    def create(self, ref: str, body: dict[str, Any]) -> ExecSession:
        c = self.containers.get(ref)
        if c.state is State.PAUSED:
            raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
        if not c.state.can_exec:
            raise Conflict(f"Container {c.id} is not running")
        cmd = body.get("Cmd")
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd or not all(isinstance(x, str) for x in cmd):
            raise InvalidArgument("no exec command specified: Cmd must be a non-empty list of strings")
        env = body.get("Env") or []
        if not isinstance(env, list) or not all(isinstance(x, str) and "=" in x for x in env):
            raise InvalidArgument("Env must be a list of KEY=value strings")
        stdio.parse_detach_keys(body.get("DetachKeys"))
        check_workdir(body.get("WorkingDir"))
        session = ExecSession(
            id=secrets.token_hex(32), container_id=c.id, cmd=list(cmd), env=list(env),
            user=str(body.get("User") or c.config_spec.user),
            workdir=str(body.get("WorkingDir") or c.config_spec.workdir or "/"),
            tty=bool(body.get("Tty")), privileged=bool(body.get("Privileged")),
            attach_stdin=bool(body.get("AttachStdin")), attach_stdout=bool(body.get("AttachStdout")),
            attach_stderr=bool(body.get("AttachStderr")), detach_keys=str(body.get("DetachKeys") or ""),
        )
        self.sessions[session.id] = session
        self._forget_old()
        self.containers.publish(c, f"exec_create: {' '.join(session.cmd)}", execID=session.id)
        return session

    def get(self, exec_id: str) -> ExecSession:
        session = self.sessions.get(exec_id)
        if session is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return session

    async def start(self, exec_id: str, write: stdio.OutputWriter | None,
                    stdin: asyncio.StreamReader | None) -> None:
        """Run the session; with `write`, stream its stdio until it ends (or the client
        detaches), and return only once its exit code is known."""
        session = self.get(exec_id)
        if session.started:
            raise Conflict(f"exec {exec_id} has already been started")
        c = self.containers.get(session.container_id)
        if not c.state.can_exec:
            raise Conflict(f"Container {c.id} is not running")
        session.started = True
        try:
            bundle = self.containers.bundle_dir(c.id)
            config = self._config(c.id, bundle)
            process = self._process_spec(session, config, bundle)
        except BaseException:
            self._ended(session)
            raise
        use_stdin = session.attach_stdin and stdin is not None
        reason = "not available"
        if self.direct is not None and c.pid > 0:
            try:
                fast = await self.direct.exec(c.pid, config, process, stdin=use_stdin,
                                              stdout=write is not None and session.attach_stdout,
                                              stderr=write is not None and session.attach_stderr)
            except Unsupported as e:
                reason = str(e)
            except BaseException:
                self._ended(session)
                raise
            else:
                await self._run_direct(session, c, fast, write, stdin if use_stdin else None)
                return
        log.debug("exec %s takes the runtime's path: %s", session.id[:12], reason)
        await self._run_runtime(session, c, process, write, stdin, use_stdin)

    async def _run_direct(self, session: ExecSession, c: Container, proc: FastExecProcess,
                          write: stdio.OutputWriter | None, stdin: asyncio.StreamReader | None) -> None:
        session.process = proc
        try:
            session.pid = await proc.started()
        except BaseException:
            proc.close()
            self._ended(session)
            raise
        waiter = self._running(session, c, None)
        if write is None:
            return
        watcher = stdio.DetachWatcher(stdio.parse_detach_keys(session.detach_keys))
        await proc.pump(write, stdin, detach=watcher.feed)
        await self._linger(waiter)

    async def _run_runtime(self, session: ExecSession, c: Container, process: dict[str, Any],
                           write: stdio.OutputWriter | None, stdin: asyncio.StreamReader | None,
                           use_stdin: bool) -> None:
        layout = ExecLayout(bundle=self.containers.paths.exec_root / "execs" / session.id,
                            socket_dir=self.containers.paths.sockets, short_id=session.id[:12])
        layout.bundle.mkdir(parents=True, exist_ok=True)
        try:
            layout.process_spec.write_text(json.dumps(process))
            proc = await self.containers.runtime.exec(c.id, c.name, layout, tty=session.tty, stdin=use_stdin)
        except BaseException:
            self._ended(session)
            shutil.rmtree(layout.bundle, ignore_errors=True)
            raise
        session.process = proc
        sock = None
        try:
            if write is not None:
                sock = await stdio.connect(layout.attach_socket)
            session.pid = await proc.go()
        except BaseException:
            if sock is not None:
                sock.close()
            proc.close()
            self._ended(session)
            shutil.rmtree(layout.bundle, ignore_errors=True)
            raise
        waiter = self._running(session, c, layout)
        if sock is None or write is None:
            return
        await stdio.pump(sock, write, stdin if session.attach_stdin else None,
                         stdout=session.attach_stdout, stderr=session.attach_stderr,
                         detach_keys=stdio.parse_detach_keys(session.detach_keys))
        await self._linger(waiter)

    def _running(self, session: ExecSession, c: Container, layout: ExecLayout | None) -> asyncio.Task[None]:
        """The process runs: announced, and its exit awaited in the background."""
        session.running = True
        session.began.set()
        self.containers.publish(c, f"exec_start: {' '.join(session.cmd)}", execID=session.id)
        return asyncio.get_running_loop().create_task(self._wait(session, layout))

    @staticmethod
    async def _linger(waiter: asyncio.Task[None]) -> None:
        # The client learns the exit code from inspect right after the stream ends.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(waiter), timeout=5)

    @staticmethod
    def _ended(session: ExecSession) -> None:
        """A session whose process never ran: 126, as dockerd reports an exec that failed to start."""
        session.exit_code, session.running = 126, False
        session.ended.set()

    async def _wait(self, session: ExecSession, layout: ExecLayout | None) -> None:
        assert session.process is not None
        try:
            session.exit_code = await session.process.wait()
        finally:
            session.running = False
            session.ended.set()
            if layout is not None:
                shutil.rmtree(layout.bundle, ignore_errors=True)
        with contextlib.suppress(NotFound):
            c = self.containers.get(session.container_id)
            self.containers.publish(c, "exec_die", execID=session.id, exitCode=str(session.exit_code))

    async def resize(self, exec_id: str, height: int, width: int) -> None:
        """As dockerd: a resize that comes before the process runs (a client resizing as it starts the
        exec, before the runtime has made it) waits for it, up to RESIZE_WAIT."""
        session = self.get(exec_id)
        if not session.began.is_set() and not session.ended.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(session.began.wait(), RESIZE_WAIT)
            if not session.began.is_set():
                raise Conflict(f"exec {exec_id} is not running: timeout waiting for exec session ready")
        if not session.running:
            raise Conflict(f"exec {exec_id} is not running")
        if session.tty:
            bundle = self.containers.paths.exec_root / "execs" / session.id
            self.containers.runtime.control(bundle, RESIZE, height, width)

    def _config(self, cid: str, bundle: Path) -> dict[str, Any]:
        """The container's config.json, parsed once while it stays the same file."""
        path = bundle / "config.json"
        mtime = path.stat().st_mtime_ns
        cached = self._configs.get(cid)
        if cached is None or cached[0] != mtime:
            if len(self._configs) >= 256:
                self._configs.clear()
            cached = self._configs[cid] = (mtime, json.loads(path.read_text()))
        return cached[1]

    def _process_spec(self, session: ExecSession, config: dict[str, Any], bundle: Path) -> dict[str, Any]:
        """The container's own process settings, with the exec's command, env, user and cwd."""
        process: dict[str, Any] = dict(config["process"])
        user = resolve_user(bundle / "rootfs", session.user)
        env = {e.partition("=")[0]: e for e in process.get("env", [])}
        env.update({e.partition("=")[0]: e for e in session.env})
        env.setdefault("HOME", f"HOME={user.home}")  # as runc adds it for the user it runs
        process.update(args=session.cmd, env=list(env.values()), cwd=session.workdir, terminal=session.tty,
                       user={"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids})
        if session.tty and not any(e.startswith("TERM=") for e in process["env"]):
            process["env"].append("TERM=xterm")
        if session.privileged:
            # all the capabilities berthd holds, as a privileged container gets (asking for one it
            # lacks fails the exec: "unable to apply caps")
            held = probe_host().bounding_capabilities
            caps = [cap for cap in capability_set([], [], privileged=True) if cap in held]
            process["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
        elif user.uid != 0:
            caps_all = process.get("capabilities", {})
            process["capabilities"] = {**caps_all, "effective": [], "permitted": []}
        process.pop("consoleSize", None)
        return process

    def _forget_old(self) -> None:
        ended = [s for s in self.sessions.values() if s.started and not s.running]
        for s in ended[: max(0, len(ended) - KEEP_ENDED)]:
            self.sessions.pop(s.id, None)
