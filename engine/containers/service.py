"""The container service: the façade the API's routers call, one method per operation.

Each operation lives in a module of its own, as moby's daemon/<op>.go and youki's
container_<op>.rs: create.py (merge, check, typed specs, the row), bundle.py (config.json and
the /etc files), lifecycle.py (start, stop, kill, restart, pause, unpause, remove), teardown.py
(the one undoing of a start), exits.py (exit watching and the restart policy), attach.py (stdio
and resize), restore.py (after a berthd restart), update.py, listing.py. They share a
ContainerContext (context.py): collaborators, directories, per-container locks, waiters."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from pathlib import Path
from typing import Any

from engine.config import EnginePaths
from engine.containers import create as creating
from engine.containers import listing, names, stdio
from engine.containers import restore as restoring
from engine.containers import update as updating
from engine.containers.attach import Attachments
from engine.containers.bundle import Bundle
from engine.containers.context import ContainerContext, ImageSource, RootfsMounter
from engine.containers.hooks import ContainerMounts, ContainerNetworking
from engine.containers.lifecycle import Lifecycle
from engine.containers.model import Container
from engine.containers.stdio import OutputWriter
from engine.containers.store import ContainerStore
from engine.errors import Conflict, InvalidArgument, NotFound
from engine.events import EventBus
from engine.filters import Filters
from engine.images.platform import Platform
from engine.labels import prune_labels_match
from engine.runtime.conmon import ConmonLayout
from engine.runtime.detect import cgroup_mode
from engine.runtime.interface import OCIRuntime

__all__ = ["ContainerService", "ImageSource", "RootfsMounter"]


class ContainerService:
    def __init__(self, paths: EnginePaths, store: ContainerStore, images: ImageSource,
                 runtime: OCIRuntime, rootfs: RootfsMounter, events: EventBus,
                 networking: ContainerNetworking, mounts: ContainerMounts) -> None:
        self.ctx = ContainerContext(paths, store, images, runtime, rootfs, events, networking, mounts)
        self.paths = paths
        self.networking = networking
        self.mounts = mounts
        self.store = store
        self.images = images
        self.runtime = runtime
        self.rootfs = rootfs
        self.events = events
        self._attachments = Attachments(self.ctx)
        self._lifecycle = Lifecycle(self.ctx, self._attachments, Bundle(self.ctx))

    # ---- layout -------------------------------------------------------------------------

    def data_dir(self, cid: str) -> Path:
        return self.ctx.data_dir(cid)

    def bundle_dir(self, cid: str) -> Path:
        return self.ctx.bundle_dir(cid)

    def log_path(self, cid: str) -> Path:
        return self.ctx.log_path(cid)

    def layout(self, c: Container) -> ConmonLayout:
        return self.ctx.layout(c)

    @functools.cached_property
    def cgroupns_mode(self) -> str:
        """HostConfig.CgroupnsMode as dockerd reports it: containers get a cgroup namespace of
        their own on cgroup v2 hosts only (engine/runtime/spec.py)."""
        return "private" if cgroup_mode() == "v2" else "host"

    # ---- queries ------------------------------------------------------------------------

    def get(self, ref: str) -> Container:
        return self.store.resolve(ref)

    def all(self) -> list[Container]:
        return self.store.all()

    def matching(self, flt: Filters, *, show_all: bool = False, limit: int = -1,
                 everything: list[Container] | None = None) -> list[Container]:
        """GET /containers/json's rows; `everything`: the rows the caller already fetched."""
        rows = self.store.all() if everything is None else everything
        return listing.matching(rows, flt, show_all=show_all, limit=limit)

    @staticmethod
    def link_names(containers: list[Container]) -> dict[str, list[str]]:
        """The extra names legacy links among `containers` give them (`/web/db` for db linked by
        web as db): from the rows a listing already holds, not another query."""
        out: dict[str, list[str]] = {}
        for c in containers:
            for link in c.spec.links:
                out.setdefault(link.target, []).append(f"/{c.name}/{link.alias}")
        return out

    # ---- create and edits ---------------------------------------------------------------

    def create(self, body: dict[str, Any], name: str | None,
               platform: Platform | None = None) -> tuple[Container, list[str]]:
        """`platform`: the one the client asked for (API 1.41+), checked against the image's."""
        return creating.create(self.ctx, body, name, platform)

    def rename(self, ref: str, new_name: str) -> None:
        if not new_name:
            raise InvalidArgument("Neither old nor new names may be empty")
        c = self.get(ref)
        name = names.validate(new_name)
        if name == c.name:
            raise Conflict(f"Renaming a container with the same name as its current name: {name}")
        old = c.name
        c.name = name
        self.store.rename(c)
        self.publish(c, "rename", oldName="/" + old)

    async def update(self, ref: str, body: dict[str, Any]) -> list[str]:
        """Change resources (live, when running) and the restart policy."""
        return await updating.update(self.ctx, ref, body)

    def remove_link(self, ref: str, alias: str) -> None:
        """DELETE /containers/{name}/{alias}?link=1: the link goes, both containers stay."""
        c = self.get(ref)
        kept = [e for e in c.host_config.get("Links") or [] if e.rsplit("/", 1)[-1] != alias]
        if len(kept) == len(c.host_config.get("Links") or []):
            raise NotFound(f"Could not find link {alias!r} of container {c.name}")
        c.host_config["Links"] = kept or None
        c.host_config_changed()
        self.store.save(c)

    def set_health(self, cid: str, health: dict[str, Any]) -> None:
        c = self.get(cid)
        old = c.health_status
        c.health = health
        self.store.save(c)
        if health.get("Status") != old and health.get("Status") != "starting":
            self.publish(c, f"health_status: {health.get('Status')}")

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self, ref: str) -> None:
        await self._lifecycle.start(ref)

    async def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        await self._lifecycle.stop(ref, timeout, signal)

    async def kill(self, ref: str, signal: str | int | None = None) -> None:
        await self._lifecycle.kill(ref, signal)

    async def restart(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        await self._lifecycle.restart(ref, timeout, signal)

    async def pause(self, ref: str) -> None:
        await self._lifecycle.pause(ref)

    async def unpause(self, ref: str) -> None:
        await self._lifecycle.unpause(ref)

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        await self._lifecycle.remove(ref, force, volumes)

    async def prune_matching(self, flt: Filters) -> tuple[list[str], int]:
        """POST /containers/prune with its filters (until, label, label!)."""
        flt.validate(listing.PRUNE_FILTERS)
        return await self.prune(until_ns=flt.until_ns() or 0, labels=flt.labels())

    async def prune(self, until_ns: int = 0, labels: list[str] | None = None) -> tuple[list[str], int]:
        deleted: list[str] = []
        space = 0
        for c in self.store.all():
            if not c.state.can_prune:
                continue
            if until_ns and c.created_ns > until_ns:
                continue
            if not prune_labels_match(c.labels, labels or []):
                continue
            space += await asyncio.to_thread(_tree_size, self.data_dir(c.id) / "upper")
            with contextlib.suppress(NotFound, Conflict):
                await self.remove(c.id)
                deleted.append(c.id)
        return deleted, space

    def wait_future(self, ref: str, condition: str = "not-running") -> asyncio.Future[int]:
        """Register a waiter now (before the response starts), resolved with the exit code."""
        condition = condition or "not-running"
        if condition not in ("not-running", "next-exit", "removed"):
            raise InvalidArgument(f"invalid condition: {condition!r}: use not-running, next-exit or removed")
        c = self.get(ref)
        if condition == "removed":
            return self.ctx.waiters.removal_future(c.id)
        if condition == "not-running" and not c.running:
            done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            done.set_result(c.exit_code)
            return done
        return self.ctx.waiters.exit_future(c.id)

    # ---- attach -------------------------------------------------------------------------

    async def attach(self, ref: str, write: OutputWriter, stdin: asyncio.StreamReader | None,
                     stdout: bool, stderr: bool, detach_keys: bytes = stdio.DEFAULT_DETACH_KEYS) -> bool:
        """Stream the container's output to `write` until it exits or the client detaches;
        feed `stdin` to it. Returns True if the client detached.

        Attaching to a container that is not running waits for its next start, so no output
        is lost (what `docker run` and `docker start -a` rely on)."""
        return await self._attachments.attach(self.get(ref), write, stdin, stdout, stderr, detach_keys)

    def resize(self, ref: str, height: int, width: int) -> None:
        self._attachments.resize(self.get(ref), height, width)

    # ---- berthd's own start and stop ----------------------------------------------------

    async def restore(self) -> None:
        """After a berthd restart: re-watch live containers, settle the ones that exited."""
        await restoring.restore(self._lifecycle)

    async def close(self) -> None:
        """Stop watching; containers keep running under conmon."""
        await self._lifecycle.exits.close()

    def publish(self, c: Container, action: str, **extra: str) -> None:
        self.ctx.publish(c, action, **extra)


def _tree_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total
