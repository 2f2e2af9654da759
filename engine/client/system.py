"""The engine itself: `/_ping`, `/version`, `/info`, `/events`."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from engine.client.base import PING_TIMEOUT, EngineBase, Filters, _object, filters_param
from engine.client.errors import EngineClientError, EngineUnreachable
from engine.client.streams import JSONStreamDecoder


class SystemAPI(EngineBase):
    async def ping(self) -> bool:
        """True when the engine answers `/_ping` with OK; False when nothing (or something else) answers."""
        try:
            await self.ensure_reachable()
        except (EngineUnreachable, EngineClientError):
            return False
        return True

    async def ensure_reachable(self) -> None:
        """`/_ping` with a short timeout; raises `EngineUnreachable` saying why nothing answered."""
        async with self._stream("GET", "_ping", versioned=False, timeout=PING_TIMEOUT) as response:
            body = (await response.text()).strip()
        if body != "OK":
            raise EngineUnreachable(self.url, f"something answered, but not an engine (it said {body[:40]!r})")

    async def info(self) -> dict[str, Any]:
        return _object(await self._json("GET", "info"))

    async def describe(self) -> str:
        """Which engine this is, for a person: "Berth 0.1.0", "Docker Engine - Community 20.10.24"."""
        return describe_version(await self.version())

    # -- events ------------------------------------------------------------------------------

    async def events(
        self, filters: Filters | None = None, since: int | None = None
    ) -> AsyncGenerator[dict[str, Any]]:
        """The engine's `/events` stream, one dict per event (Type, Action, Actor, time, ...).

        Raises `EngineClientError` (e.g. 404/501) at the first iteration if the engine has no events,
        and `EngineUnreachable` if the stream breaks. Leaving early: wrap in `contextlib.aclosing`.
        """
        async with self.open_events(filters, since) as stream:
            async for event in stream:
                yield event

    @asynccontextmanager
    async def open_events(
        self, filters: Filters | None = None, since: int | None = None
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """Subscribe to `/events`; entered once the engine has accepted the subscription.

        Unlike `events()`, a caller learns that the stream is up before the first event arrives,
        so it can list the current state knowing no later change will be missed.
        """
        params: dict[str, Any] = filters_param(filters)
        if since is not None:
            params["since"] = str(since)
        async with self._stream("GET", "events", params=params) as response:
            stream = self._decode_events(response)
            try:
                yield stream
            finally:
                await stream.aclose()

    async def _decode_events(self, response: aiohttp.ClientResponse) -> AsyncGenerator[dict[str, Any]]:
        decoder = JSONStreamDecoder()
        async for data in self._read(response, "event stream"):
            for event in decoder.feed(data):
                yield event


def describe_version(version: Mapping[str, Any]) -> str:
    """A person's name for the engine behind a `/version` answer."""
    platform = version.get("Platform")
    name = ""
    if isinstance(platform, Mapping):
        name = str(platform.get("Name", "")).strip()
    if not name:
        components = version.get("Components")
        if isinstance(components, list):
            for component in components:
                if isinstance(component, Mapping) and component.get("Name"):
                    label = str(component["Name"])
                    name = "Docker Engine" if label == "Engine" else label
                    break
    name = name or "Docker Engine"
    number = str(version.get("Version", "")).strip()
    # Platform names like "Docker Engine - Community" don't carry the version; "Berth 0.1.0" might.
    if number and number not in name:
        return f"{name} {number}"
    return name
