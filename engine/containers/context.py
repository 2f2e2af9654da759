"""What every container operation shares, as moby's daemon/<op>.go files share their *Daemon:
the collaborators, a container's directories, one lock per container, the event publisher, and
the clients waiting for a container's exit or removal.

The operations (create.py, lifecycle.py, exits.py, attach.py, bundle.py, restore.py) each take
this context; service.py is the façade the API calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from engine.config import EnginePaths
from engine.containers.hooks import ContainerMounts, ContainerNetworking
from engine.containers.model import Container
from engine.containers.store import ContainerStore
from engine.errors import NotFound
from engine.events import EventBus
from engine.runtime.conmon import ConmonLayout
from engine.runtime.interface import OCIRuntime


class ImageRecord(Protocol):
    @property
    def id(self) -> str: ...


class ImageSource(Protocol):
    """What the container service needs of the image service."""

    def resolve(self, name_or_id: str) -> ImageRecord: ...
    def config(self, image_id: str) -> dict[str, Any]: ...
    def full_config(self, image_id: str | None) -> dict[str, Any]: ...
    def layer_dirs(self, image_id: str) -> list[Path]: ...


class RootfsMounter(Protocol):
    def mount(self, lowers: list[Path], upper: Path, work: Path, target: Path) -> None: ...
    def unmount(self, target: Path) -> None: ...


class Waiters:
    """Clients waiting for a container to exit (`/wait`, a stop, a kill) or to be removed."""

    def __init__(self, settled: Callable[[str], bool]) -> None:
        self._settled = settled  # the container is gone or no longer running
        self._exits: dict[str, list[asyncio.Future[int]]] = {}
        self._removals: dict[str, list[asyncio.Future[int]]] = {}

    def exit_future(self, cid: str) -> asyncio.Future[int]:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._exits.setdefault(cid, []).append(fut)
        return fut

    def removal_future(self, cid: str) -> asyncio.Future[int]:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._removals.setdefault(cid, []).append(fut)
        return fut

    def forget(self, cid: str, fut: asyncio.Future[int]) -> None:
        waiters = self._exits.get(cid, [])
        if fut in waiters:
            waiters.remove(fut)

    async def exits_within(self, cid: str, seconds: float, fut: asyncio.Future[int] | None = None) -> bool:
        """True once the container is gone or stopped, waiting at most `seconds` for it."""
        if self._settled(cid):
            return True
        fut = fut or self.exit_future(cid)
        try:
            await asyncio.wait_for(asyncio.shield(fut), seconds)
        except TimeoutError:
            pass
        finally:
            self.forget(cid, fut)
        return self._settled(cid)

    def exited(self, cid: str, code: int) -> None:
        _resolve(self._exits.pop(cid, []), code)

    def removed(self, cid: str, code: int) -> None:
        _resolve(self._removals.pop(cid, []), code)
        _resolve(self._exits.pop(cid, []), code)


def _resolve(futures: list[asyncio.Future[int]], code: int) -> None:
    for fut in futures:
        if not fut.done():
            fut.set_result(code)


class ContainerContext:
    def __init__(self, paths: EnginePaths, store: ContainerStore, images: ImageSource,
                 runtime: OCIRuntime, rootfs: RootfsMounter, events: EventBus,
                 networking: ContainerNetworking, mounts: ContainerMounts) -> None:
        self.paths = paths
        self.store = store
        self.images = images
        self.runtime = runtime
        self.rootfs = rootfs
        self.events = events
        self.networking = networking
        self.mounts = mounts
        self.waiters = Waiters(self.settled)
        self._locks: dict[str, asyncio.Lock] = {}

    # ---- layout -------------------------------------------------------------------------

    def data_dir(self, cid: str) -> Path:
        return self.paths.containers / cid

    def bundle_dir(self, cid: str) -> Path:
        return self.paths.bundles / cid

    def log_path(self, cid: str) -> Path:
        return self.data_dir(cid) / "container.log"

    def exit_file(self, cid: str) -> Path:
        return self.paths.exits / cid

    def layout(self, c: Container) -> ConmonLayout:
        return ConmonLayout(bundle=self.bundle_dir(c.id), log_path=self.log_path(c.id),
                            exit_file=self.exit_file(c.id), socket_dir=self.paths.sockets,
                            short_id=c.short_id)

    # ---- rows and locks -----------------------------------------------------------------

    def get(self, ref: str) -> Container:
        return self.store.resolve(ref)

    def exists(self, cid: str) -> bool:
        try:
            self.get(cid)
        except NotFound:
            return False
        return True

    def settled(self, cid: str) -> bool:
        """The container is gone or no longer running."""
        try:
            return not self.get(cid).running
        except NotFound:
            return True

    def lock(self, cid: str) -> asyncio.Lock:
        """Held by every transition of one container (signals included, see lifecycle.py)."""
        return self._locks.setdefault(cid, asyncio.Lock())

    def forget_lock(self, cid: str) -> None:
        self._locks.pop(cid, None)

    def publish(self, c: Container, action: str, **extra: str) -> None:
        attrs = {"name": c.name, "image": c.image}
        attrs.update({k: str(v) for k, v in c.labels.items()})
        attrs.update(extra)
        self.events.publish("container", action, c.id, attrs)
