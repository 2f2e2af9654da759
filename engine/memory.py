"""berthd gives the memory it freed back to the system every few minutes.

A long-running Python process on glibc keeps freed heap pages resident while anything live sits above
them: a large block Python frees and makes again elsewhere (a dict's table grown or rebuilt, a big
JSON body) leaves a hole that later small allocations pin, and the resident size climbs in steps that
no Python object accounts for. The soak showed such steps (issue 25). `malloc_trim(0)` returns the free
pages of every hole; it walks the heap once, which takes a millisecond or two, so it runs rarely.

The cyclic collector is tuned at the same time: with its defaults, a list of 10,000 containers (half a
million short-lived objects) set off full collections that walked every live object again and again,
so the list grew faster than the number of containers (538 ms for 10,000 against 32 ms for 1,000).
"""

from __future__ import annotations

import asyncio
import gc
import logging

from engine.libc import malloc_trim

log = logging.getLogger("berthd.memory")

TRIM_EVERY = 300.0  # seconds
# A young generation of 50,000 objects (700 by default), and the older ones collected less often.
COLLECTOR_THRESHOLDS = (50_000, 20, 50)


def tune_collector() -> None:
    """Once the daemon is up: what start-up made (modules, the backend) lives as long as berthd, so
    it is moved out of the collector's sight, and collections come after more allocations."""
    gc.freeze()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


async def manage_memory(every: float = TRIM_EVERY) -> None:
    """Until cancelled: the collector tuned, then the heap trimmed every `every` seconds (nothing on
    a C library without malloc_trim)."""
    tune_collector()
    while True:
        await asyncio.sleep(every)
        if not malloc_trim():
            log.debug("the C library has no malloc_trim: freed memory stays with berthd")
            return
