"""Reading files inside a container's root without ever leaving it.

Every component is opened relative to its parent with O_NOFOLLOW; a symlink is resolved
by us, against the container's root, as the container itself would see it. So a link
such as /etc/passwd -> /../../host/secret stays inside the root whatever it says.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

MAX_LINKS = 40


def open_in_root(root: Path, path: str, flags: int = os.O_RDONLY) -> int:
    """Open `path` as seen from inside `root`; the caller closes the returned fd."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        return _walk(root_fd, path, flags)
    finally:
        os.close(root_fd)


def _walk(root_fd: int, path: str, flags: int) -> int:
    pending = [p for p in path.split("/") if p not in ("", ".")]
    stack: list[int] = [os.dup(root_fd)]  # dir fds from the root down
    links = 0
    try:
        while pending:
            part = pending.pop(0)
            if part == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            last = not pending
            try:
                fd = os.open(part, os.O_PATH | os.O_NOFOLLOW, dir_fd=stack[-1])
            except FileNotFoundError:
                raise
            st = os.fstat(fd)
            if _is_link(st.st_mode):
                target = os.readlink(part, dir_fd=stack[-1])
                os.close(fd)
                links += 1
                if links > MAX_LINKS:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                pending = [p for p in target.split("/") if p not in ("", ".")] + pending
                continue
            if last:
                os.close(fd)
                return os.open(part, flags | os.O_NOFOLLOW, dir_fd=stack[-1])
            stack.append(fd)
        # the path named the root itself
        return os.open(".", flags, dir_fd=stack[-1])
    finally:
        for fd in stack:
            os.close(fd)


def _is_link(mode: int) -> bool:
    import stat

    return stat.S_ISLNK(mode)


def read_in_root(root: Path, path: str, limit: int = 1 << 20) -> bytes | None:
    """The first `limit` bytes of a regular file inside the root, or None if absent."""
    try:
        fd = open_in_root(root, path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(limit)
    finally:
        os.close(fd)
