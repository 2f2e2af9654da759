"""Docker's time formats: RFC 3339 with nanoseconds, and human durations for `ps`."""

from __future__ import annotations

import time
from datetime import UTC, datetime

ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339_nano(ns: int) -> str:
    if ns <= 0:
        return ZERO_TIME
    secs, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(secs, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"


def parse_timestamp(value: str) -> int:
    """Parse a Docker `since`/`until` value (unix seconds, fractional, or RFC 3339) to ns."""
    value = value.strip()
    try:
        return int(float(value) * 1_000_000_000)
    except ValueError:
        pass
    v = value.rstrip("Z")
    frac_ns = 0
    if "." in v:
        v, frac = v.split(".", 1)
        digits = "".join(ch for ch in frac if ch.isdigit())[:9]
        frac_ns = int(digits.ljust(9, "0")) if digits else 0
    dt = datetime.fromisoformat(v).replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1_000_000_000 + frac_ns


def human_duration(seconds: float) -> str:
    """What Docker's go-units HumanDuration prints."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


def now_ns() -> int:
    return time.time_ns()
