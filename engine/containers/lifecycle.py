"""Start, stop, kill, restart, pause, unpause and remove: the transitions of State (model.py),
each under the container's lock, against the OCIRuntime protocol.

Signals go out under the lock, so none lands between a start's `runtime create` and `runtime
start`; the waits for an exit are outside it. A SIGKILL returns once the exit is recorded, as
dockerd's. What follows an exit (the restart policy, `--rm`) is exits.py's."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal as signals

from engine.containers.attach import Attachments
from engine.containers.bundle import Bundle
from engine.containers.context import ContainerContext
from engine.containers.exits import ExitWatcher
from engine.containers.model import Container, State
from engine.containers.teardown import teardown
from engine.errors import Conflict, EngineError, NotFound, NotModified, RuntimeFailure
from engine.formats import now_ns
from engine.laps import Laps
from engine.runtime.conmon import signal_number

log = logging.getLogger(__name__)

KILL_WAIT = 10.0  # seconds a SIGKILL waits for the container's exit to be recorded
REMOVE_WAIT = 30.0  # seconds a forced removal waits for the exit of its SIGKILL


class Lifecycle:
    def __init__(self, ctx: ContainerContext, attachments: Attachments, bundle: Bundle) -> None:
        self.ctx = ctx
        self.attachments = attachments
        self.bundle = bundle
        self.exits = ExitWatcher(ctx, attachments, start=self.start_locked, remove=self._force_remove)

    # ---- start --------------------------------------------------------------------------

    async def start(self, ref: str) -> None:
        ctx = self.ctx
        c = ctx.get(ref)
        async with ctx.lock(c.id):
            c = ctx.get(c.id)
            if c.state.is_up:
                raise NotModified("container already started")
            if not c.state.can_start:
                raise Conflict(f"cannot start container {c.name}: it is being removed")
            self.exits.cancel_restart(c)
            c.manually_stopped = False
            try:
                await self.start_locked(c)
                return
            except Exception as e:
                if not c.spec.auto_remove:
                    raise
                failure = e
        # As dockerd: a --rm container that could not start is removed (`docker run --rm` waits
        # for that removal after printing the error); the start's error is still the answer.
        with contextlib.suppress(EngineError):
            await self.remove(c.id, force=True)
        raise failure

    async def start_locked(self, c: Container) -> None:
        """Rootfs, network, mounts, bundle, then the runtime; a failure undoes it all (teardown)."""
        ctx = self.ctx
        laps = Laps()
        layout = ctx.layout(c)
        rootfs = layout.bundle / "rootfs"
        layout.bundle.mkdir(parents=True, exist_ok=True)
        rootfs.mkdir(exist_ok=True)
        data = ctx.data_dir(c.id)
        lowers = ctx.images.layer_dirs(c.image_id)
        await asyncio.to_thread(ctx.rootfs.mount, lowers, data / "upper", data / "work", rootfs)
        laps.mark("rootfs")
        try:
            attachment = await ctx.networking.attach(c)
            laps.mark("network")
            extra_mounts = await asyncio.to_thread(ctx.mounts.prepare, c, rootfs)
            laps.mark("mounts")
            self.bundle.write(c, rootfs, attachment, extra_mounts)
            laps.mark("bundle")
            cfg = c.config_spec
            created = await ctx.runtime.create(c.id, c.name, layout, stdin=cfg.open_stdin, tty=cfg.tty,
                                               keep_log=c.spec.log.kept)
            laps.mark("runtime create")
            await self.attachments.connect(c, layout)
            laps.mark("attach")
            await ctx.runtime.start(c.id)
            laps.mark("runtime start")
        except BaseException as e:
            await teardown(ctx, c, runtime_errors=(Exception,))
            self.attachments.fail_pending(c.id, e)
            c.error = e.message if isinstance(e, RuntimeFailure) else str(e)
            c.exit_code = 128 if isinstance(e, RuntimeFailure) else c.exit_code
            ctx.store.save(c)
            raise
        c.state = State.RUNNING
        c.pid = created.pid
        c.conmon_pid = created.conmon_pid
        c.started_ns = now_ns()
        c.error = ""
        ctx.store.save(c)
        ctx.publish(c, "start")
        self.exits.watch(c)
        laps.mark("state")
        log.debug("start of %s: %s", c.name, laps)

    def _remove_files(self, c: Container, volumes: bool) -> None:
        ctx = self.ctx
        with contextlib.suppress(Exception):
            ctx.rootfs.unmount(ctx.bundle_dir(c.id) / "rootfs")
        ctx.mounts.remove(c, volumes)
        shutil.rmtree(ctx.bundle_dir(c.id), True)
        shutil.rmtree(ctx.data_dir(c.id), True)

    # ---- stop / kill --------------------------------------------------------------------

    async def kill(self, ref: str, signal: str | int | None = None) -> None:
        ctx = self.ctx
        c = ctx.get(ref)
        sig = signal_number(signal, signals.SIGKILL)
        failure: RuntimeFailure | None = None
        # The signal goes out under the container's lock, so it never lands between a start's
        # `runtime create` and `runtime start`; the wait for the exit is outside it.
        async with ctx.lock(c.id):
            c = ctx.get(c.id)
            if c.state.awaits_restart:
                raise Conflict(f"Container {c.id} is restarting, wait until the container is running")
            if not c.state.can_kill:
                raise Conflict(f"Cannot kill container: {c.name}: container {c.id} is not running")
            exited = ctx.waiters.exit_future(c.id)
            try:
                await ctx.runtime.kill(c.id, sig)
                if sig == signals.SIGKILL and c.state.is_frozen:  # a frozen process dies once thawed
                    await ctx.runtime.resume(c.id)
            except RuntimeFailure as e:
                failure = e
        if failure is not None:
            # The process may have exited on its own a moment ago: its exit is being recorded (the
            # runtime no longer knows it). As dockerd's killPossiblyDeadProcess, that is no error.
            if not await ctx.waiters.exits_within(c.id, 2.0, exited):
                raise Conflict(f"Cannot kill container {c.name}: {failure.message}")
            return
        ctx.publish(c, "kill", signal=str(sig))
        if sig == signals.SIGKILL:
            # As dockerd: SIGKILL returns once the container has exited, so what the client does
            # next (inspect, remove) sees it stopped with 137.
            await ctx.waiters.exits_within(c.id, KILL_WAIT, exited)
        else:
            ctx.waiters.forget(c.id, exited)

    async def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        ctx = self.ctx
        c = ctx.get(ref)
        async with ctx.lock(c.id):
            c = ctx.get(c.id)
            if c.state.awaits_restart:
                if self.exits.in_manual_restart(c.id):  # a restart between its stop and its start
                    raise NotModified("container already stopped")
                self.exits.cancel_restart(c)
                c.manually_stopped = True
                ctx.store.save(c)
                ctx.publish(c, "stop")
                return
            if not c.state.can_stop:
                raise NotModified("container already stopped")
            c.manually_stopped = not self.exits.in_manual_restart(c.id)
            ctx.store.save(c)
            if timeout is None:
                timeout = c.config_spec.stop_timeout
            sig = signal_number(signal, c.config_spec.stop_signo)
            exited = ctx.waiters.exit_future(c.id)
            pid = c.pid
            with contextlib.suppress(RuntimeFailure):
                if c.state.is_frozen:
                    await ctx.runtime.resume(c.id)
                await ctx.runtime.kill(c.id, sig)
                ctx.publish(c, "kill", signal=str(sig))
        try:
            await asyncio.wait_for(asyncio.shield(exited), timeout=max(timeout, 0))
        except TimeoutError:
            async with ctx.lock(c.id):
                now = ctx.get(c.id) if ctx.exists(c.id) else None
                if now is not None and now.running and now.pid == pid:
                    with contextlib.suppress(RuntimeFailure):
                        await ctx.runtime.kill(c.id, signals.SIGKILL, all_processes=True)
                        ctx.publish(c, "kill", signal=str(int(signals.SIGKILL)))
            await ctx.waiters.exits_within(c.id, KILL_WAIT, exited)
        ctx.waiters.forget(c.id, exited)
        ctx.publish(ctx.get(c.id) if ctx.exists(c.id) else c, "stop")

    async def restart(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        ctx = self.ctx
        c = ctx.get(ref)
        with self.exits.manual_restart(c.id):
            if c.state.is_up:
                with contextlib.suppress(NotModified):  # it stopped meanwhile: start it all the same
                    await self.stop(c.id, timeout, signal)
        async with ctx.lock(c.id):
            c = ctx.get(c.id)
            if c.state.is_up:
                return
            self.exits.cancel_restart(c)
            c.manually_stopped = False
            await self.start_locked(c)
        ctx.publish(c, "restart")

    # ---- pause --------------------------------------------------------------------------

    async def pause(self, ref: str) -> None:
        ctx = self.ctx
        c = ctx.get(ref)
        async with ctx.lock(c.id):
            c = ctx.get(c.id)
            if c.state.is_frozen:
                raise Conflict(f"Container {c.id} is already paused")
            if not c.state.can_pause:
                raise Conflict(f"Container {c.id} is not running")
            await ctx.runtime.pause(c.id)
            c.state = State.PAUSED
            ctx.store.save(c)
        ctx.publish(c, "pause")

    async def unpause(self, ref: str) -> None:
        ctx = self.ctx
        c = ctx.get(ref)
        async with ctx.lock(c.id):
            c = ctx.get(c.id)
            if not c.state.can_unpause:
                raise Conflict(f"Container {c.id} is not paused")
            await ctx.runtime.resume(c.id)
            c.state = State.RUNNING
            ctx.store.save(c)
        ctx.publish(c, "unpause")

    # ---- remove -------------------------------------------------------------------------

    async def _force_remove(self, cid: str) -> None:
        await self.remove(cid, force=True)

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        ctx = self.ctx
        c = ctx.get(ref)
        if c.state.awaits_restart and force:
            self.exits.cancel_restart(c)
            c = ctx.get(c.id)
        if c.running:
            if not force:
                raise Conflict(
                    f"cannot remove container \"/{c.name}\": container is running: "
                    "stop the container before removing or force remove"
                )
            if c.state.can_kill:  # restarting: no process until the restart starts one
                # The exit that follows is no reason for its restart policy to start it again (which
                # kept a forced removal waiting 30 s for an exit that never settled).
                async with ctx.lock(c.id):
                    c = ctx.get(c.id)
                    c.manually_stopped = True
                    ctx.store.save(c)
                # it may be exiting already, or its runtime state be gone: removal goes on regardless
                with contextlib.suppress(RuntimeFailure, Conflict):
                    await self.kill(c.id, signals.SIGKILL)
                await ctx.waiters.exits_within(c.id, REMOVE_WAIT)
            c = ctx.get(c.id)
        async with ctx.lock(c.id):
            try:
                c = ctx.get(c.id)
            except NotFound:
                return
            settled = c.state.runtime_settled
            c.state = State.REMOVING
            ctx.store.save(c)
            if not settled:
                with contextlib.suppress(RuntimeFailure):
                    await ctx.runtime.delete(c.id)
            await ctx.networking.release(c)
            await asyncio.to_thread(self._remove_files, c, volumes)  # one hop to a thread: each costs
            ctx.exit_file(c.id).unlink(missing_ok=True)
            ctx.store.delete(c.id)
        ctx.forget_lock(c.id)
        self.exits.forget(c.id)
        ctx.publish(c, "destroy")
        ctx.waiters.removed(c.id, c.exit_code)
