"""overlayfs mounts for container root filesystems, through mount(2) (engine.libc).

mount(2) takes the options as one page (4096 bytes on x86-64/arm64, NUL included), and each
lower dir under `/var/lib/berth/layers/<64 hex>/diff` costs ~95 bytes, so about 40 layers fit.
Beyond that (or for a path containing `:`, `,` or `\\`, which overlay would misparse) each
directory is passed as `/proc/self/fd/<n>` of an O_PATH descriptor we hold for the duration of the
call: ~19 bytes a layer, about 200 layers, more than Docker's own 125-layer cap. We avoid chdir
because the working directory is per process and berthd runs worker threads.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from contextlib import ExitStack
from pathlib import Path

from engine import libc, mountinfo
from engine.errors import InvalidArgument, RuntimeFailure

OPTIONS_MAX = os.sysconf("SC_PAGE_SIZE") - 1  # the kernel copies one page, NUL-terminated
MNT_DETACH = 2
_UNSAFE_IN_OPTIONS = re.compile(r"[:,\\]")


def _mount(source: str, target: Path, fstype: str, flags: int, data: str) -> None:
    libc.mount(source.encode(), os.fsencode(target), fstype.encode(), flags, data.encode(),
               f"mount {fstype} on {target}")


MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC = 1, 32, 4096, 16384


def bind_mount(source: str, target: str, what: str) -> None:
    """Bind `source` (and the mounts below it) on `target`; OSError names `what`."""
    libc.mount(os.fsencode(source), os.fsencode(target), None, MS_BIND | MS_REC, None, f"bind {source} on {what}")


def remount_read_only(target: str, what: str) -> None:
    """Make the bind mount at `target` read-only (the target must name the bind itself)."""
    libc.mount(None, os.fsencode(target), None, MS_REMOUNT | MS_BIND | MS_RDONLY, None, f"read-only bind {what}")


def overlay_options(lowers: list[Path], upper: Path, work: Path, *, index_off: bool = True) -> str:
    """The overlay mount data string for these dirs (lowers top first). Paths are used as given."""
    opts = f"lowerdir={':'.join(str(p) for p in lowers)},upperdir={upper},workdir={work}"
    # index=off: with the index feature on, overlay pins an upper dir to the lowers it was first
    # mounted with; Docker turns it off for the same reason.
    return opts + ",index=off" if index_off else opts


def mount_rootfs(lowers: list[Path], upper: Path, work: Path, target: Path) -> None:
    """Mount an overlay of `lowers` (top first) with `upper`/`work` on `target`."""
    if not lowers:
        raise InvalidArgument("an overlay needs at least one lower dir")
    with ExitStack() as fds:
        paths = [*lowers, upper, work]
        as_given = [str(p) for p in paths]
        opts = overlay_options(lowers, upper, work)
        if len(opts) > OPTIONS_MAX or any(_UNSAFE_IN_OPTIONS.search(p) for p in as_given):
            short = [Path(_fd_path(p, fds)) for p in paths]
            opts = overlay_options(short[:-2], short[-2], short[-1])
        if len(opts) > OPTIONS_MAX:
            raise InvalidArgument(
                f"too many layers to mount ({len(lowers)}): the overlay options exceed a page"
            )
        try:
            _mount("overlay", target, "overlay", 0, opts)
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise RuntimeFailure(f"cannot mount the container's root filesystem: {e}") from None
            # EINVAL may be an older kernel without `index`: one retry without it.
            try:
                _mount("overlay", target, "overlay", 0, opts.removesuffix(",index=off"))
            except OSError as e2:
                raise RuntimeFailure(f"cannot mount the container's root filesystem: {e2}") from None


def unmount(target: Path, *, lazy: bool = False) -> None:
    """Unmount `target`; nothing to do if it is not mounted (or does not exist)."""
    err = libc.umount2(os.fsencode(target), MNT_DETACH if lazy else 0)
    if err:
        if err in (errno.EINVAL, errno.ENOENT):
            return  # not a mount point (any more)
        raise RuntimeFailure(f"cannot unmount {target}: {os.strerror(err)}")


def is_mounted(target: Path) -> bool:
    """True if `target` is a mount point in our mount namespace. One statx, where reading the mount
    table costs a millisecond or more on a busy host (twice in every container's removal)."""
    known = libc.is_mount_root(os.fsencode(target))
    if known is not None:
        return known
    want = os.path.realpath(target)
    return any(entry.mount_point == want for entry in mountinfo.entries())


def _fd_path(path: Path, fds: ExitStack) -> str:
    fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    fds.callback(os.close, fd)
    return f"/proc/self/fd/{fd}"


_CONTAINER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ContainerLayer:
    """A container's writable layer: `<root>/<id>/{diff,work,merged}`.

    `diff` is the overlay upper dir (the container's changes, what `docker diff` and commit read),
    `work` overlay's scratch dir, `merged` the mounted root filesystem.
    """

    def __init__(self, root: Path, container_id: str) -> None:
        if not _CONTAINER_ID_RE.match(container_id):
            raise InvalidArgument(f"invalid container id {container_id!r}")
        self.dir = root / container_id
        self.upper = self.dir / "diff"
        self.work = self.dir / "work"
        self.merged = self.dir / "merged"
        self.empty = self.dir / "empty"  # the lower dir of an image without layers

    def create(self) -> None:
        for d in (self.upper, self.work, self.merged):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.upper, 0o755)

    def mount(self, lowers: list[Path]) -> Path:
        """Mount the root filesystem on `merged` (idempotent) and return it."""
        self.create()
        if is_mounted(self.merged):
            return self.merged
        if not lowers:
            self.empty.mkdir(mode=0o755, exist_ok=True)
            lowers = [self.empty]
        mount_rootfs(lowers, self.upper, self.work, self.merged)
        return self.merged

    def unmount(self) -> None:
        unmount(self.merged)

    def remove(self) -> None:
        """Unmount and delete the container's layer, changes included."""
        if self.merged.exists():
            unmount(self.merged)
            if is_mounted(self.merged):
                raise RuntimeFailure(f"{self.merged} is still mounted")
        shutil.rmtree(self.dir, ignore_errors=True)
