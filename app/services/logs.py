"""`LogFollower`: streams one or several containers' logs into a `LogBuffer`, without stalling the UI."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.models.logs import STDERR, STDOUT, LogBuffer
from app.services.tasks import TaskSet
from engine.client import EngineClient, EngineClientError, EngineUnreachable

# How long a burst of output may hold the loop before the follower lets Qt paint.
_SLICE = 0.008


class LogFollower(QObject):
    appended = Signal()  # lines were added to the buffer (coalesce before repainting)
    ended = Signal(str)  # the stream ended; a reason when it failed, else ""

    def __init__(self, buffer: LogBuffer, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.buffer = buffer
        self._tasks = TaskSet()
        self._generation = 0

    def follow(self, client: EngineClient, ids: list[str], names: list[str] | None = None, tail: int = 5000) -> None:
        """Start over: the last `tail` lines of each container, then new lines as they come."""
        self.stop()
        self._generation += 1
        self.buffer.clear()
        self.buffer.timestamped = True
        self.buffer.sources = list(names or ids)
        for source, id in enumerate(ids):
            self._tasks.spawn(self._follow(client, id, source, tail, self._generation), name="logs-follow", stream=True)

    def stop(self) -> None:
        for task in self._tasks.running():
            task.cancel()

    async def _follow(self, client: EngineClient, id: str, source: int, tail: int, generation: int) -> None:
        reason = ""
        try:
            slice_started = time.perf_counter()
            async for chunk in client.stream_logs(id, follow=True, tail=tail, timestamps=True):
                if generation != self._generation:
                    return
                stream = STDERR if chunk.stream == "stderr" else STDOUT
                if self.buffer.append(chunk.text, stream, source):
                    self.appended.emit()
                if time.perf_counter() - slice_started > _SLICE:
                    # A fast stream never suspends the coroutine on its own: give Qt its turn.
                    await asyncio.sleep(0)
                    slice_started = time.perf_counter()
        except EngineUnreachable as exc:
            reason = exc.reason
        except EngineClientError as exc:
            reason = exc.message
        if generation == self._generation:
            if self.buffer.flush_partial():
                self.appended.emit()
            self.ended.emit(reason)

    async def close(self) -> None:
        await self._tasks.close()


def feed_for_test(follower: Any, text: str, stream: int = STDOUT) -> None:
    """Append as if from the engine (used by tests and the benchmark)."""
    if follower.buffer.append(text, stream):
        follower.appended.emit()
