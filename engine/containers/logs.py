"""Reading a container's log as conmon writes it (k8s-file format):

    2026-11-28T02:40:42.571542124+00:00 stdout F a whole line
    2026-11-28T02:40:42.571542124+00:00 stderr P part of a longer line

Partial (P) records are joined until the final (F) one, so each entry is one line.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.timefmt import parse_timestamp

STDOUT, STDERR = 1, 2
FOLLOW_POLL = 0.05


@dataclass(frozen=True)
class LogLine:
    stream: int
    time_ns: int
    timestamp: str  # as conmon wrote it
    data: bytes  # with its trailing newline, unless the container ended mid-line


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
                continue
            data = bytes(buf) + b"\n"
            buf.clear()
            text_ts = ts.decode(errors="replace")
            try:
                t_ns = parse_timestamp(_utc(text_ts))
            except ValueError:
                t_ns = 0
            yield LogLine(stream, t_ns, text_ts, data)


def _utc(ts: str) -> str:
    return ts[:-6] if ts.endswith("+00:00") else ts


async def read_log(path: Path, query: LogQuery, running: Callable[[], bool]) -> AsyncIterator[LogLine]:
    """Lines of the log that match `query`; with `follow`, keep reading until the container
    has stopped running and the file is drained."""
    parser = _Parser()
    try:
        f = await asyncio.to_thread(open, path, "rb")
    except FileNotFoundError:
        if not query.follow:
            return
        while not path.exists():
            if not running():
                return
            await asyncio.sleep(FOLLOW_POLL)
        f = await asyncio.to_thread(open, path, "rb")
    with f:
        # History first: read it in one go (bounded by tail if asked).
        data = await asyncio.to_thread(f.read)
        cut = data.rfind(b"\n") + 1
        rest = data[cut:]
        lines = [ln for ln in parser.feed(data[:cut].splitlines()) if query.wants(ln)]
        if query.tail is not None:
            lines = list(deque(lines, maxlen=query.tail)) if query.tail > 0 else []
        for ln in lines:
            yield ln
        if not query.follow:
            return
        pending = rest
        while True:
            alive = running()
            chunk = await asyncio.to_thread(f.read)
            if chunk:
                pending += chunk
                cut = pending.rfind(b"\n") + 1
                for ln in parser.feed(pending[:cut].splitlines()):
                    if query.wants(ln):
                        yield ln
                pending = pending[cut:]
                continue
            if not alive:
                return
            if query.until_ns and _now_ns() > query.until_ns:
                return
            await asyncio.sleep(FOLLOW_POLL)


def _now_ns() -> int:
    import time

    return time.time_ns()
