"""The request layer under every resource of `EngineClient`: one connection per engine, version
negotiation, errors as the client's two kinds, JSON answers, JSON-lines progress, log frames.

It speaks the Docker Engine API through aiodocker's connection handling (Unix sockets, TCP/TLS,
error decoding) and hands back plain dicts, so no aiodocker type leaks out and the transport can
change without touching callers. Every request goes through `_stream`, the only place that knows
aiodocker's requests. The per-resource mixins (`containers.py`, `images.py`, ...) build on this
class, as docker-py's API mixins build on its `APIClient`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Self

import aiodocker
import aiohttp
from aiodocker.exceptions import DockerError

from engine.client.address import default_engine_url, normalize_url
from engine.client.errors import EngineClientError, EngineUnreachable
from engine.client.streams import FrameDecoder, JSONStreamDecoder, LogChunk
from engine.client.tls import TLSFiles
from engine.client.transport import finish_connects, open_connector

# The newest API this client is written against; older engines are spoken to in their own version.
CLIENT_API_VERSION = "1.45"
# aiodocker reports "could not connect" as this pseudo-status.
_AIODOCKER_CONNECT_FAILED = 900
PING_TIMEOUT = aiohttp.ClientTimeout(total=5)
CALL_TIMEOUT = aiohttp.ClientTimeout(total=60, connect=5)
# Streams (events, followed logs, wait, builds) may stay open for hours; only connecting is bounded.
STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_read=None, connect=5)

Params = Mapping[str, Any]
Filters = Mapping[str, list[str]]
# A create body as the front end wrote it, and the engine's address -> the body that engine is sent.
PrepareCreate = Callable[[dict[str, Any], str], dict[str, Any]]


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


class EngineBase:
    """One engine's connection and requests. Cheap to construct; connects on first use.

    Use it as `async with EngineClient(url) as engine: ...`, or call `close()` when done.
    """

    def __init__(self, url: str | None = None, tls: TLSFiles | None = None, *,
                 prepare_create: PrepareCreate | None = None) -> None:
        self.url = normalize_url(url) if url else default_engine_url()
        # What every create body goes through before it is sent: where the engine runs may need it
        # adapted (Windows bind paths for a WSL machine), which the front end that made this client knows.
        self.prepare_create = prepare_create
        # TLS applies to tcp:// only; without files given, the docker CLI's DOCKER_TLS* variables decide.
        self.tls = (tls or TLSFiles.from_env()) if self.url.startswith("tcp://") else None
        self._docker: aiodocker.Docker | None = None
        self._connector: aiohttp.BaseConnector | None = None
        # Requests under way, so close() can let them end instead of cutting their connections.
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._api_version: str | None = None
        self._negotiating = asyncio.Lock()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self, grace: float = 1.0) -> None:
        """Close the connections; requests still under way get up to `grace` seconds to end first
        (a stream that is still open after that is cut, and its reader sees EngineUnreachable)."""
        if self._active:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), grace)
        docker, self._docker = self._docker, None
        connector, self._connector = self._connector, None
        self._api_version = None
        if docker is not None:
            await docker.close()
        if connector is not None:  # ours, so aiodocker leaves it open
            await finish_connects(connector)
            await connector.close()

    async def version(self) -> dict[str, Any]:
        return _object(await self._json("GET", "version", versioned=False))

    async def api_version(self) -> str:
        """The API version spoken with this engine: the lower of the engine's and ours."""
        await self._negotiate()
        assert self._api_version is not None
        return self._api_version

    # -- any endpoint --------------------------------------------------------------------------
    # For the `berth` CLI's long tail of verbs (rename, update, prune, connect, ...): one public door
    # to an endpoint with no method of its own, with this client's negotiation and error mapping.

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        long: bool = False,
    ) -> Any:
        """The decoded JSON answer of `method path` ({} for an empty one); `long` lifts the time limit."""
        return await self._json(method, path, params=params, body=body, data=data, headers=headers,
                                timeout=STREAM_TIMEOUT if long else CALL_TIMEOUT)

    async def request_bytes(
        self, method: str, path: str, *, params: Params | None = None, data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncGenerator[bytes]:
        """The raw answer of `method path` as it streams (tars, multiplexed logs)."""
        async with self._stream(method, path, params=params, data=data, headers=headers) as response:
            async for chunk in self._read(response, "stream"):
                yield chunk

    async def request_lines(
        self, method: str, path: str, *, params: Params | None = None, data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncGenerator[dict[str, Any]]:
        """A progress stream's JSON objects (load, push, pull with auth); an `error` object raises."""
        async for item in self._progress(method, path, params=params, data=data, headers=headers):
            yield item

    # -- the transport -------------------------------------------------------------------------

    def _connection(self) -> aiodocker.Docker:
        if self._docker is None:
            # Created here, inside a coroutine, because aiohttp sessions belong to a running loop.
            try:
                connector, base = open_connector(self.url, self.tls)
            except ValueError as exc:  # TLSSetupError is one
                raise EngineUnreachable(self.url, str(exc)) from exc
            self._connector = connector
            self._docker = aiodocker.Docker(url=base, connector=connector, timeout=CALL_TIMEOUT)
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
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        versioned: bool = True,
        timeout: aiohttp.ClientTimeout = STREAM_TIMEOUT,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        if versioned:
            await self._negotiate()
        docker = self._connection()
        if body is not None:
            data = json.dumps(body)
        self._active += 1
        self._idle.clear()
        try:
            async with docker._query(
                path,
                method,
                params=_query_params(params),
                data=data,
                headers=headers,
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
        finally:
            self._active -= 1
            if not self._active:
                self._idle.set()

    async def _read(self, response: aiohttp.ClientResponse, what: str, size: int | None = None
                    ) -> AsyncGenerator[bytes]:
        """The answer's bytes as they arrive (in pieces of `size` when given); a connection that
        breaks half-way is `EngineUnreachable` saying which stream broke."""
        chunks = response.content.iter_chunked(size) if size else response.content.iter_any()
        try:
            async for chunk in chunks:
                yield chunk
        except aiohttp.ClientError as exc:
            raise EngineUnreachable(self.url, f"{what} broke: {exc}") from exc

    async def _json(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        versioned: bool = True,
        timeout: aiohttp.ClientTimeout = CALL_TIMEOUT,
    ) -> Any:
        async with self._stream(
            method, path, params=params, body=body, data=data, headers=headers, versioned=versioned, timeout=timeout
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
        body: Any = None,
        timeout: aiohttp.ClientTimeout = CALL_TIMEOUT,
    ) -> None:
        async with self._stream(method, path, params=params, body=body, timeout=timeout) as response:
            await response.read()

    async def _progress(self, method: str, path: str, **kwargs: Any) -> AsyncGenerator[dict[str, Any]]:
        """A progress stream (pull, push, import, build): its JSON objects, an `error` one raised.
        The request is closed on the way out, so a failure ends it at once instead of at collection."""
        lines = self._json_lines(method, path, **kwargs)
        async with contextlib.aclosing(lines):
            async for item in lines:
                _raise_progress_error(item)
                yield item

    async def _json_lines(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        versioned: bool = True,
    ) -> AsyncGenerator[dict[str, Any]]:
        """A streamed answer of JSON objects (progress, stats, events), decoded as they arrive."""
        async with self._stream(
            method, path, params=params, body=body, data=data, headers=headers, versioned=versioned
        ) as response:
            decoder = JSONStreamDecoder()
            async for chunk in self._read(response, "stream"):
                for item in decoder.feed(chunk):
                    yield item

    async def _log_chunks(self, response: aiohttp.ClientResponse, *, raw: bool) -> AsyncGenerator[LogChunk]:
        """A logs or attach answer's frames (raw bytes with a TTY) as text per stream."""
        decoder = FrameDecoder(raw=raw)
        async for data in self._read(response, "log stream"):
            for chunk in decoder.feed(data):
                yield chunk

    def _translate(self, exc: DockerError) -> Exception:
        if exc.status == _AIODOCKER_CONNECT_FAILED:
            # aiodocker raised this while handling aiohttp's error: its OS error says it best.
            cause = exc.__context__
            if isinstance(cause, aiohttp.ClientConnectorError) and cause.os_error.strerror:
                return EngineUnreachable(self.url, cause.os_error.strerror.lower())
            return EngineUnreachable(self.url, str(exc.message))
        return EngineClientError(exc.status, _error_message(str(exc.message)))


def filters_param(filters: Filters | None) -> dict[str, str]:
    """The API's `filters` query parameter (JSON of name -> values); nothing when there are none."""
    return {"filters": json.dumps(dict(filters))} if filters else {}


def _raise_progress_error(item: Mapping[str, Any]) -> None:
    # Streams answer 200 first; a failure later comes as {"error": ..., "errorDetail": {...}}.
    detail = item.get("errorDetail")
    if item.get("error") or detail:
        detail = detail if isinstance(detail, Mapping) else {}
        code = detail.get("code")
        message = item.get("error") or detail.get("message") or "the engine reported an error"
        raise EngineClientError(int(code) if isinstance(code, int) else 500, str(message))


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EngineClientError(200, f"the engine sent {type(value).__name__} where an object was expected")
    return value


def _list(value: Any) -> list[dict[str, Any]]:
    return list(value) if isinstance(value, list) else []


def _query_params(params: Params | None) -> dict[str, str] | None:
    # The API wants booleans as 1/0 (dockerd also accepts true/false; some engines only 1/0).
    # None means "not given": the parameter is left out.
    if not params:
        return None
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "1" if value else "0"
        else:
            out[key] = str(value)
    return out
