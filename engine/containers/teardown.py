"""The one undoing of a start, whatever ended it: the start failed, the container exited, or a
crash of berthd cut the start short (restore.py)."""

from __future__ import annotations

import asyncio
import contextlib

from engine.containers.context import ContainerContext
from engine.containers.model import Container
from engine.errors import RuntimeFailure


async def teardown(ctx: ContainerContext, c: Container, *, detach_network: bool = True,
                   runtime_errors: tuple[type[Exception], ...] = (RuntimeFailure,)) -> None:
    """The runtime's state, the network, the mounts, the rootfs. Each step best effort, so one that
    fails holds none of the others back; a busy rootfs must not leave the container "running".
    A runtime error outside `runtime_errors` propagates (the exit watcher retries on it)."""
    with contextlib.suppress(*runtime_errors):
        await ctx.runtime.delete(c.id)
    if detach_network:
        with contextlib.suppress(Exception):
            await ctx.networking.detach(c)
    with contextlib.suppress(Exception):
        ctx.mounts.release(c)
    with contextlib.suppress(Exception):
        await asyncio.to_thread(ctx.rootfs.unmount, ctx.bundle_dir(c.id) / "rootfs")
