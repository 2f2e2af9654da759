"""Small kernel files (cgroup counters, /proc files) read once, or read again and again.

A stats stream reads about fifteen of them for each container every second. Opening a cgroup or proc
file is most of the cost of reading it: 7-16 µs a file here, where a read at offset 0 of a file kept
open takes 0.5-4.5 µs (the kernel makes the text anew for each read from the start). `KeptFiles` keeps
what it has read open for the next reading; `ONCE` opens and closes each time, for one-off readings.
"""

from __future__ import annotations

import os
from typing import Protocol

_CHUNK = 65536


class FileReads(Protocol):
    def text(self, path: str) -> str | None:
        """The file's text now; None if it cannot be read (missing, or gone with its cgroup)."""


class OnceFiles:
    def text(self, path: str) -> str | None:
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return None


ONCE = OnceFiles()


class KeptFiles:
    """Files kept open between readings; `close()` when the readings end. A file that fails is closed
    and opened anew at the next reading (its cgroup was made again)."""

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}

    def text(self, path: str) -> str | None:
        fd = self._fds.get(path)
        if fd is None:
            try:
                fd = self._fds[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return None
        try:
            data = os.pread(fd, _CHUNK, 0)
            while len(data) % _CHUNK == 0 and data:  # a long file (many block devices): the rest
                more = os.pread(fd, _CHUNK, len(data))
                if not more:
                    break
                data += more
        except OSError:
            del self._fds[path]
            os.close(fd)
            return None
        return data.decode(errors="replace")

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
