"""What berthd is doing, on demand: SIGUSR1 writes its tasks, threads and (when Python traces
memory, `PYTHONTRACEMALLOC=25`) its largest allocations to the log, as dockerd dumps its goroutines
on SIGUSR1. For a post-mortem of a slow or growing daemon without stopping it."""

from __future__ import annotations

import asyncio
import logging
import threading
import tracemalloc
from collections import Counter

log = logging.getLogger("berthd.diagnostics")

_TOP = 25


def report() -> str:
    """The state as text: one line per kind of task and thread, then the top allocations."""
    tasks = Counter(_task_kind(task) for task in asyncio.all_tasks())
    threads = Counter(thread.name.split("_")[0] for thread in threading.enumerate())
    lines = [f"{sum(tasks.values())} tasks:"]
    lines += [f"  {count:5} {kind}" for kind, count in tasks.most_common()]
    lines.append(f"{sum(threads.values())} threads:")
    lines += [f"  {count:5} {kind}" for kind, count in threads.most_common()]
    if tracemalloc.is_tracing():
        current, peak = tracemalloc.get_traced_memory()
        lines.append(f"traced memory {current / 1024:.0f} KiB (peak {peak / 1024:.0f} KiB); largest by line:")
        for stat in tracemalloc.take_snapshot().statistics("lineno")[:_TOP]:
            lines.append(f"  {stat.size / 1024:9.1f} KiB {stat.count:7} blocks  {stat.traceback}")
    else:
        lines.append("memory not traced (start berthd with PYTHONTRACEMALLOC=25 to see allocations)")
    return "\n".join(lines)


def _task_kind(task: asyncio.Task[object]) -> str:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", None) or task.get_name()


def log_report() -> None:
    log.warning("state on SIGUSR1:\n%s", report())
