"""`StatsService`: the one stats reader of an engine.

It keeps one `/containers/{id}/stats` stream per running container (the API has no all-containers
stream), folds the readings into `StatsSample`s with a few minutes of history, and publishes them
in one batch a second from one timer: views never poll, and no row owns a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.services.engine import EngineConnection
from app.services.tasks import TaskSet
from engine.client import EngineClientError, EngineUnreachable, StatsSample

HISTORY = 300  # samples kept per container: 5 minutes at one a second
SPARK = 30  # CPU values handed to the list's sparklines


class StatsService(QObject):
    sampled = Signal(dict, dict)  # {id: StatsSample}, {id: [cpu %, ...]} of the containers that changed

    def __init__(self, connection: EngineConnection, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._connection = connection
        self._tasks = TaskSet()
        self._streams: dict[str, asyncio.Task[Any]] = {}
        self._history: dict[str, deque[tuple[float, StatsSample]]] = {}
        self._dirty: set[str] = set()
        self.enabled = True
        self._closed = False
        self._publish = QTimer(self)
        self._publish.setInterval(1000)
        self._publish.timeout.connect(self._flush)

    def track(self, running: set[str]) -> None:
        """Read the containers in `running`; stop reading the others."""
        if not self.enabled or self._closed:
            running = set()
        for id in [id for id in self._streams if id not in running]:
            self._streams.pop(id).cancel()
        for id in running - set(self._streams):
            self._streams[id] = self._tasks.spawn(self._read(id), name="stats", stream=True)
        if self._streams and not self._publish.isActive():
            self._publish.start()
        elif not self._streams:
            self._publish.stop()

    def forget(self, id: str) -> None:
        self._history.pop(id, None)

    def history(self, id: str) -> list[tuple[float, StatsSample]]:
        return list(self._history.get(id, ()))

    def latest(self, id: str) -> StatsSample | None:
        samples = self._history.get(id)
        return samples[-1][1] if samples else None

    def stop_all(self) -> None:
        self.track(set())

    async def _read(self, id: str) -> None:
        client = self._connection.client
        try:
            async for raw in client.stats(id):
                if not raw.get("read") and not raw.get("cpu_stats"):
                    continue
                sample = StatsSample.from_api(raw)
                self._history.setdefault(id, deque(maxlen=HISTORY)).append((time.time(), sample))
                self._dirty.add(id)
        except (EngineUnreachable, EngineClientError):
            pass  # the container stopped or the engine went away: events will say which
        finally:
            if self._streams.get(id) is asyncio.current_task():
                del self._streams[id]

    def _flush(self) -> None:
        if not self._dirty:
            if not self._streams:
                self._publish.stop()
            return
        ids, self._dirty = self._dirty, set()
        samples = {id: self._history[id][-1][1] for id in ids if self._history.get(id)}
        sparks = {id: [s.cpu_percent for _, s in list(self._history[id])[-SPARK:]] for id in samples}
        self.sampled.emit(samples, sparks)

    async def close(self) -> None:
        self._closed = True
        with contextlib.suppress(RuntimeError):  # the timer may already be deleted with the window
            self._publish.stop()
        self._streams.clear()
        await self._tasks.close()
