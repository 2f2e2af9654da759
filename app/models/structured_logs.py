"""Structured log lines: JSON objects and logfmt (`key=value key2="quoted value"`) recognised line by
line, read into a level (error, warn, info, debug) and fields; plain lines are left as they are.

`parse` reads one line fully (for a detail view or chosen columns); `level_of` only finds the level,
the cheap part a filter needs; `LevelIndex` levels a `LogBuffer` a slice at a time within a time
budget (as `LogSearch` searches it), so a million lines are filtered by level without a stall, and
it tells which format the container writes. No Qt here.
"""

from __future__ import annotations

import json
import re
import time
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.models.logs import LogBuffer

DEBUG, INFO, WARN, ERROR = 0, 1, 2, 3
NONE = 255  # a plain line, or a structured one without a level
LEVEL_NAMES = {DEBUG: "debug", INFO: "info", WARN: "warn", ERROR: "error"}
JSON, LOGFMT, PLAIN = "json", "logfmt", "plain"

_WORDS = {
    "trace": DEBUG, "debug": DEBUG, "dbug": DEBUG, "verbose": DEBUG, "fine": DEBUG, "d": DEBUG,
    "info": INFO, "information": INFO, "informational": INFO, "notice": INFO, "i": INFO,
    "warn": WARN, "warning": WARN, "w": WARN,
    "error": ERROR, "err": ERROR, "eror": ERROR, "fatal": ERROR, "critical": ERROR, "crit": ERROR, "panic": ERROR,
    "alert": ERROR, "emerg": ERROR, "emergency": ERROR, "severe": ERROR, "e": ERROR, "f": ERROR,
}
# Where loggers put the level and the message (zap, logrus, slog, pino, bunyan, structlog, Serilog, ECS).
_LEVEL_KEYS = ("level", "lvl", "severity", "levelname", "log.level", "@l", "loglevel", "log_level")
_MESSAGE_KEYS = ("msg", "message", "@m", "@mt", "event", "log")
_LOGFMT_PAIR = re.compile(r'([^\s="]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)')
_LOGFMT_LINE = re.compile(r'\s*(?:[^\s="]+=(?:"(?:[^"\\]|\\.)*"|[^\s"]*)\s*)+')
_LOGFMT_LEVEL = re.compile(r'(?:^|\s)(?:level|lvl|severity|loglevel|log_level)=("?)([A-Za-z]+)\1(?=\s|$)')


@dataclass(frozen=True, slots=True)
class StructuredLine:
    format: str  # JSON or LOGFMT
    level: int  # DEBUG..ERROR or NONE
    message: str
    fields: Mapping[str, str]

    @property
    def level_name(self) -> str:
        return LEVEL_NAMES.get(self.level, "")


def level_from(value: Any) -> int:
    """A level as loggers write it: a word in any case, or a number (pino/bunyan's 10-60, syslog's 0-7)."""
    if isinstance(value, bool):
        return NONE
    if isinstance(value, int | float):
        number = int(value)
        if number >= 10:  # pino, bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal
            return ERROR if number >= 50 else WARN if number >= 40 else INFO if number >= 30 else DEBUG
        return ERROR if number <= 3 else WARN if number == 4 else INFO if number <= 6 else DEBUG  # syslog
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            return level_from(int(text))
        return _WORDS.get(text, NONE)
    return NONE


def parse(line: str) -> StructuredLine | None:
    """The line read as JSON or logfmt, None when it is neither (a plain line)."""
    text = line.strip()
    if not text:
        return None
    if text[0] == "{" and text[-1] == "}":
        try:
            data = json.loads(text)
        except ValueError:
            return None
        return _from_json(data) if isinstance(data, dict) else None
    if "=" in text and _LOGFMT_LINE.fullmatch(text):
        pairs = {key: _unquote(value) for key, value in _LOGFMT_PAIR.findall(text)}
        if len(pairs) >= 2 or any(k in pairs for k in _LEVEL_KEYS + _MESSAGE_KEYS):
            return _structured(LOGFMT, pairs)
    return None


def level_of(line: str) -> int:
    """Only the level of a structured line (NONE for a plain one): what a level filter needs."""
    text = line.strip()
    if not text:
        return NONE
    if text[0] == "{" and text[-1] == "}":
        try:
            data = json.loads(text)
        except ValueError:
            return NONE
        return _json_level(data) if isinstance(data, dict) else NONE
    if "=" not in text:
        return NONE
    match = _LOGFMT_LEVEL.search(text)
    if match is None or not _LOGFMT_LINE.fullmatch(text):
        return NONE
    return _WORDS.get(match.group(2).lower(), NONE)


def format_of(line: str) -> str:
    text = line.strip()
    if text[:1] == "{" and text[-1:] == "}":
        try:
            return JSON if isinstance(json.loads(text), dict) else PLAIN
        except ValueError:
            return PLAIN
    return LOGFMT if "=" in text and parse(text) is not None else PLAIN


def _json_level(data: Mapping[str, Any]) -> int:
    for key in _LEVEL_KEYS:
        if key in data:
            return level_from(data[key])
    log = data.get("log")
    if isinstance(log, Mapping) and "level" in log:  # ECS nests it
        return level_from(log["level"])
    return NONE


def _from_json(data: Mapping[str, Any]) -> StructuredLine:
    fields: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):  # one level of nesting as dotted names: {"http": {"status": 200}}
            for inner, item in value.items():
                fields[f"{key}.{inner}"] = _text(item)
        else:
            fields[key] = _text(value)
    level = _json_level(data)
    message = next((fields[k] for k in _MESSAGE_KEYS if k in fields), "")
    return StructuredLine(JSON, level, message, fields)


def _structured(fmt: str, fields: dict[str, str]) -> StructuredLine:
    level = next((level_from(fields[k]) for k in _LEVEL_KEYS if k in fields), NONE)
    message = next((fields[k] for k in _MESSAGE_KEYS if k in fields), "")
    return StructuredLine(fmt, level, message, fields)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\").replace("\\n", "\n")
    return value


def common_fields(lines: Iterable[StructuredLine], limit: int = 6) -> list[str]:
    """The fields most lines carry (besides level and message): candidates for columns."""
    counts: dict[str, int] = {}
    for line in lines:
        for key in line.fields:
            if key not in _LEVEL_KEYS and key not in _MESSAGE_KEYS:
                counts[key] = counts.get(key, 0) + 1
    return [key for key, _ in sorted(counts.items(), key=lambda item: -item[1])[:limit]]


@dataclass
class LevelIndex:
    """Levels of a `LogBuffer`'s lines, computed a slice at a time (`step`), and which lines pass a
    level filter. Lines appended later are levelled by the next steps."""

    buffer: LogBuffer
    levels: bytearray = field(default_factory=bytearray)
    formats: dict[str, int] = field(default_factory=lambda: {JSON: 0, LOGFMT: 0, PLAIN: 0})

    @property
    def done(self) -> bool:
        return len(self.levels) >= len(self.buffer)

    def step(self, budget: float = 0.008) -> bool:
        """Level lines for about `budget` seconds; True when every line so far has its level."""
        deadline = time.perf_counter() + budget
        buffer = self.buffer
        split = buffer.split_timestamp
        levels = self.levels
        while len(levels) < len(buffer):
            _, lines = next(buffer.chunks(len(levels)))
            lines = lines[:512]
            json_count = logfmt = plain = 0
            for raw in lines:
                text = split(raw)[1] if buffer.timestamped else raw
                level = level_of(text)
                levels.append(level)
                head = text.lstrip()[:1]
                if head == "{" and level != NONE:
                    json_count += 1
                elif level != NONE:
                    logfmt += 1
                else:
                    plain += 1
            self.formats[JSON] += json_count
            self.formats[LOGFMT] += logfmt
            self.formats[PLAIN] += plain
            if time.perf_counter() > deadline:
                return self.done
        return True

    @property
    def format(self) -> str:
        """What the container mostly writes: JSON, LOGFMT or PLAIN (levelled lines counted)."""
        return max(self.formats, key=lambda k: self.formats[k]) if any(self.formats.values()) else PLAIN

    def matching(self, wanted: set[int]) -> array:  # type: ignore[type-arg]
        """Indexes of the lines levelled so far whose level is in `wanted` (NONE for plain lines)."""
        table = bytes(1 if i in wanted else 0 for i in range(256))
        marks = self.levels.translate(table)
        out = array("L")
        position = marks.find(1)
        while position >= 0:
            out.append(position)
            position = marks.find(1, position + 1)
        return out

    def counts(self) -> dict[int, int]:
        """Lines per level (NONE included), for the chips' numbers."""
        return {level: self.levels.count(level) for level in (DEBUG, INFO, WARN, ERROR, NONE)}
