"""Background coroutines owned by a QObject: started from slots, never awaited by the UI thread."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskSet:
    """Keeps strong references to running tasks (asyncio only keeps weak ones), and ends them when
    its owner closes: streams at once, short calls given a moment to finish first."""

    # A request cancelled while aiohttp is still connecting leaves its socket open (nothing owns it
    # yet), so closing lets calls end on their own for this long before cancelling them.
    GRACE = 1.0

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._streams: set[asyncio.Task[Any]] = set()
        self.closed = False

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None, *, stream: bool = False
              ) -> asyncio.Task[Any]:
        """Run `coro`; `stream` marks work that never ends by itself (events, logs, stats)."""
        task = asyncio.ensure_future(coro)
        if name:
            task.set_name(name)
        if self.closed:
            # Its owner is closing: a late signal (a timer, an event) starts nothing new.
            task.cancel()
        self._tasks.add(task)
        if stream:
            self._streams.add(task)
        task.add_done_callback(self._finished)
        return task

    def running(self) -> list[asyncio.Task[Any]]:
        return [task for task in self._tasks if not task.done()]

    async def close(self) -> None:
        """End everything and refuse new work: cancel streams, let calls finish (up to GRACE), cancel the rest."""
        self.closed = True
        for task in list(self._streams):
            task.cancel()
        calls = [task for task in self.running() if task not in self._streams]
        if calls:
            await asyncio.wait(calls, timeout=self.GRACE)
        await self.cancel_all()

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._streams.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Services catch the engine's errors themselves; anything here is a bug worth a trace.
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._tasks)
