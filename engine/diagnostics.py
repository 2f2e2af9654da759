"""What berthd is doing, on demand: SIGUSR1 writes its tasks, threads and memory to the log, as
dockerd dumps its goroutines on SIGUSR1. For a post-mortem of a slow or growing daemon without
stopping it.

Memory: the first SIGUSR1 starts Python's allocation tracing unless it runs already (berthd started
with `PYTHONTRACEMALLOC=n`); every report then lists the largest allocations by line and what grew
since the previous report, which is what a slow leak shows as (tracing from the start slows a busy
daemon's start-up several times over, so it is begun only when asked)."""

from __future__ import annotations

import asyncio
import logging
import threading
import tracemalloc
from collections import Counter

log = logging.getLogger("berthd.diagnostics")

_TOP = 25
_FRAMES = 10


class _Memory:
    def __init__(self) -> None:
        self.previous: tracemalloc.Snapshot | None = None

    def lines(self) -> list[str]:
        if not tracemalloc.is_tracing():
            tracemalloc.start(_FRAMES)
            return ["memory tracing started now: the next SIGUSR1 lists allocations and their growth"]
        current, peak = tracemalloc.get_traced_memory()
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)])
        lines = [f"traced memory {current / 1024:.0f} KiB (peak {peak / 1024:.0f} KiB); largest by line:"]
        lines += [f"  {stat.size / 1024:9.1f} KiB {stat.count:7} blocks  {stat.traceback}"
                  for stat in snapshot.statistics("lineno")[:_TOP]]
        if self.previous is not None:
            lines.append("grown since the previous report, by place of allocation:")
            grown = [d for d in snapshot.compare_to(self.previous, "traceback") if d.size_diff > 0][:_TOP]
            for diff in grown:
                lines.append(f"  {diff.size_diff / 1024:+9.1f} KiB {diff.count_diff:+7} blocks")
                lines += [f"      {frame}" for frame in diff.traceback.format()[-2 * _FRAMES:]]
        self.previous = snapshot
        return lines


_memory = _Memory()


def report() -> str:
    """The state as text: one line per kind of task and thread, then memory."""
    tasks = Counter(_task_kind(task) for task in asyncio.all_tasks())
    threads = Counter(thread.name.split("_")[0] for thread in threading.enumerate())
    lines = [f"{sum(tasks.values())} tasks:"]
    lines += [f"  {count:5} {kind}" for kind, count in tasks.most_common()]
    lines.append(f"{sum(threads.values())} threads:")
    lines += [f"  {count:5} {kind}" for kind, count in threads.most_common()]
    lines += _memory.lines()
    return "\n".join(lines)


def _task_kind(task: asyncio.Task[object]) -> str:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", None) or task.get_name()


def log_report() -> None:
    log.warning("state on SIGUSR1:\n%s", report())
