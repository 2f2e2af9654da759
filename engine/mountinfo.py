"""/proc/<pid>/mountinfo, read in one place (proc(5)):

    36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    id parent dev root mount-point options [optional...] - fstype source super-options

Paths are unescaped (the kernel writes space, tab, newline and backslash as octal)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SELF = Path("/proc/self/mountinfo")
_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class MountEntry:
    mount_id: int
    parent_id: int
    root: str  # the path within the file system that is mounted
    mount_point: str
    options: tuple[str, ...]
    fstype: str
    source: str
    super_options: tuple[str, ...]


def unescape(field: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m[1], 8)), field)


def parse_line(line: str) -> MountEntry | None:
    """One line, or None for one that is not a mount (a truncated read's tail)."""
    left, sep, right = line.rstrip("\n").partition(" - ")
    if not sep:
        return None
    before, after = left.split(" "), right.split(" ")
    if len(before) < 5 or len(after) < 3:
        return None
    try:
        mount_id, parent_id = int(before[0]), int(before[1])
    except ValueError:
        return None
    return MountEntry(mount_id, parent_id, unescape(before[3]), unescape(before[4]),
                      tuple(before[5].split(",")) if len(before) > 5 else (),
                      after[0], unescape(after[1]), tuple(after[2].split(",")))


def parse(text: str) -> list[MountEntry]:
    return [e for line in text.splitlines() if (e := parse_line(line)) is not None]


def entries(path: Path = SELF) -> Iterator[MountEntry]:
    """The mounts of berthd's mount namespace (or another's, given its mountinfo)."""
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            entry = parse_line(line)
            if entry is not None:
                yield entry


def mount_points(path: Path = SELF) -> set[str]:
    return {e.mount_point for e in entries(path)}
