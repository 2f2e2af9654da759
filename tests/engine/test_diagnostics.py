"""berthd's state on SIGUSR1: its tasks, threads and, when memory is traced, its largest allocations."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import tracemalloc
from typing import Any

import pytest

from engine import diagnostics


@pytest.mark.unit
def test_the_report_counts_tasks_and_threads_and_starts_tracing_memory() -> None:
    async def idle() -> None:
        await asyncio.sleep(10)

    async def main() -> str:
        sleepers = [asyncio.create_task(idle()) for _ in range(3)]
        await asyncio.sleep(0)
        try:
            return diagnostics.report()
        finally:
            for task in sleepers:
                task.cancel()
            await asyncio.gather(*sleepers, return_exceptions=True)

    text = asyncio.run(main())
    assert "4 tasks:" in text
    assert any(line.split() == ["3", idle.__qualname__] for line in text.splitlines()), text
    assert "threads:" in text and "MainThread" in text
    try:
        assert "memory tracing started now" in text and tracemalloc.is_tracing()
    finally:
        tracemalloc.stop()


@pytest.mark.unit
def test_traced_memory_names_the_line_that_holds_it() -> None:
    tracemalloc.start(5)
    try:
        held = [bytearray(1024) for _ in range(2000)]  # 2 MB held by this line
        text = asyncio.run(_report())
    finally:
        tracemalloc.stop()
    assert "largest by line:" in text
    first = text.split("largest by line:\n", 1)[1].splitlines()[0]
    assert "test_diagnostics.py" in first, text
    assert len(held) == 2000


@pytest.mark.unit
def test_a_second_report_names_what_grew_since_the_first() -> None:
    tracemalloc.start(5)
    try:
        asyncio.run(_report())
        grown = _grow()
        text = asyncio.run(_report())
    finally:
        tracemalloc.stop()
    growth = text.split("grown since the previous report", 1)[1]
    first = growth.split("KiB", 1)[0].splitlines()[-1]
    assert float(first.strip()) > 1500, growth  # the 2 MB _grow holds, the largest growth
    assert "_grow" in growth.split("KiB", 2)[1] or "bytearray(1024)" in growth.split("KiB", 2)[1], growth
    assert len(grown) == 2000


def _grow() -> list[bytearray]:
    return [bytearray(1024) for _ in range(2000)]


async def _report() -> str:
    return diagnostics.report()


@pytest.mark.integration
def test_a_running_berthd_writes_its_state_to_the_log_on_sigusr1(berthd: Any) -> None:
    assert berthd.proc is not None
    os.kill(berthd.proc.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while "state on SIGUSR1" not in berthd.log.read_text():
        assert time.monotonic() < deadline, "no report in berthd's log"
        time.sleep(0.05)
    assert berthd.proc.poll() is None, "berthd must keep running"
    report = berthd.log.read_text().split("state on SIGUSR1", 1)[1]
    assert " tasks:" in report and " threads:" in report
