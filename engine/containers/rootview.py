"""A private view of a container's root filesystem, running or not, held by one fd.

`docker cp` and `docker export` work on stopped containers too, so we cannot rely on the
rootfs the service mounts at start. Both cases end up as a *detached* mount, a clone made
with open_tree(2), that lives exactly as long as our fd:

- running: the container's own root, `/proc/<pid>/root`, so a copy sees exactly what the
  container sees: its volumes, binds and tmpfs mounts included (they live in its mount
  namespace, not on the overlay at `<bundle>/rootfs`). The fd keeps that tree alive after
  the container exits. Where the process cannot be opened, a clone of the overlay at
  `<bundle>/rootfs` stands in (the container's own mounts are then missing).
- stopped (created or exited): the overlay is mounted on a scratch dir under the bundle
  through the service's own `RootfsMounter` (same lowers, upper and work as at start), the
  container's volumes and binds are bound onto it where the container would see them (as
  dockerd mounts them for `docker cp`), the tree is cloned recursively, and the scratch
  mounts are detached at once. Nothing stays mounted in berthd's namespace, not even if
  berthd dies mid-copy, and writes land in the container's upper dir and volumes as they
  would through its own mounts. Concurrent copies of one stopped container share a single
  view (refcounted), since two overlays on the same upper dir may disagree.
- `docker export` asks for the root filesystem alone (no volumes), as dockerd exports it: the
  overlay clone for a running container, the bare overlay for a stopped one.

We chose mounting over reading upper and lower dirs ourselves: the kernel's overlay already
knows whiteouts, opaque dirs and copy-up, and PUT needs copy-up anyway.

Where open_tree is unavailable (kernels before 5.2, or a seccomp filter) the view falls back
to the mounted directory itself and unmounts the scratch mount when released.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import platform
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from engine.containers.confined import RootedDir
from engine.containers.model import Container
from engine.errors import Conflict
from engine.runtime.spec import Mount
from engine.storage import overlay

log = logging.getLogger(__name__)

AT_FDCWD = -100
OPEN_TREE_CLONE = 1
AT_RECURSIVE = 0x8000
# open_tree is 428 in the unified syscall table (5.2+) that x86-64 and arm64 share.
_SYS_OPEN_TREE = {"x86_64": 428, "aarch64": 428, "arm64": 428}.get(platform.machine())

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.syscall.restype = ctypes.c_long


class ImageLayers(Protocol):
    def layer_dirs(self, image_id: str) -> list[Path]: ...


class RootfsMounter(Protocol):
    def mount(self, lowers: list[Path], upper: Path, work: Path, target: Path) -> None: ...
    def unmount(self, target: Path) -> None: ...


class HostBinds(Protocol):
    def host_binds(self, c: Container) -> list[Mount]:
        """The container's volumes and binds as host directories bound at their targets."""


class ContainerLayout(Protocol):
    """What a view needs of the container service (its public surface only)."""

    @property
    def images(self) -> ImageLayers: ...
    @property
    def rootfs(self) -> RootfsMounter: ...
    @property
    def mounts(self) -> HostBinds: ...
    def data_dir(self, cid: str) -> Path: ...
    def bundle_dir(self, cid: str) -> Path: ...


def clone_mount(path: Path, *, recursive: bool = False) -> int | None:
    """An O_PATH fd on a detached copy of the mount at `path` (with the mounts below it when
    `recursive`), or None if the kernel can't."""
    if _SYS_OPEN_TREE is None:
        return None
    flags = OPEN_TREE_CLONE | os.O_CLOEXEC | (AT_RECURSIVE if recursive else 0)
    fd = _libc.syscall(_SYS_OPEN_TREE, AT_FDCWD, os.fsencode(path), flags)
    if fd < 0:
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EPERM):
            return None
        raise OSError(err, f"open_tree {path}: {os.strerror(err)}")
    return int(fd)


def is_mount_point(path: Path) -> bool:
    try:
        return os.stat(path).st_dev != os.stat(path.parent).st_dev
    except FileNotFoundError:
        return False


@dataclass
class _SharedView:
    fd: int
    users: int
    scratch: Path | None  # still mounted there when open_tree was unavailable


class RootfsViews:
    """Hands out root fds of containers; one per engine, shared by the request handlers."""

    def __init__(self, containers: ContainerLayout) -> None:
        self.containers = containers
        self._stopped: dict[tuple[str, bool], _SharedView] = {}  # by (container id, with mounts)
        self._locks: dict[tuple[str, bool], asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def open(self, c: Container, *, mounts: bool = True) -> AsyncIterator[int]:
        """The container's root as an O_PATH directory fd, valid inside the `async with`. With
        `mounts` its volumes and binds are there as the container sees them (`docker cp`); without,
        its root filesystem alone (`docker export`, as dockerd exports it).

        Do not close it; duplicate it (RootedDir.open_root does) to keep it longer."""
        if c.running:
            fd = await asyncio.to_thread(self._process_root, c) if mounts else None
            if fd is None:
                fd = await asyncio.to_thread(self._running_view, c)
            if fd is not None:
                try:
                    yield fd
                finally:
                    os.close(fd)
                return
            # The rootfs is not mounted (any more): the container is on its way out.
        key = (c.id, mounts)
        view = await self._acquire_stopped(c, key)
        try:
            yield view.fd
        finally:
            await self._release_stopped(key)

    @staticmethod
    def _process_root(c: Container) -> int | None:
        if c.pid <= 0:
            return None
        try:
            return os.open(f"/proc/{c.pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return None

    def _running_view(self, c: Container) -> int | None:
        rootfs = self.containers.bundle_dir(c.id) / "rootfs"
        if not is_mount_point(rootfs):
            return None
        fd = clone_mount(rootfs)
        if fd is None:
            fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        return fd

    async def _acquire_stopped(self, c: Container, key: tuple[str, bool]) -> _SharedView:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            view = self._stopped.get(key)
            if view is None:
                view = await asyncio.to_thread(self._mount_stopped, c, key[1])
                self._stopped[key] = view
            else:
                view.users += 1
            return view

    async def _release_stopped(self, key: tuple[str, bool]) -> None:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            view = self._stopped[key]
            view.users -= 1
            if view.users > 0:
                return
            del self._stopped[key]
            self._locks.pop(key, None)
            os.close(view.fd)
            if view.scratch is not None:
                await asyncio.to_thread(self._drop_scratch, view.scratch)

    def _mount_stopped(self, c: Container, with_mounts: bool) -> _SharedView:
        svc = self.containers
        lowers = svc.images.layer_dirs(c.image_id)
        if not lowers:
            raise Conflict(f"container {c.name} has no filesystem layers to read")
        data = svc.data_dir(c.id)
        scratch = svc.bundle_dir(c.id) / f".view-{secrets.token_hex(4)}"
        scratch.mkdir(parents=True)
        try:
            svc.rootfs.mount(lowers, data / "upper", data / "work", scratch)
        except BaseException:
            scratch.rmdir()
            raise
        try:
            for m in svc.mounts.host_binds(c) if with_mounts else []:
                _bind_inside(scratch, m)
            fd = clone_mount(scratch, recursive=True)
            if fd is None:
                log.debug("open_tree unavailable: keeping %s mounted while in use", scratch)
                return _SharedView(os.open(scratch, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC), 1, scratch)
        except BaseException:
            self._drop_scratch(scratch)
            raise
        self._drop_scratch(scratch)
        return _SharedView(fd, 1, None)

    def _drop_scratch(self, scratch: Path) -> None:
        overlay.unmount(scratch, lazy=True)  # the binds on it go with it
        with contextlib.suppress(OSError):
            scratch.rmdir()


def _bind_inside(root: Path, m: Mount) -> None:
    """Bind `m.source` at `m.destination` inside `root`, the mount point resolved without ever
    leaving the root (a symlink in the container cannot aim the bind at the host) and created
    if missing, as the runtime does at start."""
    if not os.path.isdir(m.source):
        return  # a file bound on a file: docker cp of stopped containers sees the rootfs there
    with RootedDir.open_root(root) as d, d.walk(m.destination, mkdir_mode=0o755) as target:
        overlay.bind_mount(m.source, f"/proc/self/fd/{target.fd}", m.destination)
    if "ro" not in m.options:
        return
    # The remount must name the new mount itself: resolve the target again, which now crosses
    # into the bind (the fd above still holds the directory under it).
    with RootedDir.open_root(root) as d, d.walk(m.destination) as bound:
        overlay.remount_read_only(f"/proc/self/fd/{bound.fd}", m.destination)
