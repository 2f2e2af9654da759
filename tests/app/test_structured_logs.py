"""Structured log lines: JSON and logfmt read into level and fields, plain lines untouched, and a
million lines levelled in slices that never stall (timed and printed)."""

from __future__ import annotations

import time

import pytest

from app.models.logs import LogBuffer
from app.models.structured_logs import (
    DEBUG,
    ERROR,
    INFO,
    JSON,
    LOGFMT,
    NONE,
    PLAIN,
    WARN,
    LevelIndex,
    common_fields,
    format_of,
    level_of,
    parse,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("line", "level", "message"), [
    ('{"level":"error","ts":1733390000.1,"msg":"connection refused","addr":"db:5432"}', ERROR, "connection refused"),
    ('{"time":"2026-12-05T08:00:00Z","level":"WARNING","message":"slow query"}', WARN, "slow query"),
    ('{"level":30,"time":1733390000000,"pid":7,"hostname":"web","msg":"listening"}', INFO, "listening"),  # pino
    ('{"severity":"DEBUG","message":"cache miss"}', DEBUG, "cache miss"),  # Google Cloud
    ('{"@t":"2026-12-05T08:00:00Z","@mt":"Started {App}","@l":"Fatal","App":"x"}', ERROR, "Started {App}"),
    ('{"log":{"level":"info"},"message":"ecs"}', INFO, "ecs"),  # ECS nests the level
    ('{"msg":"no level here"}', NONE, "no level here"),
])
def test_json_lines(line: str, level: int, message: str) -> None:
    parsed = parse(line)
    assert parsed is not None and parsed.format == JSON
    assert (parsed.level, parsed.message) == (level, message)
    assert level_of(line) == level


def test_json_fields_flatten_one_level() -> None:
    parsed = parse('{"level":"info","msg":"GET /","http":{"status":200,"path":"/"},"took_ms":3.5,"ok":true}')
    assert parsed is not None
    assert parsed.fields["http.status"] == "200" and parsed.fields["http.path"] == "/"
    assert parsed.fields["took_ms"] == "3.5" and parsed.fields["ok"] == "true"
    assert parsed.level_name == "info"


@pytest.mark.parametrize(("line", "level", "message"), [
    ('time="2026-12-05T08:00:00Z" level=error msg="dial tcp: refused" addr=db:5432', ERROR, "dial tcp: refused"),
    ("ts=2026-12-05T08:00:00Z lvl=warn msg=retrying attempt=3", WARN, "retrying"),
    ('level=info msg="say \\"hi\\"" path=/x', INFO, 'say "hi"'),
    ("t=1 caller=main.go:12 level=debug", DEBUG, ""),
])
def test_logfmt_lines(line: str, level: int, message: str) -> None:
    parsed = parse(line)
    assert parsed is not None and parsed.format == LOGFMT
    assert (parsed.level, parsed.message) == (level, message)
    assert level_of(line) == level


@pytest.mark.parametrize("line", [
    "Starting nginx 1.27 ...",
    "GET /index.html HTTP/1.1 200 level=error in the middle of prose",
    "x=1",  # one pair and no level or message: too little to be logfmt
    "{not json}",
    "[1, 2, 3]",
    "",
    "2026/12/05 08:00:00 [error] 7#7: *1 open() failed",
])
def test_plain_lines_are_untouched(line: str) -> None:
    assert parse(line) is None
    assert level_of(line) == NONE
    assert format_of(line) == PLAIN


def test_common_fields_are_column_candidates() -> None:
    lines = [parse(f'{{"level":"info","msg":"m","user":"u{i}","status":{200 + i % 2}}}') for i in range(5)]
    lines.append(parse('{"level":"info","msg":"m","rare":1}'))
    assert common_fields([line for line in lines if line is not None], limit=2) == ["user", "status"]


def sample_lines(count: int) -> list[str]:
    kinds = [
        '{{"level":"info","ts":1733390000.{i},"msg":"request done","path":"/api/{i}","status":200,"took_ms":{i}}}',
        'time="2026-12-05T08:00:00Z" level=warn msg="slow request" path=/api/{i} took={i}ms',
        "plain line number {i} from an old library that prints whatever it likes",
        '{{"level":"error","ts":1733390000.{i},"msg":"upstream failed","error":"timeout after {i}s"}}',
    ]
    return [kinds[i % 4].format(i=i) for i in range(count)]


def test_a_million_lines_levelled_without_a_stall() -> None:
    buffer = LogBuffer()
    buffer.append_lines(sample_lines(1_000_000))
    index = LevelIndex(buffer)
    longest = 0.0
    started = time.perf_counter()
    steps = 0
    while True:
        begin = time.perf_counter()
        finished = index.step(0.008)
        longest = max(longest, time.perf_counter() - begin)
        steps += 1
        if finished:
            break
    total = time.perf_counter() - started
    begin = time.perf_counter()
    errors = index.matching({ERROR})
    filtering = time.perf_counter() - begin
    print(f"\nstructured logs: 1,000,000 lines levelled in {total:.2f} s ({total:.2f} µs a line), "
          f"{steps} steps, longest step {1000 * longest:.1f} ms; "
          f"error filter {1000 * filtering:.0f} ms")
    assert index.done and len(index.levels) == 1_000_000
    assert index.counts() == {DEBUG: 0, INFO: 250_000, WARN: 250_000, ERROR: 250_000, NONE: 250_000}
    assert len(errors) == 250_000 and errors[0] == 3 and errors[-1] == 999_999
    assert index.format == JSON  # half its levelled lines are JSON
    assert longest < 0.050, f"a step took {longest * 1000:.0f} ms"
    assert filtering < 0.5


def test_lines_appended_later_are_levelled_and_timestamps_skipped() -> None:
    buffer = LogBuffer()
    buffer.timestamped = True
    buffer.append_lines(['2026-12-05T08:00:00.000000001Z {"level":"warn","msg":"a"}', "2026-12-05T08:00:01Z plain"])
    index = LevelIndex(buffer)
    assert index.step()
    buffer.append_lines(["2026-12-05T08:00:02Z level=error msg=b"])
    assert not index.done and index.step()
    assert list(index.levels) == [WARN, NONE, ERROR]
    assert list(index.matching({WARN, ERROR})) == [0, 2]
    assert index.format in (JSON, LOGFMT)
