"""`ContainerService`: lists containers and runs container actions, reporting through signals."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.services.engine import EngineConnection
from app.services.tasks import TaskSet
from engine.client import EngineClientError, EngineUnreachable


class ContainerService(QObject):
    """Keeps the view's picture of containers current: from `/events` when the engine streams them,
    else by refreshing after each action.
    """

    listed = Signal(list)  # the whole `/containers/json` list
    changed = Signal(dict)  # one container's new `/containers/json` entry
    removed = Signal(str)  # a container id that no longer exists
    actionStarted = Signal(str, str)  # id, action
    actionFailed = Signal(str, str, str)  # id, action, the engine's message
    actionFinished = Signal(str, str)  # id, action
    ran = Signal(str)  # id of a container `run` created and started

    def __init__(self, connection: EngineConnection, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._connection = connection
        self._tasks = TaskSet()
        self._pending: set[str] = set()
        self._refreshing: asyncio.Task[Any] | None = None
        connection.resyncNeeded.connect(self.refresh)
        connection.containerEvent.connect(self._on_event)

    # -- reading -------------------------------------------------------------------------------

    def refresh(self) -> None:
        self._tasks.spawn(self._list(), name="containers-list")

    async def _list(self) -> None:
        try:
            items = await self._connection.client.containers(all=True)
        except EngineUnreachable:
            self._connection.check()  # turns into the "engine unreachable" message
            return
        except EngineClientError as exc:
            self.actionFailed.emit("", "list", exc.message)
            return
        self.listed.emit(items)

    def refresh_container(self, id: str) -> None:
        """Re-read one container; several requests for ids in a burst share one pass."""
        self._pending.add(id)
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = self._tasks.spawn(self._drain(), name="containers-refresh")

    async def _drain(self) -> None:
        while self._pending:
            id = self._pending.pop()
            try:
                item = await self._connection.client.container(id)
            except (EngineUnreachable, EngineClientError):
                continue
            if item is None:
                self.removed.emit(id)
            else:
                self.changed.emit(item)

    def _on_event(self, event: dict[str, Any]) -> None:
        actor = event.get("Actor") or {}
        id = str(actor.get("ID") or event.get("id") or "")
        if not id:
            return
        if event.get("Action") == "destroy":
            self._pending.discard(id)
            self.removed.emit(id)
        else:
            self.refresh_container(id)

    # -- actions -------------------------------------------------------------------------------

    def start(self, id: str) -> None:
        self._act(id, "start", lambda: self._connection.client.start(id))

    def stop(self, id: str) -> None:
        self._act(id, "stop", lambda: self._connection.client.stop(id))

    def restart(self, id: str) -> None:
        self._act(id, "restart", lambda: self._connection.client.restart(id))

    def pause(self, id: str) -> None:
        self._act(id, "pause", lambda: self._connection.client.pause(id))

    def unpause(self, id: str) -> None:
        self._act(id, "unpause", lambda: self._connection.client.unpause(id))

    def kill(self, id: str) -> None:
        self._act(id, "kill", lambda: self._connection.client.kill(id))

    def run(self, config: dict[str, Any], name: str | None = None, platform: str = "") -> asyncio.Task[Any]:
        """Create and start a container (docker run -d); `ran` or `actionFailed` tells the outcome."""
        return self._tasks.spawn(self._run(config, name, platform), name="container-run")

    async def _run(self, config: dict[str, Any], name: str | None, platform: str = "") -> None:
        client = self._connection.client
        self.actionStarted.emit("", "run")
        try:
            id = str((await client.create(config, name=name, platform=platform))["Id"])
            await client.start(id)
        except EngineUnreachable:
            self.actionFailed.emit("", "run", "the engine does not answer")
            return
        except EngineClientError as exc:
            self.actionFailed.emit("", "run", exc.message)
            return
        self.ran.emit(id)
        self.refresh_container(id)

    def remove(self, id: str, force: bool = False) -> None:
        self._act(id, "remove", lambda: self._connection.client.remove(id, force=force))

    def _act(self, id: str, action: str, call: Callable[[], Awaitable[None]]) -> None:
        self._tasks.spawn(self._run_action(id, action, call), name=f"container-{action}")

    async def _run_action(self, id: str, action: str, call: Callable[[], Awaitable[None]]) -> None:
        self.actionStarted.emit(id, action)
        try:
            await call()
        except EngineUnreachable:
            self.actionFailed.emit(id, action, "the engine does not answer")
            self._connection.check()
            return
        except EngineClientError as exc:
            self.actionFailed.emit(id, action, exc.message)
            # The container may have changed anyway (e.g. already stopped): show what it is now.
            self.refresh_container(id)
            return
        self.actionFinished.emit(id, action)
        if not self._connection.status.events:
            self.refresh_container(id)

    async def close(self) -> None:
        await self._tasks.close()
