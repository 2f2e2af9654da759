"""`docker diff`: what a container changed, read from its overlay upper dir.

Everything in the upper dir is a change: a 0/0 character device is a whiteout (the path was
deleted), anything else was added, or modified when the image's layers have it too. A
directory marked opaque (`trusted.overlay.opaque=y`) hides everything the layers had below
it, so whatever they had there that the upper dir lacks is reported deleted.

The runtime creates mount points for /etc/hosts and friends in the upper dir; Docker keeps
those in an "init" layer so they never show up, and we leave them out for the same reason,
along with a directory that was copied up only to hold them.

The upper dir's content is the container's to shape: nothing in it or in the layers is
followed, every directory is opened relative to its parent with O_NOFOLLOW.
"""

from __future__ import annotations

import enum
import os
import stat
from dataclasses import dataclass
from pathlib import Path

_DIR_NOFOLLOW = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PATH_DIR_NOFOLLOW = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")

# Mount points the runtime makes for its own mounts: never the container's doing.
RUNTIME_MOUNT_POINTS = frozenset({
    "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/etc/mtab", "/.dockerenv",
    "/proc", "/sys", "/dev",
})


class ChangeKind(enum.IntEnum):
    MODIFIED = 0
    ADDED = 1
    DELETED = 2


@dataclass(frozen=True)
class Change:
    path: str
    kind: ChangeKind

    def as_json(self) -> dict[str, object]:
        return {"Path": self.path, "Kind": int(self.kind)}


def container_changes(upper: Path, lowers: list[Path]) -> list[Change]:
    """The changes recorded in `upper` over the image layers `lowers` (top first)."""
    out: list[Change] = []
    upper_fd = os.open(upper, _DIR_NOFOLLOW)
    lower_fds: list[int] = []
    try:
        for lower in lowers:
            try:
                lower_fds.append(os.open(lower, _PATH_DIR_NOFOLLOW))
            except FileNotFoundError:
                continue
        _walk(upper_fd, lower_fds, "", hidden=False, out=out)
    finally:
        os.close(upper_fd)
        for fd in lower_fds:
            os.close(fd)
    return out


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(fd: int) -> bool:
    for name in OPAQUE_XATTRS:
        try:
            if os.getxattr(fd, name) == b"y":
                return True
        except OSError:
            continue
    return False


def _lower_lookup(lower_fds: list[int], name: str) -> tuple[bool, list[int]]:
    """Whether the layers have `name` in this directory, and its directory fds if they are dirs.

    Layers are searched top first, as overlay does: a whiteout or a non-directory ends the
    search, and so does an opaque directory after it is taken."""
    exists = False
    dirs: list[int] = []
    for lfd in lower_fds:
        try:
            st = os.stat(name, dir_fd=lfd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if is_whiteout(st):
            break
        exists = True
        if not stat.S_ISDIR(st.st_mode):
            break
        fd = os.open(name, _PATH_DIR_NOFOLLOW, dir_fd=lfd)
        dirs.append(fd)
        if _is_opaque_path_fd(fd):
            break
    return exists, dirs


def _is_opaque_path_fd(fd: int) -> bool:
    # getxattr needs a real fd or a path; the magic link reaches exactly this directory.
    for name in OPAQUE_XATTRS:
        try:
            if os.getxattr(f"/proc/self/fd/{fd}", name) == b"y":
                return True
        except OSError:
            continue
    return False


def _lower_names(lower_fds: list[int]) -> set[str]:
    """The names the layers show in a directory (whiteouts taken into account)."""
    names: set[str] = set()
    hidden: set[str] = set()
    for lfd in lower_fds:
        fd = os.open(".", _DIR_NOFOLLOW, dir_fd=lfd)
        try:
            with os.scandir(fd) as it:
                for entry in it:
                    if entry.name in hidden or entry.name in names:
                        continue
                    if is_whiteout(entry.stat(follow_symlinks=False)):
                        hidden.add(entry.name)
                    else:
                        names.add(entry.name)
        finally:
            os.close(fd)
    return names


def _walk(dir_fd: int, lower_fds: list[int], prefix: str, *, hidden: bool, out: list[Change]) -> tuple[bool, bool]:
    """Report the changes below one upper directory.

    `hidden`: the layers' content here is hidden (an opaque directory here or above), so what
    they have and the upper dir lacks is gone. Returns (anything reported, anything skipped)."""
    reported = skipped = False
    names = sorted(os.listdir(dir_fd))
    if hidden and lower_fds:
        for name in sorted(_lower_names(lower_fds) - set(names)):
            out.append(Change(f"{prefix}/{name}", ChangeKind.DELETED))
            reported = True
    for name in names:
        path = f"{prefix}/{name}"
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if is_whiteout(st):
            out.append(Change(path, ChangeKind.DELETED))
            reported = True
            continue
        if path in RUNTIME_MOUNT_POINTS:
            skipped = True
            continue
        in_lower, child_lowers = _lower_lookup(lower_fds, name)
        try:
            kind = ChangeKind.MODIFIED if in_lower else ChangeKind.ADDED
            if not stat.S_ISDIR(st.st_mode):
                out.append(Change(path, kind))
                reported = True
                continue
            child_fd = os.open(name, _DIR_NOFOLLOW, dir_fd=dir_fd)
            try:
                opaque = _is_opaque(child_fd)
                at = len(out)
                out.append(Change(path, kind))
                below, below_skipped = _walk(child_fd, child_lowers, path, hidden=hidden or opaque, out=out)
            finally:
                os.close(child_fd)
            if kind is ChangeKind.MODIFIED and below_skipped and not below and not opaque:
                del out[at]  # copied up only to hold the runtime's mount points
                skipped = True
            else:
                reported = True
        finally:
            for fd in child_lowers:
                os.close(fd)
    return reported, skipped
