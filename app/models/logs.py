"""The log of one container (or several merged) as a virtual list of lines, and search over it.

`LogBuffer` keeps lines in sealed text blocks with an array of line offsets each, not one object
per line: a million lines cost their characters plus a few bytes each. Lines are only ever appended.
`LogSearch` runs a regex over the buffer a slice at a time (a time budget per step), so counting
matches in a million lines never stalls the UI; lines appended later are searched as they come.
No Qt here: widgets drive both.
"""

from __future__ import annotations

import calendar
import re
import time
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from app.models.ansi import strip_ansi

STDOUT = 0
STDERR = 1
MARK = 2  # a line of Berth's own: what happened to the container (started, exited 137, ...)
_BLOCK_LINES = 4096
# "2026-11-28T02:40:42.571542124Z " as the engine prefixes each line when asked for timestamps.
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d) ")
_TIMESTAMPS = re.compile(_TIMESTAMP.pattern, re.MULTILINE)
_minutes: dict[str, int] = {}  # "2026-11-28T02:40" -> its epoch seconds: one calendar sum per minute


def stamp_ns(stamp: str) -> int:
    """The engine's RFC 3339 stamp in ns since the epoch (0 when unreadable).

    Docker trims trailing zeros of the fraction ("…42.5Z" then "…42.51Z"), so stamps do not sort
    as text: lines are ordered, merged and de-duplicated on this number instead.
    """
    if len(stamp) < 20 or stamp[16] != ":":
        return 0
    zone = stamp[-1]
    body = stamp[:-1] if zone in "Zz" else stamp[:-6]
    minute = body[:16]
    base = _minutes.get(minute)
    if base is None:
        try:
            base = calendar.timegm(time.strptime(minute, "%Y-%m-%dT%H:%M"))
        except ValueError:
            return 0
        if len(_minutes) > 4096:
            _minutes.clear()
        _minutes[minute] = base
    seconds, _, fraction = body[17:].partition(".")
    if not seconds.isdigit() or (fraction and not fraction.isdigit()):
        return 0
    ns = (base + int(seconds)) * 1_000_000_000 + int(fraction[:9].ljust(9, "0") if fraction else 0)
    if zone not in "Zz":  # "+02:00": the stamp is ahead of UTC by that much
        sign = -1 if stamp[-6] == "-" else 1
        ns -= sign * (int(stamp[-5:-3]) * 3600 + int(stamp[-2:]) * 60) * 1_000_000_000
    return ns


def readable_time(stamp: str) -> str:
    """The stamp as people read it beside a line: local wall time to the millisecond (14:03:22.125)."""
    ns = stamp_ns(stamp)
    if not ns:
        return stamp
    local = datetime.fromtimestamp(ns // 1_000_000_000)
    return f"{local:%H:%M:%S}.{ns // 1_000_000 % 1000:03d}"


TIME_WIDTH = len("14:03:22.125")


@dataclass(frozen=True, slots=True)
class _Block:
    first: int  # global index of its first line
    text: str  # its lines joined by "\n"
    starts: array  # type: ignore[type-arg]  # offset of each line in `text`, plus len(text)+1 at the end


class LogBuffer:
    """Append-only lines, each with its stream (stdout/stderr), source (for merged logs) and
    optional timestamp prefix (kept in the text, hidden on demand)."""

    def __init__(self) -> None:
        self._blocks: list[_Block] = []
        self._firsts: list[int] = []
        self._tail: list[str] = []  # the open block's lines, sealed at _BLOCK_LINES
        self._streams = bytearray()
        self._sources = bytearray()
        self._partial: dict[tuple[int, int], str] = {}
        self._sealed = 0
        self.max_length = 0
        self.timestamped = False  # whether lines carry the engine's timestamp prefix
        self.sources: list[str] = []  # names of merged sources, by index
        self.marks = array("L")  # the MARK lines, in order
        self.mark_kinds: dict[int, str] = {}  # MARK line -> the event's kind (start, die, oom, ...)

    def __len__(self) -> int:
        return self._sealed + len(self._tail)

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]

    # -- writing ---------------------------------------------------------------------------------

    def append(self, text: str, stream: int = STDOUT, source: int = 0) -> int:
        """Add output as it arrives (possibly ending mid-line); returns how many whole lines it completed."""
        key = (stream, source)
        pending = self._partial.pop(key, "")
        if pending:
            text = pending + text
        if "\n" not in text:
            if text:
                self._partial[key] = text
            return 0
        lines = text.split("\n")
        rest = lines.pop()
        if rest:
            self._partial[key] = rest
        self.append_lines(lines, stream, source)
        return len(lines)

    def flush_partial(self) -> int:
        """End the unfinished lines (the stream ended without a newline)."""
        pending, self._partial = self._partial, {}
        for (stream, source), text in pending.items():
            self.append_lines([text], stream, source)
        return len(pending)

    def append_lines(self, lines: list[str], stream: int = STDOUT, source: int = 0) -> None:
        if not lines:
            return
        if "\r" in lines[0] or "\r" in lines[-1]:
            lines = [line.rstrip("\r") for line in lines]
        longest = max(map(len, lines))
        if longest > self.max_length:
            self.max_length = longest
        if stream == MARK:
            self.marks.extend(range(len(self), len(self) + len(lines)))
        self._streams.extend(bytes([stream]) * len(lines))
        self._sources.extend(bytes([source]) * len(lines))
        room = _BLOCK_LINES - len(self._tail)
        self._tail.extend(lines[:room])
        lines = lines[room:]
        while len(self._tail) >= _BLOCK_LINES:
            self._seal()
            self._tail = lines[:_BLOCK_LINES]
            lines = lines[_BLOCK_LINES:]

    def _seal(self) -> None:
        text = "\n".join(self._tail)
        starts = array("L", [0])
        offset = 0
        for line in self._tail:
            offset += len(line) + 1
            starts.append(offset)
        self._blocks.append(_Block(self._sealed, text, starts))
        self._firsts.append(self._sealed)
        self._sealed += len(self._tail)
        self._tail = []

    # -- reading ---------------------------------------------------------------------------------

    def line(self, index: int) -> str:
        """The raw line (ANSI escapes and timestamp prefix included)."""
        if index >= self._sealed:
            return self._tail[index - self._sealed]
        block = self._blocks[bisect_right(self._firsts, index) - 1]
        local = index - block.first
        return block.text[block.starts[local] : block.starts[local + 1] - 1]

    def stream(self, index: int) -> int:
        return self._streams[index]

    def source(self, index: int) -> int:
        return self._sources[index]

    def split_timestamp(self, line: str) -> tuple[str, str]:
        """(timestamp, rest) when the line starts with the engine's timestamp, else ("", line)."""
        if self.timestamped and line[:2].isdigit():
            match = _TIMESTAMP.match(line)
            if match:
                return line[: match.end() - 1], line[match.end() :]
        return "", line

    def plain(self, index: int, timestamps: bool = False) -> str:
        """The line as people read it: no escapes; the local time (14:03:22.125) only if asked for."""
        stamp, rest = self.split_timestamp(self.line(index))
        rest = strip_ansi(rest)
        return f"{readable_time(stamp)} {rest}" if timestamps and stamp else rest

    def time_ns(self, index: int) -> int:
        """When a line was written (0: it has no stamp)."""
        return stamp_ns(self.split_timestamp(self.line(index))[0])

    def first_line_at(self, ns: int) -> int:
        """The first line written at or after `ns` (len(self) when none): a binary search over the
        lines' own stamps, so no per-line time is stored. A line without a stamp counts as the
        nearest stamped line before it."""
        low, high = 0, len(self)
        while low < high:
            middle = (low + high) // 2
            when = 0
            for back in range(middle, max(-1, middle - 8), -1):
                when = self.time_ns(back)
                if when:
                    break
            if when < ns:
                low = middle + 1
            else:
                high = middle
        return low

    def chunks(self, start: int = 0) -> Iterator[tuple[int, list[str]]]:
        """(first index, lines) from `start` on, a block at a time: for search and saving."""
        position = start
        while position < len(self):
            if position >= self._sealed:
                tail = self._tail[position - self._sealed :]
                yield position, tail
                position += len(tail)
                continue
            block = self._blocks[bisect_right(self._firsts, position) - 1]
            local = position - block.first
            lines = block.text[block.starts[local] :].split("\n")
            yield position, lines
            position += len(lines)

    def block_text(self, start: int) -> tuple[int, int, str] | None:
        """The sealed block holding line `start`, as (first, end, text), for fast whole-block checks."""
        if start >= self._sealed:
            return None
        block = self._blocks[bisect_right(self._firsts, start) - 1]
        return block.first, block.first + len(block.starts) - 1, block.text


class LogSearch:
    """A regex search over a `LogBuffer`, advanced by `step()` within a time budget.

    Matches are kept as three parallel arrays (line, start, end) in the displayed text's columns.
    """

    def __init__(self, buffer: LogBuffer) -> None:
        self.buffer = buffer
        self.pattern: re.Pattern[str] | None = None
        self._block_pattern: re.Pattern[str] | None = None  # the same in MULTILINE, for whole blocks
        self.error = ""
        self.lines = array("L")
        self.starts = array("L")
        self.ends = array("L")
        self.matching_lines = array("L")  # each line with a match, once, in order
        self.searched = 0  # lines searched so far

    def set_pattern(self, text: str, *, regex: bool = True, case_sensitive: bool = False) -> bool:
        """Start over with a new pattern; False (and `error` set) when it does not compile."""
        self.lines, self.starts, self.ends = array("L"), array("L"), array("L")
        self.matching_lines = array("L")
        self.searched = 0
        self.error = ""
        if not text:
            self.pattern = None
            return True
        flags = 0 if case_sensitive else re.IGNORECASE
        try:
            self.pattern = re.compile(text if regex else re.escape(text), flags)
            self._block_pattern = re.compile(self.pattern.pattern, flags | re.MULTILINE)
        except re.error as exc:
            self.pattern = None
            self.error = str(exc)
            return False
        return True

    @property
    def active(self) -> bool:
        return self.pattern is not None

    @property
    def done(self) -> bool:
        return self.pattern is None or self.searched >= len(self.buffer)

    @property
    def count(self) -> int:
        return len(self.lines)

    def step(self, budget: float = 0.008) -> bool:
        """Search on for about `budget` seconds; True when there is nothing left to search (for now)."""
        pattern = self.pattern
        if pattern is None:
            return True
        deadline = time.perf_counter() + budget
        buffer = self.buffer
        while self.searched < len(buffer):
            whole = buffer.block_text(self.searched)
            if whole is not None and whole[0] == self.searched and not self._block_may_match(whole[2]):
                self.searched = whole[1]  # nothing in the whole block: skip it in one C-speed pass
                if time.perf_counter() > deadline:
                    return False
                continue
            first, lines = next(buffer.chunks(self.searched))
            lines = lines[:1024]
            self._search_lines(first, lines)
            self.searched = first + len(lines)
            if time.perf_counter() > deadline:
                return self.searched >= len(buffer)
        return True

    def _block_may_match(self, text: str) -> bool:
        assert self._block_pattern is not None
        if self.buffer.timestamped:
            text = _TIMESTAMPS.sub("", text)
        return self._block_pattern.search(strip_ansi(text)) is not None

    def _search_lines(self, first: int, lines: list[str]) -> None:
        pattern = self.pattern
        assert pattern is not None
        split = self.buffer.split_timestamp
        for offset, raw in enumerate(lines):
            text = split(raw)[1] if self.buffer.timestamped else raw
            if "\x1b" in text:
                text = strip_ansi(text)
            found = False
            for match in pattern.finditer(text):
                if match.end() == match.start():
                    continue  # empty matches highlight nothing
                self.lines.append(first + offset)
                self.starts.append(match.start())
                self.ends.append(match.end())
                found = True
            if found:
                self.matching_lines.append(first + offset)

    def matches_in(self, line: int) -> list[tuple[int, int]]:
        """(start, end) of the matches on a line, in displayed columns (timestamps hidden)."""
        if self.pattern is None:
            return []
        text = self.buffer.plain(line)
        return [(m.start(), m.end()) for m in self.pattern.finditer(text) if m.end() > m.start()]

    def first_match_at_or_after(self, line: int) -> int | None:
        index = bisect_right(self.lines, line - 1) if line > 0 else 0
        return index if index < len(self.lines) else None
