"""`EngineClient`: the one way Berth's front ends talk to an engine (berthd, dockerd, podman).

It speaks the Docker Engine API through aiodocker's connection handling (Unix sockets, TCP/TLS,
ssh://, error decoding) and hands back plain dicts and dataclasses, so no aiodocker type leaks out
and the transport can change without touching callers. Every request goes through `_request` /
`_stream`, the only places that know aiodocker.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiodocker
import aiohttp
from aiodocker.exceptions import DockerError

from engine.client.address import default_engine_url, normalize_url
from engine.client.errors import EngineClientError, EngineUnreachable
from engine.client.streams import FrameDecoder, JSONStreamDecoder, LogChunk

# The newest API this client is written against; older engines are spoken to in their own version.
CLIENT_API_VERSION = "1.45"
# aiodocker reports "could not connect" as this pseudo-status.
_AIODOCKER_CONNECT_FAILED = 900
_PING_TIMEOUT = aiohttp.ClientTimeout(total=5)
_CALL_TIMEOUT = aiohttp.ClientTimeout(total=60, connect=5)
# Streams (events, followed logs, wait) may stay open for hours; only connecting is bounded.
_STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_read=None, connect=5)

Params = Mapping[str, Any]


def _version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)


def _error_message(raw: str) -> str:
    # aiodocker only decodes `{"message": ...}` when Content-Type is exactly application/json.
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.strip()
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return raw.strip()


class EngineClient:
    """An async client of one engine. Cheap to construct; connects on first use.

    Use it as `async with EngineClient(url) as engine: ...`, or call `close()` when done.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = normalize_url(url) if url else default_engine_url()
        self._docker: aiodocker.Docker | None = None
        self._api_version: str | None = None
        self._negotiating = asyncio.Lock()

    async def __aenter__(self) -> EngineClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        docker, self._docker = self._docker, None
        self._api_version = None
        if docker is not None:
            await docker.close()

    # -- system ------------------------------------------------------------------------------

    async def ping(self) -> bool:
        """True when the engine answers `/_ping` with OK; False when nothing (or something else) answers."""
        try:
            await self.ensure_reachable()
        except (EngineUnreachable, EngineClientError):
            return False
        return True

    async def ensure_reachable(self) -> None:
        """`/_ping` with a short timeout; raises `EngineUnreachable` saying why nothing answered."""
        async with self._stream("GET", "_ping", versioned=False, timeout=_PING_TIMEOUT) as response:
            body = (await response.text()).strip()
        if body != "OK":
            raise EngineUnreachable(self.url, f"something answered, but not an engine (it said {body[:40]!r})")

    async def version(self) -> dict[str, Any]:
        return _object(await self._json("GET", "version", versioned=False))

    async def info(self) -> dict[str, Any]:
        return _object(await self._json("GET", "info"))

    async def api_version(self) -> str:
        """The API version spoken with this engine: the lower of the engine's and ours."""
        await self._negotiate()
        assert self._api_version is not None
        return self._api_version

    async def describe(self) -> str:
        """Which engine this is, for a person: "Berth 0.1.0", "Docker Engine - Community 20.10.24"."""
        return describe_version(await self.version())

    # -- containers --------------------------------------------------------------------------

    async def containers(
        self, all: bool = True, filters: Mapping[str, list[str]] | None = None
    ) -> list[dict[str, Any]]:
        """The `/containers/json` list: one dict per container (Id, Names, Image, State, ...)."""
        params: dict[str, Any] = {"all": all}
        if filters:
            params["filters"] = json.dumps(dict(filters))
        result = await self._json("GET", "containers/json", params=params)
        return list(result) if isinstance(result, list) else []

    async def container(self, id: str) -> dict[str, Any] | None:
        """The `/containers/json` entry of one container (by full or short id), None if gone."""
        for item in await self.containers(all=True, filters={"id": [id]}):
            # Filter again here: an engine that ignores `filters` returns every container.
            if str(item.get("Id", "")).startswith(id):
                return item
        return None

    async def inspect_container(self, id: str) -> dict[str, Any]:
        return _object(await self._json("GET", f"containers/{id}/json"))

    async def create_container(self, config: Mapping[str, Any], name: str | None = None) -> str:
        """Create a container from a `ContainerConfig` body; returns its id."""
        params = {"name": name} if name else None
        result = await self._json("POST", "containers/create", params=params, body=dict(config))
        return str(result["Id"])

    async def start(self, id: str) -> None:
        await self._call("POST", f"containers/{id}/start")

    async def stop(self, id: str, timeout: int | None = None) -> None:
        params = {"t": timeout} if timeout is not None else None
        # The engine waits up to `timeout` seconds before killing: don't give up on the HTTP call first.
        await self._call("POST", f"containers/{id}/stop", params=params, timeout=_STREAM_TIMEOUT)

    async def remove(self, id: str, force: bool = False) -> None:
        await self._call("DELETE", f"containers/{id}", params={"force": force} if force else None)

    async def wait(self, id: str) -> int:
        """Block until the container exits; returns its exit code."""
        result = await self._json("POST", f"containers/{id}/wait", timeout=_STREAM_TIMEOUT)
        return int(result.get("StatusCode", -1))

    async def logs(self, id: str, *, tail: int | None = None) -> str:
        """Everything the container has written so far, stdout and stderr interleaved."""
        return "".join([chunk.text async for chunk in self.stream_logs(id, follow=False, tail=tail)])

    async def stream_logs(
        self, id: str, *, follow: bool = True, tail: int | None = None, timestamps: bool = False
    ) -> AsyncIterator[LogChunk]:
        """The container's output as it comes; with `follow`, until the container stops."""
        params: dict[str, Any] = {"stdout": True, "stderr": True, "follow": follow, "timestamps": timestamps}
        if tail is not None:
            params["tail"] = str(tail)
        async with self._stream("GET", f"containers/{id}/logs", params=params) as response:
            decoder = FrameDecoder(raw=await self._is_raw_stream(id, response))
            try:
                async for data in response.content.iter_any():
                    for chunk in decoder.feed(data):
                        yield chunk
            except aiohttp.ClientError as exc:
                raise EngineUnreachable(self.url, f"log stream broke: {exc}") from exc

    # -- images ------------------------------------------------------------------------------

    async def images(self, all: bool = False) -> list[dict[str, Any]]:
        """The `/images/json` list: one dict per image (Id, RepoTags, Created, Size, ...)."""
        result = await self._json("GET", "images/json", params={"all": all})
        return list(result) if isinstance(result, list) else []

    # -- events ------------------------------------------------------------------------------

    async def events(
        self, filters: Mapping[str, list[str]] | None = None, since: int | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """The engine's `/events` stream, one dict per event (Type, Action, Actor, time, ...).

        Raises `EngineClientError` (e.g. 404/501) at the first iteration if the engine has no events,
        and `EngineUnreachable` if the stream breaks. Leaving early: wrap in `contextlib.aclosing`.
        """
        async with self.open_events(filters, since) as stream:
            async for event in stream:
                yield event

    @asynccontextmanager
    async def open_events(
        self, filters: Mapping[str, list[str]] | None = None, since: int | None = None
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """Subscribe to `/events`; entered once the engine has accepted the subscription.

        Unlike `events()`, a caller learns that the stream is up before the first event arrives,
        so it can list the current state knowing no later change will be missed.
        """
        params: dict[str, Any] = {}
        if filters:
            params["filters"] = json.dumps(dict(filters))
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
        try:
            async for data in response.content.iter_any():
                for event in decoder.feed(data):
                    yield event
        except aiohttp.ClientError as exc:
            raise EngineUnreachable(self.url, f"event stream broke: {exc}") from exc

    # -- transport ---------------------------------------------------------------------------

    def _connection(self) -> aiodocker.Docker:
        if self._docker is None:
            # Created here, inside a coroutine, because aiohttp sessions belong to a running loop.
            try:
                self._docker = aiodocker.Docker(url=self.url, timeout=_CALL_TIMEOUT)
            except ValueError as exc:
                raise EngineUnreachable(self.url, str(exc)) from exc
        return self._docker

    async def _negotiate(self) -> None:
        if self._api_version is not None:
            return
        async with self._negotiating:
            if self._negotiated():
                return
            version = await self.version()
            theirs = str(version.get("ApiVersion", CLIENT_API_VERSION))
            ours = CLIENT_API_VERSION
            self._api_version = min(theirs, ours, key=_version_tuple)
            self._connection().api_version = f"v{self._api_version}"

    def _negotiated(self) -> bool:
        # Another task may have negotiated while this one waited for the lock.
        return self._api_version is not None

    @asynccontextmanager
    async def _stream(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        versioned: bool = True,
        timeout: aiohttp.ClientTimeout = _STREAM_TIMEOUT,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        if versioned:
            await self._negotiate()
        docker = self._connection()
        data = json.dumps(body) if body is not None else None
        try:
            async with docker._query(
                path,
                method,
                params=_query_params(params),
                data=data,
                timeout=timeout,
                versioned_api=versioned,
            ) as response:
                # aiodocker leaves finalizing the response to its caller.
                try:
                    yield response
                finally:
                    if response.content.at_eof():
                        response.release()
                    else:
                        # Left early (a stream nobody reads any more): drop the connection.
                        response.close()
        except DockerError as exc:
            raise self._translate(exc) from exc
        except TimeoutError as exc:
            # Before OSError: TimeoutError is one.
            raise EngineUnreachable(self.url, "no answer in time") from exc
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise EngineUnreachable(self.url, str(exc) or type(exc).__name__) from exc

    async def _json(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        versioned: bool = True,
        timeout: aiohttp.ClientTimeout = _CALL_TIMEOUT,
    ) -> Any:
        async with self._stream(
            method, path, params=params, body=body, versioned=versioned, timeout=timeout
        ) as response:
            try:
                text = await response.text()
            except aiohttp.ClientError as exc:
                raise EngineUnreachable(self.url, str(exc)) from exc
        if not text.strip():
            return {}
        try:
            return json.loads(text)
        except ValueError as exc:
            raise EngineClientError(response.status, f"the engine sent something that is not JSON: {exc}") from exc

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        timeout: aiohttp.ClientTimeout = _CALL_TIMEOUT,
    ) -> None:
        async with self._stream(method, path, params=params, timeout=timeout) as response:
            await response.read()

    async def _is_raw_stream(self, id: str, response: aiohttp.ClientResponse) -> bool:
        content_type = response.headers.get("Content-Type", "")
        if "raw-stream" in content_type:
            return True
        if "multiplexed-stream" in content_type:
            return False
        # Engines older than API 1.42 do not say: a TTY container's output is raw.
        inspected = await self.inspect_container(id)
        return bool(inspected.get("Config", {}).get("Tty", False))

    def _translate(self, exc: DockerError) -> Exception:
        if exc.status == _AIODOCKER_CONNECT_FAILED:
            # aiodocker raised this while handling aiohttp's error: its OS error says it best.
            cause = exc.__context__
            if isinstance(cause, aiohttp.ClientConnectorError) and cause.os_error.strerror:
                return EngineUnreachable(self.url, cause.os_error.strerror.lower())
            return EngineUnreachable(self.url, str(exc.message))
        return EngineClientError(exc.status, _error_message(str(exc.message)))


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EngineClientError(200, f"the engine sent {type(value).__name__} where an object was expected")
    return value


def _query_params(params: Params | None) -> dict[str, str] | None:
    # The API wants booleans as 1/0 (dockerd also accepts true/false; some engines only 1/0).
    if not params:
        return None
    out: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, bool):
            out[key] = "1" if value else "0"
        else:
            out[key] = str(value)
    return out


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
