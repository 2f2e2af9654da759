"""Docker's text formats in one place: Go durations, the `since`/`until` timestamps of logs, events
and prune filters, sizes (go-units' RAMInBytes and FromHumanSize), and what `docker ps` and
`docker images` print for an age or a size (go-units' HumanDuration, HumanSize, BytesSize).

Pure (no I/O; the clock comes in as an argument where it matters) and importable by the client
side too, so the desktop and berthd say the same thing docker says."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone

ZERO_TIME = "0001-01-01T00:00:00Z"
NS = 1_000_000_000


class FormatError(ValueError):
    """A value that is not in the format asked for; the message is Go's or docker's."""


# ---- Go durations (time.ParseDuration) ----------------------------------------------------------

_GO_UNITS_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": NS, "m": 60 * NS,
                "h": 3600 * NS}
_GO_PART = re.compile(r"(\d+\.?\d*|\.\d+)([^\d.]*)")


def go_duration_ns(text: str) -> int:
    """`1h30m`, `1.5h`, `300ms`, `-2m`, `0` as Go's time.ParseDuration reads them, in nanoseconds;
    FormatError with Go's own message otherwise."""
    quoted = '"' + text + '"'
    body = text
    sign = 1
    if body[:1] in ("+", "-"):
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if body == "0":
        return 0
    if not body:
        raise FormatError(f"time: invalid duration {quoted}")
    total = 0
    pos = 0
    while pos < len(body):
        m = _GO_PART.match(body, pos)
        if m is None or m.group(1) == ".":
            raise FormatError(f"time: invalid duration {quoted}")
        number, unit = m.group(1), m.group(2)
        if not unit:
            raise FormatError(f"time: missing unit in duration {quoted}")
        if unit not in _GO_UNITS_NS:
            raise FormatError(f'time: unknown unit "{unit}" in duration {quoted}')
        total += _go_part(number, _GO_UNITS_NS[unit])
        pos = m.end()
    return sign * total


def _go_part(number: str, unit: int) -> int:
    """One `<number><unit>` as Go computes it: the whole part exactly, the fraction through a
    float64 (time.ParseDuration's leadingFraction), so the results agree to the nanosecond."""
    whole, _, digits = number.partition(".")
    fraction, scale, overflow = 0, 1.0, False
    for ch in digits:
        if overflow:
            continue
        if fraction > ((1 << 63) - 1) // 10:
            overflow = True
            continue
        fraction = fraction * 10 + int(ch)
        scale *= 10
    return int(whole or "0") * unit + int(float(fraction) * (float(unit) / scale))


# ---- timestamps: RFC 3339 out, docker's GetTimestamp in -----------------------------------------

def rfc3339_nano(ns: int) -> str:
    """Go's RFC3339Nano as dockerd writes times (always nine digits here, as berthd always has)."""
    if ns <= 0:
        return ZERO_TIME
    secs, frac = divmod(ns, NS)
    # time.strftime: a third of datetime's cost, which counts in lists of thousands of objects
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(secs))}.{frac:09d}Z"


def rfc3339_seconds(ns: int) -> str:
    """RFC 3339 to the second, as dockerd reports a volume's CreatedAt: rfc3339_nano's, cut."""
    return ZERO_TIME if ns <= 0 else rfc3339_nano(ns)[:19] + "Z"


def rfc3339_ns(value: str) -> int:
    """An RFC 3339 time with up to nine fractional digits (conmon's log stamps, dockerd's times) in
    ns; one without a zone is UTC. Fast: the log reader parses one per line."""
    frac_ns = 0
    zone = ""
    if value.endswith(("Z", "z")):
        value = value[:-1]
    elif len(value) > 6 and value[-6] in "+-" and value[-3] == ":":
        value, zone = value[:-6], value[-6:]
    if "." in value:
        value, frac = value.split(".", 1)
        if not frac.isdigit():
            raise FormatError(f"cannot parse {frac!r} as fractional seconds")
        frac_ns = int(frac[:9].ljust(9, "0"))
    try:
        dt = datetime.fromisoformat(value + zone)
    except ValueError as e:
        raise FormatError(str(e)) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * NS + frac_ns


def now_ns() -> int:
    return time.time_ns()


_NUMERIC = re.compile(r"^-?\d+(\.\d+)?$")
_ZONE = re.compile(r"(Z|z|[+-]\d{2}:\d{2})$")


def timestamp_ns(value: str, now: int | None = None) -> int:
    """A `since`/`until` value as docker's GetTimestamp reads it, in ns since the epoch: a Go
    duration before `now` (`10m`), unix seconds (`1700000000`, `1700000000.5`), or an RFC 3339
    time or a shorter form of it (`2026-12-05`, `2026-12-05T08:00`), in local time without a zone.
    FormatError says what was wrong."""
    value = value.strip()
    if value != "0":
        try:
            return (now_ns() if now is None else now) - go_duration_ns(value)
        except FormatError:
            pass
    if _NUMERIC.match(value):
        secs, _, frac = value.partition(".")
        whole = int(secs)
        nanos = int(frac[:9].ljust(9, "0")) if frac else 0
        return whole * NS + (-nanos if value.startswith("-") else nanos)
    try:
        return _rfc3339_like(value)
    except ValueError:
        if "-" in value:
            raise FormatError(f"cannot parse {value!r} as a time: use RFC 3339 (2006-01-02T15:04:05Z), "
                              "unix seconds or a duration such as 10m") from None
        raise FormatError(f'failed to parse value as time or duration: "{value}"') from None


def _rfc3339_like(value: str) -> int:
    zone = _ZONE.search(value)
    rest = value[:zone.start()] if zone else value
    frac_ns = 0
    if "." in rest:
        rest, frac = rest.split(".", 1)
        if not frac.isdigit():
            raise ValueError(value)
        frac_ns = int(frac[:9].ljust(9, "0"))
    formats = {0: "%Y-%m-%d", 1: "%Y-%m-%dT%H", 2: "%Y-%m-%dT%H:%M", 3: "%Y-%m-%dT%H:%M:%S"}
    colons = rest.count(":") + (1 if "T" in rest else 0)
    dt = datetime.strptime(rest, formats.get(colons, "?"))
    if zone is None:
        dt = dt.astimezone()  # naive: local time, as docker parses it (time.Local)
    elif zone.group(1) in ("Z", "z"):
        dt = dt.replace(tzinfo=UTC)
    else:
        sign = -1 if zone.group(1)[0] == "-" else 1
        hh, mm = zone.group(1)[1:].split(":")
        dt = dt.replace(tzinfo=timezone(sign * timedelta(hours=int(hh), minutes=int(mm))))
    return int(dt.timestamp()) * NS + frac_ns


# ---- sizes in (go-units) ------------------------------------------------------------------------

_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_SCALE = "kmgtp"


def ram_in_bytes(text: str) -> int:
    """go-units' RAMInBytes: `512m`, `1g`, `10MiB`, `100` (bytes); binary units (k = 1024), as
    docker reads memory limits and log max-size."""
    return _size(text, 1024)


def from_human_size(text: str) -> int:
    """go-units' FromHumanSize: decimal units (k = 1000), as docker reads a `--storage-opt size`."""
    return _size(text, 1000)


def _size(text: str, base: int) -> int:
    m = _SIZE.match(text)
    if m is None or m.group(1).count(".") > 1:
        raise FormatError(f"invalid size: '{text}'")
    number = float(m.group(1))
    unit = (m.group(2) or "").lower()
    return int(number * base ** (_SCALE.index(unit) + 1)) if unit else int(number)


# ---- what docker prints -------------------------------------------------------------------------

def human_duration(seconds: float) -> str:
    """go-units' HumanDuration: `docker ps`'s "Up 2 hours", "Exited (0) About a minute ago"."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)  # Go's int(d.Hours() + 0.5), not banker's rounding
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def human_size(size: float, precision: int = 4) -> str:
    """go-units' HumanSizeWithPrecision (decimal): HumanSize's four significant digits by default
    (`docker system df`'s "1.241MB"); `docker images` and `ps --size` ask for three ("1.24MB")."""
    return _custom_size(size, 1000.0, _DECIMAL, precision)


def bytes_size(size: float) -> str:
    """go-units' BytesSize (binary): "1.5GiB", as `docker stats` prints memory."""
    return _custom_size(size, 1024.0, _BINARY)


def _custom_size(size: float, base: float, units: tuple[str, ...], precision: int = 4) -> str:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return f"{size:.{precision}g}{units[i]}"
