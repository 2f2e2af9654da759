"""`EngineConnection`: which engine the window talks to, whether it answers, and its event stream."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.client import engine_client
from app.display import plain_reason
from app.services.tasks import TaskSet
from engine.client import EngineClientError, EngineUnreachable, default_engine_url, normalize_url
from engine.client.tls import TLSFiles

if TYPE_CHECKING:
    from engine.client import EngineClient
    from vmhost.remote import RemoteEngine


@dataclass(frozen=True, slots=True)
class EngineStatus:
    url: str
    reachable: bool | None  # None: not checked yet
    description: str = ""
    reason: str = ""
    events: bool | None = None  # whether the engine streams /events (None: not known yet)
    # An SSH engine's host key nobody has trusted yet ("name type base64"), for the user to check.
    unknown_host_key: str = ""


class _RemoteFailed(Exception):
    """The SSH tunnel to a remote engine could not be opened (the message says why)."""

    def __init__(self, message: str, unknown_host_key: str = "") -> None:
        super().__init__(message)
        self.unknown_host_key = unknown_host_key


async def _start_remote_tunnel(remote: RemoteEngine) -> None:
    from vmhost.remote import RemoteEngineError, UnknownHostKey

    try:
        await asyncio.to_thread(remote.start)
    except UnknownHostKey as exc:
        raise _RemoteFailed(str(exc), exc.key_line) from None
    except RemoteEngineError as exc:
        raise _RemoteFailed(str(exc)) from None


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

    def __init__(self, url: str | None = None, parent: QObject | None = None, tls: TLSFiles | None = None) -> None:
        super().__init__(parent)
        self._url = normalize_url(url) if url else default_engine_url()
        self._remote: RemoteEngine | None = None
        self._remote_error = ""
        self._tls = tls
        # Made at first use, once the window is up: the client brings aiohttp (~100 ms of a cold start).
        self._client: EngineClient | None = None
        self.status = EngineStatus(self._url, None)
        self._tasks = TaskSet()
        self._events_task: asyncio.Task[Any] | None = None
        # While unreachable, try again now and then so a restarted berthd is picked up without a click.
        self._retry = QTimer(self)
        self._retry.setSingleShot(True)
        self._retry.setInterval(self.RETRY_INTERVAL_MS)
        self._retry.timeout.connect(self.check)

    @property
    def client(self) -> EngineClient:
        if self._client is None:
            self._client = self._open(self._url, self._tls)
        return self._client

    @property
    def url(self) -> str:
        """The engine's address as the user chose it (ssh://... for a remote host, not the tunnel)."""
        return self._url

    def _open(self, url: str, tls: TLSFiles | None) -> EngineClient:
        """A client for `url`; an ssh:// engine is reached through a local socket its tunnel forwards."""
        self._remote, self._remote_error = None, ""
        if not url.startswith("ssh://"):
            return engine_client(url, tls)
        # paramiko is imported only when an SSH engine is used: it costs a tenth of the cold start.
        from vmhost.remote import RemoteEngine, RemoteEngineError

        try:
            self._remote = RemoteEngine(url)
        except RemoteEngineError as exc:
            self._remote_error = str(exc)
            return engine_client(url)  # never used: _check reports the error
        return engine_client(self._remote.local_url)

    def check(self) -> None:
        """Ask the engine whether it answers; the outcome arrives as `statusChanged`."""
        self._retry.stop()
        self._tasks.spawn(self._check(), name="engine-check")

    async def _check(self) -> None:
        client = self.client  # made now if not yet: an SSH engine's address is checked as it is
        if self._remote_error:
            self._set_unreachable(self._remote_error)
            return
        try:
            if self._remote is not None:
                # Connecting and authenticating block: paramiko runs in a worker thread.
                await _start_remote_tunnel(self._remote)
            await client.ensure_reachable()
            description = await client.describe()
        except EngineUnreachable as exc:
            self._set_unreachable(exc.reason)
            return
        except EngineClientError as exc:
            self._set_unreachable(f"the engine answered with an error: {exc.message}")
            return
        except _RemoteFailed as exc:
            self._set_unreachable(str(exc), exc.unknown_host_key)
            return
        self._set_status(EngineStatus(self.url, True, description, events=self.status.events))
        if self._events_task is None or self._events_task.done():
            # The stream's start lists the state (resyncNeeded) once it knows whether events flow.
            self._events_task = self._tasks.spawn(self._watch_events(), name="engine-events", stream=True)
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

    def switch(self, url: str, tls: TLSFiles | None = None) -> None:
        """Talk to another engine from now on (a context switch)."""
        url = normalize_url(url)
        if url == self.url and tls == self._tls:
            return
        old, old_remote = self._client, self._remote  # none yet if nothing asked for it
        self._url, self._tls = url, tls
        self._client = self._open(url, tls)
        self._tasks.spawn(self._replace(old, old_remote), name="engine-switch")

    async def _replace(self, old: EngineClient | None, old_remote: RemoteEngine | None) -> None:
        if self._events_task is not None:
            self._events_task.cancel()
            self._events_task = None
        self._set_status(EngineStatus(self.url, None))
        # Views start over and stop their streams first; calls to the old engine then get a moment to end.
        self.switched.emit(self.url)
        self.check()
        if old is not None:
            await old.close()
        if old_remote is not None:
            await asyncio.to_thread(old_remote.close)

    def trust_host_key(self, key_line: str) -> None:
        """The user checked the fingerprint of an SSH engine's unknown host key: trust it and connect."""
        from vmhost.remote import trust_host_key

        trust_host_key(key_line)
        self.check()

    def _set_unreachable(self, reason: str, unknown_host_key: str = "") -> None:
        reason = plain_reason(reason)  # no object reprs or HTML entities in what people read
        self._set_status(EngineStatus(self.url, False, reason=reason, unknown_host_key=unknown_host_key))
        self._retry.start()

    def _set_status(self, status: EngineStatus) -> None:
        self.status = status
        self.statusChanged.emit(status)

    async def close(self) -> None:
        with contextlib.suppress(RuntimeError):  # the timer may already be deleted with the window
            self._retry.stop()
        await self._tasks.close()
        if self._client is not None:
            await self._client.close()
        if self._remote is not None:
            await asyncio.to_thread(self._remote.close)
