"""A full disk, said as the user's to fix.

ENOSPC reaches berthd as a bare OSError from whichever write met it (a blob, a layer, a build
context, an upper dir), or as SQLite's "database or disk is full". Where it leaves berthd it becomes
DiskFull: "no space left on device", the data root, and what is free there now, so a person knows
which disk to clean up and that the same work will go through once there is room.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.errors import DiskFull, EngineError

_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_CHAIN_LIMIT = 8  # causes followed; a chain is a handful long, a cycle must not hang the error path


def _full_cause(error: BaseException) -> BaseException | None:
    """`error` or the first of its causes that says the disk is full."""
    seen: BaseException | None = error
    for _ in range(_CHAIN_LIMIT):
        if seen is None:
            return None
        if isinstance(seen, OSError) and seen.errno in _FULL_ERRNOS:
            return seen
        if isinstance(seen, sqlite3.Error) and getattr(seen, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def human_size(n: float) -> str:
    """Decimal units, as the docker CLI prints sizes."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.3g}{unit}"
        n /= 1000
    return f"{n:.0f}B"


def free_bytes(path: Path) -> int | None:
    """What an unprivileged writer may still use on `path`'s filesystem (None when it cannot be read)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def disk_full(error: BaseException, data_root: Path) -> DiskFull | None:
    """The DiskFull that `error` (or its cause) means, naming `data_root`; None for any other error."""
    full = _full_cause(error)
    if full is None:
        return None
    what = "disk quota exceeded" if isinstance(full, OSError) and full.errno == errno.EDQUOT \
        else "no space left on device"
    free = free_bytes(data_root)
    where = f"berthd's data root {data_root}" + (f" has {human_size(free)} free" if free is not None else "")
    # the failed write's own path, when the error has one: it may be on another disk (a bind mount)
    written = f" (writing {full.filename})" if isinstance(full, OSError) and full.filename else ""
    return DiskFull(f"{what}{written}: {where}; free space there and retry")


@contextmanager
def disk_full_said(data_root: Path) -> Iterator[None]:
    """Turn a full-disk error raised in the block into DiskFull naming `data_root`."""
    try:
        yield
    except EngineError:
        raise
    except Exception as e:
        full = disk_full(e, data_root)
        if full is None:
            raise
        raise full from e
