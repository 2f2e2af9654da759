"""`StatsService`: the one stats reader of an engine.

It keeps one `/containers/{id}/stats` stream per running container (the API has no all-containers
stream), folds the readings into `StatsSample`s with a few minutes in memory, and publishes them
in one batch a second from one timer: views never poll, and no row owns a timer.

With a `MetricsStore` (by default `metrics.sqlite` in the app's data directory) the same timer
writes the second's readings to disk, and the container events the connection follows (start, die,
OOM, restart, health) are kept beside them, so history outlives the app and the containers. The
detectors (`app/models/detectors.py`) see every reading and event; what they find is emitted as
`detected` and marked on the graphs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import deque
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.models.detectors import Detection, Detectors
from app.models.metrics_events import DIE, OOM, ContainerEvent, event_from_api
from app.models.metrics_history import MetricPoint, Series, downsample, projects_of
from app.services.engine import EngineConnection
from app.services.metrics_store import MetricsStore, StoredContainer, default_path
from app.services.tasks import TaskSet
from engine.client import EngineClientError, EngineUnreachable, StatsSample

HISTORY = 300  # samples kept in memory per container: 5 minutes at one a second
SPARK = 30  # CPU values handed to the list's sparklines
MAINTAIN_EVERY = 60.0  # seconds between rollups and pruning of the store
OOM_EXIT = "137"  # a die with SIGKILL's code may be the kernel's OOM killer: inspect says
NEAR_LIMIT = 0.8  # memory at this fraction of its limit at the last reading
ASKED_WINDOW = 30.0  # seconds a kill or stop someone asked for explains an exit 137

log = logging.getLogger(__name__)


def point_of(t: float, sample: StatsSample) -> MetricPoint:
    return MetricPoint(t, sample.cpu_percent, sample.memory, sample.memory_limit, sample.net_rx, sample.net_tx,
                       sample.block_read, sample.block_write, sample.pids)


def sample_of(point: MetricPoint) -> StatsSample:
    return StatsSample(point.cpu, point.memory, point.memory_limit, point.net_rx, point.net_tx, point.block_read,
                       point.block_write, point.pids)


def open_default_store() -> MetricsStore | None:
    """The app's store; None (history in memory only) when it cannot be opened, said in the log."""
    try:
        return MetricsStore(default_path())
    except (OSError, sqlite3.Error) as exc:
        log.warning("metrics history is off: %s", exc)
        return None


class StatsService(QObject):
    sampled = Signal(dict, dict)  # {id: StatsSample}, {id: [cpu %, ...]} of the containers that changed
    detected = Signal(object)  # a Detection: a container in trouble
    eventRecorded = Signal(object)  # a ContainerEvent kept for the graphs (events and detections)

    def __init__(self, connection: EngineConnection, parent: QObject | None = None,
                 store: MetricsStore | bool | None = True) -> None:
        super().__init__(parent)
        self._connection = connection
        # store=True: the app's own file; a MetricsStore: that one; None/False: memory only.
        self.store: MetricsStore | None = open_default_store() if store is True else (store or None)
        self.detectors = Detectors()
        self._tasks = TaskSet()
        self._streams: dict[str, asyncio.Task[Any]] = {}
        self._history: dict[str, deque[tuple[float, StatsSample]]] = {}
        self._names: dict[str, str] = {}
        self._asked: dict[str, float] = {}
        self._dirty: set[str] = set()
        self._pending: list[tuple[str, MetricPoint]] = []
        self._maintained = 0.0
        self.enabled = True
        self._closed = False
        self._publish = QTimer(self)
        self._publish.setInterval(1000)
        self._publish.timeout.connect(self._flush)
        connection.containerEvent.connect(self._on_event)

    @property
    def engine(self) -> str:
        """The key of this engine's history in the store."""
        return self._connection.url

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
        elif not self._streams and not self._pending:
            self._publish.stop()

    def forget(self, id: str) -> None:
        self._history.pop(id, None)

    def history(self, id: str) -> list[tuple[float, StatsSample]]:
        """The last minutes of readings; from the store when none arrived since the app started."""
        samples = self._history.get(id)
        if samples:
            return list(samples)
        now = time.time()
        return [(p.t, sample_of(p)) for p in self.series(id, now - HISTORY, now)]

    def latest(self, id: str) -> StatsSample | None:
        samples = self._history.get(id)
        return samples[-1][1] if samples else None

    def stop_all(self) -> None:
        self.track(set())

    # -- history ---------------------------------------------------------------------------------

    def series(self, id: str, start: float, end: float, max_points: int = 0) -> list[MetricPoint]:
        """The container's points in [start, end] from the store (written once a second)."""
        if self.store is None:
            points = [point_of(t, s) for t, s in self._history.get(id, ()) if start <= t <= end]
        else:
            points = self.store.series(self.engine, id, start, end)
        return downsample(points, max_points) if max_points else points

    def events(self, id: str, start: float, end: float) -> list[ContainerEvent]:
        return self.store.events(self.engine, id, start, end) if self.store is not None else []

    def known(self) -> list[StoredContainer]:
        """Containers of this engine with history, the most recently seen first."""
        return self.store.containers(self.engine) if self.store is not None else [
            StoredContainer(id, self._names.get(id, id[:12]), "", int(s[-1][0]))
            for id, s in self._history.items() if s]

    def histories(self, ids: list[str], start: float, end: float) -> list[Series]:
        """Each container's points over the range, named, for export and project totals."""
        stored = {c.id: c for c in self.known()}
        out = []
        for id in ids:
            info = stored.get(id)
            out.append(Series(id, info.name if info else self._names.get(id, id[:12]),
                              info.project if info else "", self.series(id, start, end)))
        return out

    # -- reading ---------------------------------------------------------------------------------

    async def _read(self, id: str) -> None:
        client = self._connection.client
        try:
            await self._note(id)
            async for raw in client.stats(id):
                if not raw.get("read") and not raw.get("cpu_stats"):
                    continue
                sample = StatsSample.from_api(raw)
                now = time.time()
                self._history.setdefault(id, deque(maxlen=HISTORY)).append((now, sample))
                self._pending.append((id, point_of(now, sample)))
                self._dirty.add(id)
        except (EngineUnreachable, EngineClientError):
            pass  # the container stopped or the engine went away: events will say which
        finally:
            if self._streams.get(id) is asyncio.current_task():
                del self._streams[id]

    async def _note(self, id: str) -> None:
        """Its name and compose project, kept with its history (an exited container is still named)."""
        item = await self._connection.client.container(id)
        if item is None:
            return
        names = item.get("Names") or []
        name = str(names[0]).lstrip("/") if names else id[:12]
        self._names[id] = name
        if self.store is not None:
            self.store.note_container(self.engine, id, name, projects_of(item.get("Labels")))

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        self._keep(pending)
        for id, point in pending:
            self._found(self.detectors.on_sample(id, point.t, point.memory, self._names.get(id, "")))
        if not self._dirty:
            if not self._streams:
                self._publish.stop()
            return
        ids, self._dirty = self._dirty, set()
        samples = {id: self._history[id][-1][1] for id in ids if self._history.get(id)}
        sparks = {id: [s.cpu_percent for _, s in list(self._history[id])[-SPARK:]] for id in samples}
        self.sampled.emit(samples, sparks)

    def _keep(self, pending: list[tuple[str, MetricPoint]]) -> None:
        if self.store is None:
            return
        try:
            self.store.add(self.engine, pending)
            now = time.time()
            if now - self._maintained >= MAINTAIN_EVERY:
                self._maintained = now
                self.store.maintain(now)
        except sqlite3.Error as exc:  # a full disk or a locked file: the live graphs go on
            log.warning("metrics history not written: %s", exc)

    # -- events and detections -------------------------------------------------------------------

    def _on_event(self, raw: dict[str, Any]) -> None:
        if self._closed:
            return
        if raw.get("Action") in ("kill", "stop"):  # an exit 137 someone asked for is no OOM kill
            self._asked[str((raw.get("Actor") or {}).get("ID", ""))] = time.time()
        event = event_from_api(raw)
        if event is None:
            return
        if event.name:
            self._names[event.container] = event.name
        self._record(event)
        latest = self.latest(event.container)
        self._found(self.detectors.on_event(event, latest.memory_limit if latest else 0))
        if event.kind == DIE and event.detail == OOM_EXIT:
            # Not every engine sends `oom`; the container's state says whether the kernel killed it.
            self._tasks.spawn(self._check_oom(event), name="stats-oom")

    async def _check_oom(self, event: ContainerEvent) -> None:
        latest = self.latest(event.container)
        asked = time.time() - self._asked.pop(event.container, 0.0) < ASKED_WINDOW
        # An engine that does not record OOMKilled (berthd today): a SIGKILL nobody asked for while
        # the last reading was near the limit is the OOM killer's.
        near_limit = latest is not None and latest.memory >= NEAR_LIMIT * latest.memory_limit > 0
        with contextlib.suppress(EngineUnreachable, EngineClientError):
            state = (await self._connection.client.inspect_container(event.container)).get("State") or {}
            if not self._closed and (state.get("OOMKilled") or (near_limit and not asked)):
                self._on_oom(ContainerEvent(event.t, event.container, OOM, "", event.name))

    def _on_oom(self, event: ContainerEvent) -> None:
        self._record(event)
        latest = self.latest(event.container)
        self._found(self.detectors.on_event(event, latest.memory_limit if latest else 0))

    def _record(self, event: ContainerEvent) -> None:
        if self.store is not None:
            try:
                self.store.add_event(self.engine, event)
            except sqlite3.Error as exc:
                log.warning("event not kept: %s", exc)
        self.eventRecorded.emit(event)

    def _found(self, detections: list[Detection]) -> None:
        for detection in detections:
            self._record(detection.event())
            self.detected.emit(detection)

    async def close(self) -> None:
        self._closed = True
        with contextlib.suppress(RuntimeError):  # the timer may already be deleted with the window
            self._publish.stop()
        self._streams.clear()
        await self._tasks.close()
        if self._pending:
            pending, self._pending = self._pending, []
            self._keep(pending)
        if self.store is not None:
            self.store.close()
            self.store = None
