"""berthd gives the memory it freed back to the system every few minutes.

A long-running Python process on glibc keeps freed heap pages resident while anything live sits above
them: a large block Python frees and makes again elsewhere (a dict's table grown or rebuilt, a big
JSON body) leaves a hole that later small allocations pin, and the resident size climbs in steps that
no Python object accounts for. The soak showed such steps (issue 25). `malloc_trim(0)` returns the free
pages of every hole; it walks the heap once, which takes a millisecond or two, so it runs rarely.
"""

from __future__ import annotations

import asyncio
import logging

from engine.libc import malloc_trim

log = logging.getLogger("berthd.memory")

TRIM_EVERY = 300.0  # seconds


async def trim_periodically(every: float = TRIM_EVERY) -> None:
    """Until cancelled: trim the heap every `every` seconds (nothing on a C library without it)."""
    while True:
        await asyncio.sleep(every)
        if not malloc_trim():
            log.debug("the C library has no malloc_trim: freed memory stays with berthd")
            return
