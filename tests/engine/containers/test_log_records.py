"""Reading conmon's k8s-file log back: a carriage return is data, never the end of a record."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.containers.logs import LogQuery, read_log

pytestmark = pytest.mark.unit

TS = b"2026-12-06T09:39:14.400032366+00:00"


def read(path: Path) -> list[bytes]:
    async def collect() -> list[bytes]:
        query = LogQuery(stdout=True, stderr=True, since_ns=0, until_ns=0, tail=None, follow=False)
        return [line.data async for batch in read_log(path, query, lambda: False) for line in batch]

    return asyncio.run(collect())


def test_a_terminals_lines_keep_their_carriage_returns_and_a_progress_bar_is_whole(tmp_path: Path) -> None:
    log = tmp_path / "container.log"
    log.write_bytes(TS + b" stdout F hi\r\n"  # a TTY's output: "hi\r\n"
                    + TS + b" stdout P 10%\r50%\r\n"  # a progress bar redrawn in place, in two records
                    + TS + b" stdout F 100%\n"
                    + TS + b" stderr F done\n")
    assert read(log) == [b"hi\r\n", b"10%\r50%\r100%\n", b"done\n"]
