"""engine/formats.py against what docker itself prints and parses: the expected values are go-units'
and Go's own (their test tables: docker/go-units size_test.go and duration_test.go, Go's
time.ParseDuration), and dockerd's GetTimestamp (api/types/time)."""

from __future__ import annotations

import os
import time

import pytest

from engine.formats import (
    ZERO_TIME,
    FormatError,
    bytes_size,
    from_human_size,
    go_duration_ns,
    human_duration,
    human_size,
    ram_in_bytes,
    rfc3339_nano,
    rfc3339_ns,
    rfc3339_seconds,
    timestamp_ns,
)

pytestmark = pytest.mark.unit

S = 1_000_000_000
MINUTE, HOUR, DAY = 60, 3600, 86400


@pytest.mark.parametrize(("seconds", "docker"), [
    # go-units duration_test.go's table (TestHumanDuration), one row per boundary.
    (0.5, "Less than a second"), (1, "1 second"), (2, "2 seconds"), (59, "59 seconds"),
    (MINUTE, "About a minute"), (MINUTE + 59, "About a minute"), (2 * MINUTE, "2 minutes"),
    (59 * MINUTE, "59 minutes"), (HOUR, "About an hour"), (HOUR + 29 * MINUTE, "About an hour"),
    # 90 minutes: `docker ps` says "2 hours" (Go rounds half up), not "About an hour".
    (HOUR + 30 * MINUTE, "2 hours"), (2 * HOUR + 30 * MINUTE, "3 hours"), (47 * HOUR, "47 hours"),
    (48 * HOUR, "2 days"), (13 * DAY, "13 days"), (14 * DAY, "2 weeks"), (59 * DAY, "8 weeks"),
    (60 * DAY, "2 months"), (365 * DAY, "12 months"), (2 * 365 * DAY, "2 years"), (3 * 365 * DAY, "3 years"),
])
def test_human_duration_is_go_units(seconds: float, docker: str) -> None:
    assert human_duration(seconds) == docker


@pytest.mark.parametrize(("size", "docker"), [
    # go-units size_test.go (TestHumanSize, TestBytesSize).
    (1000, "1kB"), (1024, "1.024kB"), (1000000, "1MB"), (1048576, "1.049MB"), (2 * 1000 ** 2, "2MB"),
    (3.42 * 1000 ** 3, "3.42GB"), (5.372 * 1000 ** 4, "5.372TB"), (2.22 * 1000 ** 5, "2.22PB"),
    (0, "0B"), (999, "999B"),
])
def test_human_size_is_go_units(size: float, docker: str) -> None:
    assert human_size(size) == docker


def test_human_size_with_precision_as_docker_images_prints_sizes() -> None:
    """docker images and ps --size call HumanSizeWithPrecision(size, 3); df the four-digit HumanSize."""
    assert human_size(1048576, 3) == "1.05MB" and human_size(1048576) == "1.049MB"
    assert human_size(4_261_234, 3) == "4.26MB" and human_size(999, 3) == "999B"


@pytest.mark.parametrize(("size", "docker"), [
    (1024, "1KiB"), (1024 * 1024, "1MiB"), (1048576 * 2, "2MiB"), (3.42 * 1024 ** 3, "3.42GiB"),
    (5.372 * 1024 ** 4, "5.372TiB"), (2.22 * 1024 ** 5, "2.22PiB"), (1023, "1023B"),
])
def test_bytes_size_is_go_units(size: float, docker: str) -> None:
    assert bytes_size(size) == docker


@pytest.mark.parametrize(("text", "expected"), [
    # go-units TestRAMInBytes.
    ("32", 32), ("32b", 32), ("32B", 32), ("32k", 32 * 1024), ("32K", 32 * 1024), ("32kb", 32 * 1024),
    ("32Kb", 32 * 1024), ("32Mb", 32 * 1024 ** 2), ("32Gb", 32 * 1024 ** 3), ("32Tb", 32 * 1024 ** 4),
    ("32Pb", 32 * 1024 ** 5), ("32PB", 32 * 1024 ** 5), ("32P", 32 * 1024 ** 5), ("32.3", 32),
    ("32 MiB", 32 * 1024 ** 2), ("0.3MB", int(0.3 * 1024 ** 2)),
])
def test_ram_in_bytes(text: str, expected: int) -> None:
    assert ram_in_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "hello", "-32", " 32 ", "32m b", "32bm", "1.2.3m"])
def test_ram_in_bytes_refuses_as_go_units(text: str) -> None:
    with pytest.raises(FormatError, match=f"^invalid size: '{text}'$"):
        ram_in_bytes(text)


def test_from_human_size_is_decimal() -> None:
    assert (from_human_size("32k"), from_human_size("32KB"), from_human_size("1.5G")) == (32000, 32000, 1500000000)


@pytest.mark.parametrize(("text", "ns"), [
    # Go's time/time_test.go parseDurationTests.
    ("0", 0), ("5s", 5 * S), ("30s", 30 * S), ("1478s", 1478 * S), ("-5s", -5 * S), ("+5s", 5 * S),
    ("-0", 0), ("5.0s", 5 * S), ("5.6s", 5 * S + 600_000_000), ("5.s", 5 * S), (".5s", S // 2),
    ("1.004s", S + 4_000_000), ("100.00100s", 100 * S + 1_000_000), ("10ns", 10), ("11us", 11_000),
    ("12µs", 12_000), ("12μs", 12_000), ("13ms", 13_000_000), ("14s", 14 * S), ("15m", 15 * 60 * S),
    ("16h", 16 * 3600 * S), ("3h30m", (3 * 3600 + 30 * 60) * S), ("10.5s4m", 4 * 60 * S + 10 * S + S // 2),
    ("-2m3.4s", -(2 * 60 * S + 3 * S + 400_000_000)), ("1h2m3s4ms5us6ns", 3723004005006),
    ("0.100000000000000000000h", 360 * S), ("0.830103483285477580700h", (49 * 60 + 48) * S + 372539827),
    ("9223372036854775807ns", (1 << 63) - 1), ("0.3s", 300_000_000),
])
def test_go_duration(text: str, ns: int) -> None:
    assert go_duration_ns(text) == ns


@pytest.mark.parametrize(("text", "message"), [
    ("", 'time: invalid duration ""'), ("3", 'time: missing unit in duration "3"'),
    ("-", 'time: invalid duration "-"'), ("s", 'time: invalid duration "s"'), (".", 'time: invalid duration "."'),
    ("-.", 'time: invalid duration "-."'), (".s", 'time: invalid duration ".s"'),
    ("3000000h", None), ("1d", 'time: unknown unit "d" in duration "1d"'),
])
def test_go_duration_refusals_in_gos_words(text: str, message: str | None) -> None:
    if message is None:  # Go overflows int64 here; Python has no such limit, and nobody asks for 342 years
        assert go_duration_ns(text) == 3000000 * 3600 * S
        return
    with pytest.raises(FormatError) as e:
        go_duration_ns(text)
    assert str(e.value) == message


NOW = 1_800_000_000 * S


@pytest.mark.parametrize(("value", "ns"), [
    # docker's api/types/time TestGetTimestamp (in UTC): durations before now, unix seconds, RFC 3339.
    ("0", 0), ("1136073600", 1136073600 * S), ("1136073600.000000001", 1136073600 * S + 1),
    ("1136073600.0000000010", 1136073600 * S + 1), ("1136073600.00000001", 1136073600 * S + 10),
    ("2006-01-02T15:04:05.123456789Z", 1136214245 * S + 123456789), ("2006-01-02T15:04:05Z", 1136214245 * S),
    ("2006-01-02T15:04:05+07:00", (1136214245 - 7 * 3600) * S), ("2006-01-02T15:04:05-07:00",
                                                                  (1136214245 + 7 * 3600) * S),
    ("1m", NOW - 60 * S), ("1.5h", NOW - 5400 * S), ("1h30m", NOW - 5400 * S), ("-1m", NOW + 60 * S),
])
def test_timestamp_as_docker_reads_it(value: str, ns: int) -> None:
    assert timestamp_ns(value, now=NOW) == ns


def test_timestamp_without_a_zone_is_local_time() -> None:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        assert timestamp_ns("2006-01-02", now=NOW) == 1136160000 * S
        assert timestamp_ns("2006-01-02T15", now=NOW) == (1136160000 + 15 * 3600) * S
        assert timestamp_ns("2006-01-02T15:04", now=NOW) == (1136160000 + 15 * 3600 + 4 * 60) * S
        assert timestamp_ns("2006-01-02T15:04:05", now=NOW) == 1136214245 * S
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


@pytest.mark.parametrize(("value", "message"), [
    ("invalid", 'failed to parse value as time or duration: "invalid"'), ("2006-13-01", "cannot parse"),
])
def test_timestamp_refusals(value: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        timestamp_ns(value, now=NOW)


def test_rfc3339_both_ways() -> None:
    assert rfc3339_nano(0) == ZERO_TIME
    assert rfc3339_nano(1136214245 * S + 5) == "2006-01-02T15:04:05.000000005Z"
    assert rfc3339_ns("2006-01-02T15:04:05.000000005Z") == 1136214245 * S + 5
    # conmon's log stamps carry +00:00; another offset moves the instant.
    assert rfc3339_ns("2026-11-28T02:40:42.571542124+00:00") == rfc3339_ns("2026-11-28T02:40:42.571542124Z")
    assert rfc3339_ns("2006-01-02T16:04:05+01:00") == 1136214245 * S


def test_rfc3339_seconds_is_the_nano_form_cut_at_the_second() -> None:
    ns = 1_764_979_200_123_456_789
    assert rfc3339_seconds(ns) == rfc3339_nano(ns).split(".")[0] + "Z" == "2025-12-06T00:00:00Z"
    assert rfc3339_seconds(0) == ZERO_TIME
