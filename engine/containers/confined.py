"""Reading and writing inside a container's root without ever leaving it.

Every component is opened relative to its parent with O_NOFOLLOW; a symlink is resolved
by us, against the container's root, as the container itself would see it. So a link
such as /etc/passwd -> /../../host/secret stays inside the root whatever it says.

`RootedDir` is the building block: an open directory plus the fds of all its ancestors up
to the root. `..` pops that chain instead of asking the kernel, so neither a `..` in a path
or link target nor a directory swapped or moved while we work can lead outside the root.
Callers create and write files with *at calls on `RootedDir.fd`, never with path strings.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

MAX_LINKS = 40

_PATH_NOFOLLOW = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


class RootedDir:
    """A directory inside a container root, held open with the chain of its ancestors.

    Owns its fds: close it (or use it as a context manager). Methods that resolve a path
    return a new RootedDir and leave this one where it is.
    """

    def __init__(self, fds: list[int], names: list[str]) -> None:
        self._fds = fds  # fds[0] is the root; fds[i + 1] is names[i] inside fds[i]
        self._names = names

    @classmethod
    def open_root(cls, root: Path | int) -> RootedDir:
        """The root itself: a path, or an fd we duplicate (the caller keeps its own)."""
        fd = os.dup(root) if isinstance(root, int) else os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        return cls([fd], [])

    @property
    def fd(self) -> int:
        """An O_PATH fd of this directory: for *at calls (dir_fd=...), not for reading."""
        return self._fds[-1]

    @property
    def path(self) -> str:
        """Where this directory is, as the container sees it."""
        return "/" + "/".join(self._names)

    def copy(self) -> RootedDir:
        fds: list[int] = []
        try:
            for fd in self._fds:
                fds.append(os.dup(fd))
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        return RootedDir(fds, list(self._names))

    def close(self) -> None:
        while self._fds:
            os.close(self._fds.pop())
        self._names.clear()

    def __enter__(self) -> RootedDir:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # ---- resolution -------------------------------------------------------------------------

    def walk(self, path: str | Iterable[str], *, mkdir_mode: int | None = None) -> RootedDir:
        """The directory `path` names (relative to this one; absolute means from the root),
        following every symlink inside the root. With `mkdir_mode`, missing directories are
        created with that mode; otherwise FileNotFoundError. NotADirectoryError if it is not one."""
        out = self.copy()
        try:
            out._resolve(_parts(path, out), enter_last=True, mkdir_mode=mkdir_mode)
        except BaseException:
            out.close()
            raise
        return out

    def locate(self, path: str | Iterable[str], *, mkdir_mode: int | None = None) -> tuple[RootedDir, str]:
        """The directory holding `path`'s last component, and that component, never followed
        (it may be a symlink, or missing). The name is "" when the path names a directory
        with no last component of its own ("", "/", "a/..")."""
        out = self.copy()
        try:
            name = out._resolve(_parts(path, out), enter_last=False, mkdir_mode=mkdir_mode)
        except BaseException:
            out.close()
            raise
        return out, name or ""

    def canonical(self, path: str) -> str:
        """Where `path` leads inside the root, every symlink followed as far as things exist;
        what is missing is appended as written. For reporting (a link's target), not opening."""
        out = self.copy()
        try:
            missing: list[str] = []  # components past the last one that exists
            pending = deque(_parts(path, out))
            links = 0
            while pending:
                part = pending.popleft()
                if part == "..":
                    if missing:
                        missing.pop()
                    else:
                        out._up()
                    continue
                if missing:
                    missing.append(part)
                    continue
                try:
                    fd = os.open(part, _PATH_NOFOLLOW, dir_fd=out.fd)
                except FileNotFoundError:
                    missing.append(part)
                    continue
                st_mode = os.fstat(fd).st_mode
                if stat.S_ISDIR(st_mode):
                    out._fds.append(fd)
                    out._names.append(part)
                    continue
                try:
                    target = os.readlink("", dir_fd=fd) if stat.S_ISLNK(st_mode) else None
                finally:
                    os.close(fd)
                if target is None:
                    missing.append(part)  # a file: nothing exists below it
                    continue
                links += 1
                if links > MAX_LINKS:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
                if target.startswith("/"):
                    out._to_root()
                pending.extendleft(reversed([p for p in target.split("/") if p not in ("", ".")]))
            return "/" + "/".join([*out._names, *missing])
        finally:
            out.close()

    def open(self, path: str, flags: int = os.O_RDONLY) -> int:
        """Open `path` with `flags`, following symlinks (the last one too) inside the root."""
        d = self.copy()
        try:
            pending = _parts(path, d)
            for _ in range(MAX_LINKS + 1):
                name = d._resolve(pending, enter_last=False, mkdir_mode=None)
                if name is None:
                    return reopen(d.fd, flags)
                fd = os.open(name, _PATH_NOFOLLOW, dir_fd=d.fd)
                try:
                    if not stat.S_ISLNK(os.fstat(fd).st_mode):
                        return reopen(fd, flags)
                    target = os.readlink("", dir_fd=fd)
                finally:
                    os.close(fd)
                if target.startswith("/"):
                    d._to_root()
                pending = [p for p in target.split("/") if p]
            raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
        finally:
            d.close()

    # ---- internals --------------------------------------------------------------------------

    def _up(self) -> None:
        if len(self._fds) > 1:  # `..` of the root is the root
            os.close(self._fds.pop())
            self._names.pop()

    def _to_root(self) -> None:
        while len(self._fds) > 1:
            self._up()

    def _resolve(self, parts: list[str], *, enter_last: bool, mkdir_mode: int | None) -> str | None:
        """Walk down `parts`; return the last component's name when it is not entered."""
        pending = deque(p for p in parts if p not in ("", "."))
        links = 0
        while pending:
            part = pending.popleft()
            if part == "..":
                self._up()
                continue
            if not pending and not enter_last:
                return part
            try:
                fd = os.open(part, _PATH_NOFOLLOW, dir_fd=self.fd)
            except FileNotFoundError:
                if mkdir_mode is None:
                    raise
                # Made meanwhile? Whatever it is, it is checked below like the rest.
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, mkdir_mode, dir_fd=self.fd)
                fd = os.open(part, _PATH_NOFOLLOW, dir_fd=self.fd)
            st_mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(st_mode):
                self._fds.append(fd)
                self._names.append(part)
                continue
            if not stat.S_ISLNK(st_mode):
                os.close(fd)
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", "/".join([*self._names, part]))
            try:
                target = os.readlink("", dir_fd=fd)  # the link we checked, not whatever has the name now
            finally:
                os.close(fd)
            links += 1
            if links > MAX_LINKS:
                raise OSError(errno.ELOOP, "too many levels of symbolic links", part)
            if target.startswith("/"):
                self._to_root()
            pending.extendleft(reversed([p for p in target.split("/") if p not in ("", ".")]))
        return None


def _parts(path: str | Iterable[str], d: RootedDir) -> list[str]:
    if isinstance(path, str):
        if path.startswith("/"):
            d._to_root()
        return [p for p in path.split("/") if p not in ("", ".")]
    return [p for p in path if p not in ("", ".")]


def reopen(fd: int, flags: int) -> int:
    """A new open file description of exactly the inode behind `fd` (typically an O_PATH one),
    through /proc's magic link: nothing is looked up by name, so nothing can be swapped."""
    return os.open(f"/proc/self/fd/{fd}", flags | os.O_CLOEXEC)


def open_in_root(root: Path, path: str, flags: int = os.O_RDONLY) -> int:
    """Open `path` as seen from inside `root`; the caller closes the returned fd."""
    with RootedDir.open_root(root) as d:
        return d.open(path, flags)


def read_in_root(root: Path, path: str, limit: int = 1 << 20) -> bytes | None:
    """The first `limit` bytes of a regular file inside the root, or None if absent."""
    try:
        path_fd = open_in_root(root, path, os.O_PATH)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        if not stat.S_ISREG(os.fstat(path_fd).st_mode):
            return None  # never open a device or a fifo on the container's say-so
        fd = reopen(path_fd, os.O_RDONLY)
    finally:
        os.close(path_fd)
    with os.fdopen(fd, "rb") as f:
        return f.read(limit)
