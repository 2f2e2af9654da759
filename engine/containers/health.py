"""Health checks: each running container with a Healthcheck is probed on schedule by an
exec of its test command; the result lands in State.Health, `ps` and the event stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from typing import Any

from engine.containers.configspec import Probe
from engine.containers.execs import ExecService
from engine.containers.model import Container
from engine.containers.service import ContainerService
from engine.errors import EngineError, NotFound
from engine.events import EventBus
from engine.formats import now_ns, rfc3339_nano

log = logging.getLogger(__name__)

KEEP_RESULTS = 5
MAX_OUTPUT = 4096


class HealthMonitor:
    def __init__(self, containers: ContainerService, execs: ExecService, events: EventBus) -> None:
        self.containers = containers
        self.execs = execs
        self.events = events
        self._probes: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for c in self.containers.all():
            if c.state.can_exec:  # a probe is an exec
                self._begin(c)
        self._task = loop.create_task(self._follow_events())

    async def close(self) -> None:
        tasks = [t for t in (self._task, *self._probes.values()) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def _follow_events(self) -> None:
        async for ev in self.events.subscribe():
            if ev.type != "container":
                continue
            if ev.action == "start":
                with contextlib.suppress(NotFound):
                    self._begin(self.containers.get(ev.actor_id))
            elif ev.action in ("die", "destroy"):
                task = self._probes.pop(ev.actor_id, None)
                if task is not None:
                    task.cancel()

    def _begin(self, c: Container) -> None:
        probe = c.config_spec.healthcheck
        if probe is None or c.id in self._probes:
            return
        self._probes[c.id] = asyncio.get_running_loop().create_task(self._run(c.id, probe))

    async def _run(self, cid: str, probe: Probe) -> None:
        started = time.monotonic()
        self._record(cid, None, probe, started)
        try:
            while True:
                await asyncio.sleep(probe.interval)
                result = await self._probe_once(cid, probe)
                if result is None:
                    return
                self._record(cid, result, probe, started)
        finally:
            self._probes.pop(cid, None)

    async def _probe_once(self, cid: str, probe: Probe) -> dict[str, Any] | None:
        out = bytearray()

        async def collect(_stream: int, data: bytes) -> None:
            if len(out) < MAX_OUTPUT:
                out.extend(data[: MAX_OUTPUT - len(out)])

        begin = now_ns()
        try:
            session = self.execs.create(cid, {"Cmd": probe.command, "AttachStdout": True, "AttachStderr": True})
        except EngineError:
            return None  # not running any more
        try:
            await asyncio.wait_for(self.execs.start(session.id, collect, None), probe.timeout)
            code = session.exit_code if session.exit_code is not None else -1
        except TimeoutError:
            if session.pid:
                with contextlib.suppress(OSError):
                    os.kill(session.pid, signal.SIGKILL)
            code, out[:] = -1, f"Health check exceeded timeout ({probe.timeout:g}s)".encode()
        except EngineError as e:
            code, out[:] = -1, e.message.encode()
        return {"Start": rfc3339_nano(begin), "End": rfc3339_nano(now_ns()), "ExitCode": code,
                "Output": out.decode(errors="replace")}

    def _record(self, cid: str, result: dict[str, Any] | None, probe: Probe, started: float) -> None:
        try:
            c = self.containers.get(cid)
        except NotFound:
            return
        health = dict(c.health or {})
        old_status = health.get("Status", "")
        if result is None:
            health = {"Status": "starting", "FailingStreak": 0, "Log": []}
        else:
            health["Log"] = [*(health.get("Log") or []), result][-KEEP_RESULTS:]
            if result["ExitCode"] == 0:
                health["Status"], health["FailingStreak"] = "healthy", 0
            elif time.monotonic() - started < probe.start_period and old_status == "starting":
                pass  # failures in the start period do not count
            else:
                streak = int(health.get("FailingStreak") or 0) + 1
                health["FailingStreak"] = streak
                if streak >= probe.retries:
                    health["Status"] = "unhealthy"
        self.containers.set_health(cid, health)
        if health["Status"] != old_status and result is not None:
            log.info("container %s is %s", c.name, health["Status"])
