"""After a berthd restart (or crash): re-watch the containers that live on under conmon, settle
those that exited meanwhile, and undo what a crash cut short (a create, a start, a removal, a
pause). The exit file decides whether a container exited, not the process table: conmon writes
it as the container exits, while a conmon nobody has reaped yet would still look alive."""

from __future__ import annotations

import asyncio
import logging
import shutil

from engine import mountinfo
from engine.containers.cgroups import cgroup_reader, container_cgroup_path
from engine.containers.lifecycle import Lifecycle
from engine.containers.model import Container, State
from engine.containers.teardown import teardown

log = logging.getLogger(__name__)


async def restore(lifecycle: Lifecycle) -> None:
    ctx, exits = lifecycle.ctx, lifecycle.exits
    for c in ctx.store.in_states([State.RUNNING, State.PAUSED, State.RESTARTING, State.REMOVING]):
        if c.state is State.REMOVING:
            await lifecycle.remove(c.id, force=True)
        elif c.state.awaits_restart:
            exits.schedule_restart(c)
        elif ctx.exit_file(c.id).exists() or not ctx.runtime.monitor_alive(c.conmon_pid):
            await exits.on_exit(c.id)
        else:
            _settle_paused(lifecycle, c)
            exits.watch(c)
    # A create that berthd died in the middle of: its directories without a row.
    known = {c.id for c in ctx.store.all()}
    if ctx.paths.containers.is_dir():
        for stray in ctx.paths.containers.iterdir():
            if stray.name not in known and len(stray.name) == 64:
                log.info("removing %s, the data of a container whose create a crash cut short", stray)
                await asyncio.to_thread(shutil.rmtree, stray, True)
    # A start that berthd died in the middle of: the row still says created (or exited), but the
    # runtime may hold a started process and the rootfs may be mounted. Undo both.
    mounted = mountinfo.mount_points()
    for c in ctx.store.in_states([State.CREATED, State.EXITED]):
        if str(ctx.bundle_dir(c.id) / "rootfs") in mounted:
            log.info("container %s: undoing a start interrupted by a crash", c.short_id)
            await teardown(ctx, c, detach_network=False)


def _settle_paused(lifecycle: Lifecycle, c: Container) -> None:
    """A crash between the runtime's pause (or resume) and the row's write leaves the row saying the
    other, and unpause would then fail on a process that runs: the freezer is right, the row follows."""
    frozen = cgroup_reader(container_cgroup_path(c.id)).frozen()
    if frozen is None or frozen == c.state.is_frozen:
        return
    log.info("container %s: recorded %s, but the freezer says otherwise", c.short_id, c.state.value)
    c.state = State.PAUSED if frozen else State.RUNNING
    lifecycle.ctx.store.save(c)
