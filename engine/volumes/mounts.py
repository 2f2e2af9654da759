"""The container service's mounts collaborator: volumes, binds and tmpfs for one container.

At create every mount is parsed and checked, volumes are made (named ones on first mention,
anonymous ones for `-v /path` and the image's VOLUMEs) and recorded against the container.
At start each becomes an OCI mount; an empty volume is first filled from the image's content
at its path, as Docker does (unless nocopy).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.containers.confined import RootedDir, open_in_root
from engine.containers.model import Container
from engine.errors import InvalidArgument, NotFound, RuntimeFailure
from engine.events import EventBus
from engine.runtime.spec import Mount
from engine.shapes import MountPoint
from engine.volumes.service import VolumeService
from engine.volumes.specs import MountSpec, with_volumes
from engine.volumes.store import Volume, VolumeStore

log = logging.getLogger(__name__)

# Docker's defaults for tmpfs mounts; a user's own option (exec, say) comes later and wins.
TMPFS_DEFAULTS = ("nosuid", "nodev", "noexec")


class VolumeMounts:
    def __init__(self, store: VolumeStore, events: EventBus,
                 image_volumes: Callable[[str], list[str]] | None = None,
                 is_running: Callable[[str], bool] | None = None,
                 lookup: Callable[[str], Container] | None = None) -> None:
        self.store = store
        self.events = events
        self.service = VolumeService(store, events)  # the rules behind /volumes, and its events
        self.image_volumes = image_volumes or (lambda _image_id: [])
        self.is_running = is_running or (lambda _cid: False)
        self.lookup = lookup

    def specs(self, c: Container) -> list[MountSpec]:
        specs = with_volumes(c.spec.mounts, c.config_spec.volumes, self.image_volumes(c.image_id))
        inherited = self._volumes_from(c, {c.id})
        if not inherited:
            return specs
        # As dockerd: an explicit mount (Binds, Mounts, Tmpfs) wins over --volumes-from, which
        # wins over Config.Volumes and the image's VOLUMEs at the same path.
        explicit = {s.target for s in specs if s.origin in ("binds", "mounts", "tmpfs")}
        taken = {s.target for s in inherited if s.target not in explicit}
        return ([s for s in specs if s.target not in taken or s.origin in ("binds", "mounts", "tmpfs")]
                + [s for s in inherited if s.target in taken])

    def _volumes_from(self, c: Container, seen: set[str]) -> list[MountSpec]:
        """HostConfig.VolumesFrom (`name[:ro|rw]`): the other containers' volumes and binds at the
        same paths, read-only where asked, their own tmpfs mounts left out."""
        out: list[MountSpec] = []
        for source in c.spec.volumes_from:
            if self.lookup is None:
                raise InvalidArgument("--volumes-from is not available here")
            try:
                other = self.lookup(source.ref)
            except NotFound:
                raise InvalidArgument(f"--volumes-from {source.entry}: no such container: {source.ref}") from None
            if other.id in seen:
                continue
            refs = self.store.refs(other.id)
            for spec in self.specs(other):
                if spec.type == "tmpfs" or (spec.type == "volume" and spec.target not in refs):
                    continue
                copy = dataclasses.replace(spec, origin="volumes-from", nocopy=True,
                                           read_only=spec.read_only if not source.mode else source.mode == "ro")
                if spec.type == "volume":
                    copy.source = refs[spec.target]
                out.append(copy)
        return out

    # ---- ContainerMounts ----------------------------------------------------------------

    def validate(self, c: Container) -> None:
        specs = self.specs(c)
        for spec in specs:
            if spec.type == "bind" and not spec.create_source and not os.path.exists(spec.source):
                raise InvalidArgument(
                    f'invalid mount config for type "bind": bind source path does not exist: {spec.source}')
        # Volumes are made at create, as Docker does: `docker volume ls` shows them at once.
        for spec in specs:
            if spec.type != "volume":
                continue
            existed = bool(spec.source) and self._exists(spec.source)
            vol = self.store.create(spec.source or None, labels=spec.labels, options=spec.driver_options)
            if not existed:
                self.service.created(vol)
            self.store.add_ref(c.id, spec.target, vol.name)

    def _exists(self, name: str) -> bool:
        try:
            self.store.get(name)
        except NotFound:
            return False
        return True

    def prepare(self, c: Container, rootfs: Path) -> list[Mount]:
        refs = self.store.refs(c.id)
        out: list[Mount] = []
        for spec in self.specs(c):
            if spec.type == "bind":
                if spec.create_source and not os.path.exists(spec.source):
                    os.makedirs(spec.source, mode=0o755, exist_ok=True)
                opts = ["rbind", spec.propagation or "rprivate"]
                if spec.read_only:
                    opts.append("ro")
                out.append(Mount(source=spec.source, destination=spec.target, type="bind", options=opts))
            elif spec.type == "tmpfs":
                opts = [*TMPFS_DEFAULTS, *spec.tmpfs_options]
                if spec.read_only:
                    opts.append("ro")
                out.append(Mount(source="tmpfs", destination=spec.target, type="tmpfs", options=opts))
            else:
                name = refs.get(spec.target)
                if name is None:  # made before berthd recorded references: record it now
                    vol = self.store.create(spec.source or None, labels=spec.labels, options=spec.driver_options)
                    self.store.add_ref(c.id, spec.target, vol.name)
                else:
                    vol = self.store.get(name)
                self.store.mount(vol)
                if not spec.nocopy:
                    copy_up(rootfs, spec.target, vol)
                opts = ["rbind", "rprivate"]
                if spec.read_only:
                    opts.append("ro")
                out.append(Mount(source=volume_source(vol, spec), destination=spec.target, type="bind",
                                 options=opts))
                self.service.mounted(vol, {
                    "container": c.id, "destination": spec.target, "driver": "local",
                    "read/write": str(not spec.read_only).lower(), "propagation": ""})
        return out

    def host_binds(self, c: Container) -> list[Mount]:
        """The container's binds and volumes as host directories at their targets, for a view of
        a stopped container's files (`docker cp`). A volume with a filesystem of its own (type/o
        options) is mounted only while a container runs, so it is left out."""
        refs = self.store.refs(c.id)
        out: list[Mount] = []
        for spec in self.specs(c):
            ro = ["ro"] if spec.read_only else []
            if spec.type == "bind":
                out.append(Mount(source=spec.source, destination=spec.target, type="bind", options=["rbind", *ro]))
            elif spec.type == "volume" and spec.target in refs:
                with contextlib.suppress(NotFound, InvalidArgument):
                    vol = self.store.get(refs[spec.target])
                    if not vol.options:
                        out.append(Mount(source=volume_source(vol, spec), destination=spec.target, type="bind",
                                         options=["rbind", *ro]))
        return out

    def release(self, c: Container) -> None:
        for name in set(self.store.refs(c.id).values()):
            with contextlib.suppress(NotFound):
                vol = self.store.get(name)
                self.service.unmounted(vol, c.id)
                if vol.options and not any(self.is_running(u) for u in self.store.users(name) if u != c.id):
                    self.store.unmount(vol)

    def remove(self, c: Container, remove_anonymous: bool) -> None:
        refs = self.store.refs(c.id)
        self.store.drop_refs(c.id)
        # `docker run --rm` removes the container's anonymous volumes with it, as Docker does.
        if not (remove_anonymous or c.spec.auto_remove):
            return
        for name in set(refs.values()):
            try:
                vol = self.store.get(name)
            except NotFound:
                continue
            if vol.anonymous and not self.store.users(name):
                with contextlib.suppress(Exception):
                    self.store.remove(name)
                    self.service.destroyed(name)

    def disk_usage(self) -> list[dict[str, Any]]:
        """Kept for engine/api/images.py's old /system/df until it goes: VolumeService.disk_usage."""
        return self.service.disk_usage()

    def inspect(self, c: Container) -> list[MountPoint]:
        try:
            specs = self.specs(c)
        except InvalidArgument:
            return []
        if not specs:
            return []  # most containers: no query at all
        refs = self.store.refs(c.id)
        out: list[MountPoint] = []
        for spec in specs:
            if spec.origin == "tmpfs":
                continue  # HostConfig.Tmpfs is reported there only, as dockerd does
            entry: MountPoint = {"Type": spec.type, "Source": spec.source, "Destination": spec.target,
                                     "Mode": spec.mode, "RW": not spec.read_only, "Propagation": ""}
            if spec.type == "bind":
                entry["Propagation"] = spec.propagation or "rprivate"
            elif spec.type == "tmpfs":
                entry["Source"] = ""
            else:
                name = refs.get(spec.target, spec.source)
                entry["Name"], entry["Driver"] = name, "local"
                entry["Source"] = str(self.store.root / name / "_data")
                if not spec.mode and spec.origin != "mounts":
                    entry["Mode"] = "z" if spec.origin == "binds" else ""
            out.append(entry)
        return out


def volume_source(vol: Volume, spec: MountSpec) -> str:
    """The host directory a volume mount binds: the volume, or its Subpath resolved inside it
    (symlinks followed within the volume only, as the container would see them)."""
    if not spec.subpath:
        return str(vol.mountpoint)
    with RootedDir.open_root(vol.mountpoint) as root:
        inside = root.canonical(spec.subpath)
        try:
            root.walk(inside).close()
        except (FileNotFoundError, NotADirectoryError):
            raise InvalidArgument(f"cannot access path {spec.subpath!r} in volume {vol.name}: "
                                  "no such directory (create it in the volume first)") from None
    return str(vol.mountpoint) + inside


def copy_up(rootfs: Path, target: str, vol: Volume) -> None:
    """Fill an empty volume with what the image has at `target` (owner and modes included)."""
    try:
        if any(os.scandir(vol.mountpoint)):
            return
    except OSError:
        return
    try:
        fd = open_in_root(rootfs, target, os.O_RDONLY | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as e:
        log.warning("volume %s: not copying the image's %s: %s", vol.name, target, e)
        return
    try:
        st = os.fstat(fd)
        if not stat.S_ISDIR(st.st_mode):
            return
        # The volume's root takes the owner and mode of the image's directory, as in Docker.
        with contextlib.suppress(OSError):
            os.chown(vol.mountpoint, st.st_uid, st.st_gid)
            os.chmod(vol.mountpoint, stat.S_IMODE(st.st_mode))
        # cp -a never follows the tree's symlinks; the source is reached through our confined fd.
        out = subprocess.run(["cp", "-a", "--", f"/proc/self/fd/{fd}/.", str(vol.mountpoint)], pass_fds=(fd,),
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeFailure(f"copying the image's {target} into volume {vol.name}: {out.stderr.strip()}")
    finally:
        os.close(fd)
