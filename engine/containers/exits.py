"""A container's exit and what follows it: a watcher per running container holds its monitor
(conmon); the exit is recorded (code, time, OOM kill), the start undone, waiters answered, and
then the restart policy (restart.py, pure) decides between a restart after Docker's back-off,
an automatic removal (`--rm`), or nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from engine.containers.attach import Attachments
from engine.containers.cgroups import cgroup_reader, container_cgroup_path
from engine.containers.context import ContainerContext
from engine.containers.model import Container, State
from engine.containers.restart import Backoff
from engine.containers.teardown import teardown
from engine.errors import NotFound
from engine.formats import now_ns
from engine.laps import Laps

log = logging.getLogger(__name__)

Start = Callable[[Container], Awaitable[None]]  # a start under the container's lock
Remove = Callable[[str], Awaitable[None]]  # a forced removal

# Retried: with the data root full, the state write fails until space is freed, and a container
# left "running" for good could be neither waited for, started nor removed.
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, *[30.0] * 120)


class ExitWatcher:
    def __init__(self, ctx: ContainerContext, attachments: Attachments, start: Start, remove: Remove) -> None:
        self.ctx = ctx
        self.attachments = attachments
        self._start = start
        self._remove = remove
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._restart_tasks: dict[str, asyncio.Task[None]] = {}
        self._backoff = Backoff()
        self._manual_restarts: set[str] = set()  # a `docker restart` is under way: its stop is not final

    # ---- watching -----------------------------------------------------------------------

    def watch(self, c: Container) -> None:
        self._watchers[c.id] = asyncio.get_running_loop().create_task(self._watch(c.id, c.conmon_pid))

    async def _watch(self, cid: str, conmon_pid: int) -> None:
        await self.ctx.runtime.wait_exit(conmon_pid)
        try:
            for delay in RETRY_DELAYS:
                try:
                    await self.on_exit(cid)
                    return
                except Exception:
                    log.exception("handling the exit of container %s failed; retrying in %.0fs", cid, delay)
                await asyncio.sleep(delay)
        finally:
            self._watchers.pop(cid, None)

    async def close(self) -> None:
        """Stop watching; containers keep running under conmon."""
        for task in list(self._watchers.values()):
            task.cancel()
        for task in list(self._watchers.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ---- the exit -----------------------------------------------------------------------

    async def on_exit(self, cid: str) -> None:
        ctx = self.ctx
        laps = Laps()
        async with ctx.lock(cid):
            try:
                c = ctx.get(cid)
            except NotFound:
                return
            exit_file = ctx.exit_file(cid)
            code = ctx.runtime.exit_status(exit_file)
            # Read before the runtime deletes the cgroup: dockerd reports OOMKilled and an "oom" event.
            c.oom_killed = await asyncio.to_thread(_oom_killed, c)
            laps.mark("exit status")
            await teardown(ctx, c)
            laps.mark("teardown")
            c.exit_code = code if code is not None else 255
            if code is None:
                c.error = "conmon exited without recording the container's exit code"
            c.pid = 0
            c.conmon_pid = 0
            c.finished_ns = _exit_time(exit_file)
            manual = cid in self._manual_restarts
            restart = manual or self._policy_restarts(c)
            c.state = State.RESTARTING if restart else State.EXITED
            if c.health is not None:
                c.health = {**c.health, "Status": "unhealthy" if c.health_status == "unhealthy" else "starting"}
            ctx.store.save(c)
            laps.mark("state")
        self.attachments.exited(cid)
        if c.oom_killed:
            ctx.publish(c, "oom")
        ctx.publish(c, "die", exitCode=str(c.exit_code))
        ctx.waiters.exited(cid, c.exit_code)
        if restart and not manual:
            self.schedule_restart(c)
        elif c.spec.auto_remove:
            try:
                await self._remove(cid)
            except Exception:
                log.exception("auto-removing container %s failed", cid)
            laps.mark("removal")
        log.debug("exit of %s: %s", c.name, laps)

    @staticmethod
    def _policy_restarts(c: Container) -> bool:
        return c.spec.restart.restarts(exit_code=c.exit_code, restart_count=c.restart_count,
                                       manually_stopped=c.manually_stopped)

    # ---- the restart policy -------------------------------------------------------------

    def schedule_restart(self, c: Container) -> None:
        delay = self._backoff.next_delay(c.id, (c.finished_ns - c.started_ns) / 1e9)
        self._restart_tasks[c.id] = asyncio.get_running_loop().create_task(self._restart_after(c.id, delay))

    async def _restart_after(self, cid: str, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            async with self.ctx.lock(cid):
                try:
                    c = self.ctx.get(cid)
                except NotFound:
                    return
                if not c.state.awaits_restart:
                    return
                c.restart_count += 1
                try:
                    await self._start(c)
                except Exception as e:
                    log.warning("restarting container %s failed: %s", c.name, e)
                    c = self.ctx.get(cid)
                    c.state = State.EXITED
                    self.ctx.store.save(c)
                    self.ctx.publish(c, "die", exitCode=str(c.exit_code))
        finally:
            self._restart_tasks.pop(cid, None)

    def cancel_restart(self, c: Container) -> None:
        """A start, stop or removal by hand: the policy's pending restart is dropped."""
        task = self._restart_tasks.pop(c.id, None)
        if task is not None:
            task.cancel()
        if c.state.awaits_restart and c.id not in self._manual_restarts:
            c.state = State.EXITED
            self.ctx.store.save(c)

    @contextlib.contextmanager
    def manual_restart(self, cid: str) -> Iterator[None]:
        """`docker restart`'s stop: the exit it causes is recorded as restarting, not as a final
        stop, and the restart policy does not start it (the restart does)."""
        self._manual_restarts.add(cid)
        try:
            yield
        finally:
            self._manual_restarts.discard(cid)

    def in_manual_restart(self, cid: str) -> bool:
        return cid in self._manual_restarts

    def forget(self, cid: str) -> None:
        self._backoff.forget(cid)


def _oom_killed(c: Container) -> bool:
    return cgroup_reader(container_cgroup_path(c.id)).oom_kills() > 0


def _exit_time(exit_file: Path) -> int:
    """When the container exited: conmon wrote the exit file then (it may have been while
    berthd was down), else now."""
    try:
        return exit_file.stat().st_mtime_ns
    except OSError:
        return now_ns()
