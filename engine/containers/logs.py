"""Reading a container's log as conmon writes it (k8s-file format):

    2026-11-28T02:40:42.571542124+00:00 stdout F a whole line
    2026-11-28T02:40:42.571542124+00:00 stderr P part of a longer line

Partial (P) records are joined until the final (F) one, so each entry is one line.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import InvalidArgument
from engine.formats import FormatError, ram_in_bytes, rfc3339_ns

STDOUT, STDERR = 1, 2

# The drivers berthd keeps logs for, by dockerd's names (conmon writes them all in its k8s-file
# format; the name is what clients see and choose by), and their options.
_COMMON_OPTS = {"max-size", "max-file", "compress", "mode", "max-buffer-size", "labels", "labels-regex",
                "env", "env-regex", "tag"}
KEPT_DRIVERS = {"json-file": _COMMON_OPTS, "local": _COMMON_OPTS, "k8s-file": _COMMON_OPTS}
NO_LOG = "none"
# dockerd's other built-in drivers ship logs elsewhere; berthd has no such sinks.
_ELSEWHERE = {"syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "etwlogs", "gcplogs", "logentries"}
# local's defaults in dockerd: 20 MB per file, 5 files.
_LOCAL_MAX_SIZE = 20 * 1024 * 1024
_LOCAL_MAX_FILES = 5


@dataclass(frozen=True)
class LogSettings:
    """HostConfig.LogConfig, checked: which driver, and how much of the log is kept."""

    driver: str  # as dockerd names it: json-file when none was asked for
    max_size: int  # bytes; 0 = unlimited
    max_files: int  # files kept, the live one included

    @property
    def kept(self) -> bool:
        """False for the none driver: nothing is written, and `logs` is refused."""
        return self.driver != NO_LOG

    @classmethod
    def from_host_config(cls, host_config: dict[str, Any]) -> LogSettings:
        cfg = host_config.get("LogConfig") or {}
        if not isinstance(cfg, dict):
            raise InvalidArgument("LogConfig must be an object with Type and Config")
        driver = str(cfg.get("Type") or "json-file")
        opts = cfg.get("Config") or {}
        if not isinstance(opts, dict):
            raise InvalidArgument("LogConfig.Config must be an object of option names to strings")
        if driver == NO_LOG:
            if opts:
                raise InvalidArgument(f"logger: the none driver takes no options, got {sorted(opts)[0]!r}")
            return cls(driver, 0, 1)
        if driver in _ELSEWHERE:
            raise InvalidArgument(f"logging driver {driver!r} is not supported by berthd: "
                                  "use json-file, local or none")
        if driver not in KEPT_DRIVERS:
            raise InvalidArgument(f"logger: no log driver named '{driver}' is registered")
        unknown = set(opts) - KEPT_DRIVERS[driver]
        if unknown:
            raise InvalidArgument(f"unknown log opt '{sorted(unknown)[0]}' for {driver} log driver")
        size = parse_size(str(opts["max-size"])) if opts.get("max-size") else 0
        try:
            files = int(opts.get("max-file") or 1)
        except ValueError:
            raise InvalidArgument(f"invalid max-file {opts.get('max-file')!r}: a whole number of files") from None
        if files < 1:
            raise InvalidArgument("max-file cannot be less than 1")
        if str(opts.get("compress", "false")).lower() not in ("true", "false", "1", "0"):
            raise InvalidArgument(f"invalid compress {opts['compress']!r}: true or false")
        if driver == "local":
            size = size or _LOCAL_MAX_SIZE
            files = int(opts["max-file"]) if opts.get("max-file") else _LOCAL_MAX_FILES
        # As json-file: without max-size the log is one file and max-file has nothing to count.
        return cls(driver, size, files if size else 1)


def parse_size(text: str) -> int:
    """max-size as dockerd reads it (go-units' RAMInBytes: binary units)."""
    try:
        return ram_in_bytes(text.strip())
    except FormatError:
        raise InvalidArgument(f"invalid max-size {text!r}: use a size such as 10m, 512k or 1g") from None


FOLLOW_POLL = 0.05
HISTORY_BATCH = 4096  # lines per write when sending what is already in the log


class LogLine:
    """One line of output. Its time is parsed only when asked for: most reads never need it."""

    __slots__ = ("_ns", "data", "stamp", "stream")

    def __init__(self, stream: int, stamp: bytes, data: bytes) -> None:
        self.stream = stream
        self.stamp = stamp  # as conmon wrote it: 2026-11-28T02:40:42.571542124+00:00
        self.data = data  # with its trailing newline
        self._ns: int | None = None

    @property
    def time_ns(self) -> int:
        if self._ns is None:
            try:
                self._ns = rfc3339_ns(self.stamp.decode(errors="replace"))
            except ValueError:
                self._ns = 0
        return self._ns

    def rfc3339(self) -> bytes:
        """Docker's form of the time (UTC, "Z")."""
        return self.stamp[:-6] + b"Z" if self.stamp.endswith(b"+00:00") else self.stamp


@dataclass(frozen=True)
class LogQuery:
    stdout: bool = True
    stderr: bool = True
    since_ns: int = 0
    until_ns: int = 0
    tail: int | None = None  # None: everything
    follow: bool = False

    def wants(self, line: LogLine) -> bool:
        if line.stream == STDOUT and not self.stdout:
            return False
        if line.stream == STDERR and not self.stderr:
            return False
        if self.since_ns and line.time_ns < self.since_ns:
            return False
        return not (self.until_ns and line.time_ns > self.until_ns)


class _Parser:
    def __init__(self) -> None:
        self.partial: dict[int, bytearray] = {}
        self.stamps: dict[int, bytes] = {}  # when each stream's unfinished line began

    def feed(self, records: Iterable[bytes]) -> Iterator[LogLine]:
        for rec in records:
            parts = rec.split(b" ", 3)
            if len(parts) < 3:
                continue
            ts, stream_name, tag = parts[0], parts[1], parts[2]
            content = parts[3] if len(parts) == 4 else b""
            stream = STDERR if stream_name == b"stderr" else STDOUT
            buf = self.partial.setdefault(stream, bytearray())
            buf += content
            if tag.startswith(b"P"):
                self.stamps.setdefault(stream, ts)
                continue
            data = bytes(buf) + b"\n"
            buf.clear()
            self.stamps.pop(stream, None)
            yield LogLine(stream, ts, data)

    def flush(self) -> list[LogLine]:
        """What the container printed last without a newline: once it has exited, that is a
        line of its own (dockerd's logs return it as printed, with no newline added)."""
        out = [LogLine(stream, self.stamps.get(stream, b""), bytes(buf))
               for stream, buf in sorted(self.partial.items()) if buf]
        self.partial.clear()
        self.stamps.clear()
        return out


def _records(data: bytes) -> list[bytes]:
    """The records of whole lines of the file: split at newlines only. (bytes.splitlines() also splits at
    a carriage return, which a terminal's output ends each line with and a progress bar redraws by: the
    text after one lost its record's prefix and was dropped, and a TTY's "\r\n" came back as "\n".)"""
    return data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n")


def rotated_files(log_path: Path) -> list[Path]:
    """The log's files, oldest first, the live one last (container.log.2, .1, container.log)."""
    old = sorted((p for p in log_path.parent.glob(log_path.name + ".*") if p.suffix[1:].isdigit()),
                 key=lambda p: int(p.suffix[1:]), reverse=True)
    return [*old, log_path]


def _read_history(path: Path, parser: _Parser, query: LogQuery) -> tuple[list[LogLine], bytes, int | None, Any]:
    """Every complete line of the rotated files and the live one; the live file stays open
    (returned with its unfinished tail and inode) for following."""
    lines: list[LogLine] = []
    files = rotated_files(path)
    live = None
    rest = b""
    for p in files:
        try:
            f = open(p, "rb")  # noqa: SIM115 - the live file outlives this function
        except FileNotFoundError:
            continue
        data = f.read()
        cut = data.rfind(b"\n") + 1
        lines += [ln for ln in parser.feed(_records(data[:cut])) if query.wants(ln)]
        if p == path:
            live, rest = f, data[cut:]
        else:
            f.close()
        if query.tail is not None and len(lines) > 4 * max(query.tail, 1024):
            lines = lines[-max(query.tail, 0):] if query.tail > 0 else []
    inode = os.fstat(live.fileno()).st_ino if live is not None else None
    return lines, rest, inode, live


async def read_log(path: Path, query: LogQuery, running: Callable[[], bool]) -> AsyncIterator[list[LogLine]]:
    """Batches of the lines that match `query` (a batch: what one read gave, so the caller
    writes each with one call); with `follow`, keep reading, across rotations and restarts,
    until the container has stopped running and the file is drained."""
    parser = _Parser()
    lines, pending, inode, f = await asyncio.to_thread(_read_history, path, parser, query)
    if query.tail is not None:
        lines = list(deque(lines, maxlen=query.tail)) if query.tail > 0 else []
    for i in range(0, len(lines), HISTORY_BATCH):
        yield lines[i:i + HISTORY_BATCH]
    if not query.follow:
        if f is not None:
            f.close()
        if not running():
            tail = [ln for ln in parser.flush() if query.wants(ln)]
            if tail:
                yield tail
        return
    try:
        while True:
            alive = running()
            chunk = await asyncio.to_thread(f.read) if f is not None else b""
            if chunk:
                pending += chunk
                cut = pending.rfind(b"\n") + 1
                batch = [ln for ln in parser.feed(_records(pending[:cut])) if query.wants(ln)]
                pending = pending[cut:]
                if batch:
                    yield batch
                continue
            # Rotated (or first created) under us: the old file is drained, go on with the new one.
            try:
                current = os.stat(path).st_ino
            except FileNotFoundError:
                current = None
            if current is not None and current != inode:
                if f is not None:
                    f.close()
                f = open(path, "rb")  # noqa: SIM115
                inode, pending = current, b""
                continue
            if not alive:
                tail = [ln for ln in parser.flush() if query.wants(ln)]
                if tail:
                    yield tail
                return
            if query.until_ns and _now_ns() > query.until_ns:
                return
            await asyncio.sleep(FOLLOW_POLL)
    finally:
        if f is not None:
            f.close()


def _now_ns() -> int:
    import time

    return time.time_ns()
