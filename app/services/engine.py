"""`EngineConnection`: which engine the window talks to, whether it answers, and its event stream."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.services.tasks import TaskSet
from engine.client import EngineClient, EngineClientError, EngineUnreachable


@dataclass(frozen=True, slots=True)
class EngineStatus:
    url: str
    reachable: bool | None  # None: not checked yet
    description: str = ""
    reason: str = ""
    events: bool | None = None  # whether the engine streams /events (None: not known yet)


class EngineConnection(QObject):
    """Owns the `EngineClient`; checks the engine, follows `/events` and reconnects when it returns.

    Signals carry plain Python data, so views never see the client.
    """

    statusChanged = Signal(object)  # EngineStatus
    containerEvent = Signal(dict)  # one `/events` entry of Type "container"
    engineEvent = Signal(dict)  # an `/events` entry of another type (image, volume, network)
    # The window now talks to another engine (the client was replaced): lists must start over.
    switched = Signal(str)
    # Emitted after (re)connecting once the current state must be listed again.
    resyncNeeded = Signal()

    RETRY_INTERVAL_MS = 5000

    def __init__(self, url: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client = EngineClient(url)
        self.status = EngineStatus(self.client.url, None)
        self._tasks = TaskSet()
        self._events_task: asyncio.Task[Any] | None = None
        # While unreachable, try again now and then so a restarted berthd is picked up without a click.
        self._retry = QTimer(self)
        self._retry.setSingleShot(True)
        self._retry.setInterval(self.RETRY_INTERVAL_MS)
        self._retry.timeout.connect(self.check)

    @property
    def url(self) -> str:
        return self.client.url

    def check(self) -> None:
        """Ask the engine whether it answers; the outcome arrives as `statusChanged`."""
        self._retry.stop()
        self._tasks.spawn(self._check(), name="engine-check")

    async def _check(self) -> None:
        try:
            await self.client.ensure_reachable()
            description = await self.client.describe()
        except EngineUnreachable as exc:
            self._set_unreachable(exc.reason)
            return
        except EngineClientError as exc:
            self._set_unreachable(f"the engine answered with an error: {exc.message}")
            return
        self._set_status(EngineStatus(self.url, True, description, events=self.status.events))
        if self._events_task is None or self._events_task.done():
            # The stream's start lists the state (resyncNeeded) once it knows whether events flow.
            self._events_task = self._tasks.spawn(self._watch_events(), name="engine-events")
        else:
            self.resyncNeeded.emit()

    async def _watch_events(self) -> None:
        try:
            types = ["container", "image", "volume", "network"]
            async with self.client.open_events(filters={"type": types}) as events:
                self._set_status(replace(self.status, events=True))
                # Changes between the first listing and the subscription would otherwise be missed.
                self.resyncNeeded.emit()
                async for event in events:
                    if event.get("Type") == "container":
                        self.containerEvent.emit(event)
                    else:
                        self.engineEvent.emit(event)
        except EngineClientError:
            # An engine without /events (404/501) or failing it: services refresh after each action.
            self._set_status(replace(self.status, events=False))
            self.resyncNeeded.emit()
            return
        except EngineUnreachable as exc:
            self._set_unreachable(exc.reason)
            return
        # The engine ended the stream (restart, shutdown): check whether it is still there.
        self.check()

    def switch(self, url: str) -> None:
        """Talk to another engine from now on (a context switch)."""
        if url == self.url:
            return
        old, self.client = self.client, EngineClient(url)
        self._tasks.spawn(self._replace(old), name="engine-switch")

    async def _replace(self, old: EngineClient) -> None:
        if self._events_task is not None:
            self._events_task.cancel()
            self._events_task = None
        await old.close()
        self._set_status(EngineStatus(self.url, None))
        self.switched.emit(self.url)
        self.check()

    def _set_unreachable(self, reason: str) -> None:
        self._set_status(EngineStatus(self.url, False, reason=reason))
        self._retry.start()

    def _set_status(self, status: EngineStatus) -> None:
        self.status = status
        self.statusChanged.emit(status)

    async def close(self) -> None:
        self._retry.stop()
        await self._tasks.cancel_all()
        await self.client.close()
