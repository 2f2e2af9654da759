"""Attach and resize: clients on a container's stdio through its AttachHub (stdio.py).

A client attaching to a container that is not up waits for its next start, which connects the
hub before the process runs, so no output is lost (what `docker run` and `docker start -a` rely
on). After a berthd restart a running container's hub is connected again at the first attach."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from engine.containers import stdio
from engine.containers.context import ContainerContext
from engine.containers.model import Container
from engine.containers.stdio import OutputWriter
from engine.errors import Conflict, RuntimeFailure
from engine.runtime.conmon import RESIZE, ConmonLayout


@dataclass
class AttachRequest:
    """A client attached (or waiting to attach) to a container's stdio."""

    write: OutputWriter
    stdin: asyncio.StreamReader | None
    stdout: bool
    stderr: bool
    connected: asyncio.Future[stdio.AttachHub]


class Attachments:
    def __init__(self, ctx: ContainerContext) -> None:
        self.ctx = ctx
        self._pending: dict[str, list[AttachRequest]] = {}
        self._hubs: dict[str, stdio.AttachHub] = {}

    async def attach(self, c: Container, write: OutputWriter, stdin: asyncio.StreamReader | None,
                     stdout: bool, stderr: bool, detach_keys: bytes) -> bool:
        """Stream the container's output to `write` until it exits or the client detaches; feed
        `stdin` to it. Returns True if the client detached."""
        req = AttachRequest(write=write, stdin=stdin, stdout=stdout, stderr=stderr,
                            connected=asyncio.get_running_loop().create_future())
        if c.state.can_start:  # not up yet: wait for the next start
            self._pending.setdefault(c.id, []).append(req)
            try:
                hub = await req.connected
            finally:
                pending = self._pending.get(c.id, [])
                if req in pending:
                    pending.remove(req)
        else:
            hub = await self._hub(c)
        return await hub.serve(write, stdin, stdout=stdout, stderr=stderr, detach_keys=detach_keys,
                               # as dockerd: a TTY's stdin outlives its clients
                               close_stdin_on_eof=c.config_spec.stdin_once and not c.config_spec.tty)

    async def _hub(self, c: Container) -> stdio.AttachHub:
        """The container's attach hub, connected now if berthd restarted since it started."""
        hub = self._hubs.get(c.id)
        if hub is None or hub.ended.is_set():
            hub = await stdio.AttachHub.open(self.ctx.layout(c).attach_socket)
            self._hubs[c.id] = hub
        return hub

    async def connect(self, c: Container, layout: ConmonLayout) -> None:
        """At start, before the process runs: no output is lost to waiting clients."""
        try:
            hub = await stdio.AttachHub.open(layout.attach_socket)
        except OSError as e:
            self.fail_pending(c.id, RuntimeFailure(f"cannot attach to {c.name}: {e}"))
            return
        self._hubs[c.id] = hub
        for req in self._pending.pop(c.id, []):
            if not req.connected.done():
                req.connected.set_result(hub)

    def fail_pending(self, cid: str, err: BaseException) -> None:
        """A start failed: the clients waiting for it get its error."""
        for req in self._pending.pop(cid, []):
            if not req.connected.done():
                req.connected.set_exception(err if isinstance(err, Exception) else RuntimeFailure(str(err)))

    def exited(self, cid: str) -> None:
        self._hubs.pop(cid, None)

    def resize(self, c: Container, height: int, width: int) -> None:
        if not c.running:
            raise Conflict(f"cannot resize container {c.name}: it is not running")
        if c.config_spec.tty:
            self.ctx.runtime.control(self.ctx.bundle_dir(c.id), RESIZE, height, width)
