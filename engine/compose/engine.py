"""A small Docker Engine API connection for compose: JSON calls, JSON-lines progress, log frames.

Compose needs calls `engine.client` does not make (labelled networks and volumes, filters, `/build`),
and must keep working against any engine, so it speaks the API itself over aiohttp; the stream
decoders are `engine.client`'s.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from engine.client.address import default_engine_url, normalize_url
from engine.client.streams import FrameDecoder, JSONStreamDecoder, LogChunk
from engine.client.tls import TLSFiles
from engine.client.transport import finish_connects, open_connector
from engine.compose.errors import ComposeError
from engine.labels import labels_match

_CALL_TIMEOUT = aiohttp.ClientTimeout(total=120, connect=10)
# Waits, followed logs and builds may last as long as they last; only connecting is bounded.
_STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_read=None, connect=10)


class EngineError(ComposeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class EngineConnection:
    """One engine, reached by URL (`unix:///path`, `tcp://host:port`); DOCKER_HOST's rules by default."""

    def __init__(self, url: str | None = None, tls: TLSFiles | None = None) -> None:
        self.url = normalize_url(url) if url else default_engine_url()
        self.tls = (tls or TLSFiles.from_env()) if self.url.startswith("tcp://") else None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> EngineConnection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await finish_connects(session.connector)
            await session.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            try:
                connector, base = open_connector(self.url, self.tls)
            except ValueError as exc:  # TLSSetupError too: which file, what to fix
                raise ComposeError(str(exc)) from None
            self._session = aiohttp.ClientSession(base_url=base, connector=connector)
        return self._session

    @asynccontextmanager
    async def stream(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                     body: Any = None, data: bytes | None = None, headers: Mapping[str, str] | None = None,
                     ok: tuple[int, ...] = (200, 201, 204, 304)) -> AsyncIterator[aiohttp.ClientResponse]:
        session = self._open()
        kwargs: dict[str, Any] = {"params": _params(params), "timeout": _STREAM_TIMEOUT,
                                  "headers": dict(headers or {})}
        if body is not None:
            kwargs["json"] = body
        elif data is not None:
            kwargs["data"] = data
        try:
            async with session.request(method, path, **kwargs) as response:
                if response.status not in ok:
                    raise EngineError(response.status, _message(await response.text(), response.status))
                yield response
        except aiohttp.ClientConnectionError as exc:
            raise ComposeError(f"cannot reach the engine at {self.url}: {exc}") from exc

    async def call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None,
                   ok: tuple[int, ...] = (200, 201, 204, 304)) -> Any:
        """One request; the decoded JSON answer (None when empty). Errors raise `EngineError`."""
        session = self._open()
        kwargs: dict[str, Any] = {"params": _params(params), "timeout": _CALL_TIMEOUT}
        if body is not None:
            kwargs["json"] = body
        try:
            async with session.request(method, path, **kwargs) as response:
                text = await response.text()
                if response.status not in ok:
                    raise EngineError(response.status, _message(text, response.status))
        except aiohttp.ClientConnectionError as exc:
            raise ComposeError(f"cannot reach the engine at {self.url}: {exc}") from exc
        except TimeoutError as exc:
            raise ComposeError(f"the engine at {self.url} did not answer {method} {path} in time") from exc
        return json.loads(text) if text.strip() else None

    async def json_lines(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                         data: bytes | None = None, headers: Mapping[str, str] | None = None
                         ) -> AsyncIterator[dict[str, Any]]:
        """A progress stream (pull, build): each JSON object; an `error` in one raises `EngineError`."""
        async with self.stream(method, path, params=params, data=data, headers=headers) as response:
            decoder = JSONStreamDecoder()
            async for chunk in response.content.iter_any():
                for item in decoder.feed(chunk):
                    if item.get("error") or item.get("errorDetail"):
                        detail = item.get("errorDetail") or {}
                        raise EngineError(500, str(item.get("error") or detail.get("message")))
                    yield item

    async def logs(self, container: str, *, follow: bool = False, tail: str = "all", timestamps: bool = False,
                   tty: bool = False) -> AsyncIterator[LogChunk]:
        params = {"stdout": True, "stderr": True, "follow": follow, "tail": tail, "timestamps": timestamps}
        async with self.stream("GET", f"/containers/{container}/logs", params=params) as response:
            decoder = FrameDecoder(raw=tty)
            async for data in response.content.iter_any():
                for chunk in decoder.feed(data):
                    yield chunk

    # -- the calls compose makes -------------------------------------------------------------

    async def containers(self, labels: list[str], *, all: bool = True) -> list[dict[str, Any]]:
        filters = json.dumps({"label": labels})
        result = await self.call("GET", "/containers/json", params={"all": all, "filters": filters})
        # Filter again: an engine that ignores a filter must not make us touch another project.
        return [c for c in result or [] if labels_match(c.get("Labels") or {}, labels)]

    async def inspect_container(self, ident: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/containers/{ident}/json")
        return result

    async def inspect_image(self, name: str) -> dict[str, Any] | None:
        return await self.get_or_none(f"/images/{name}/json")

    async def delete(self, path: str, params: Mapping[str, Any] | None = None) -> bool:
        """DELETE `path`: True when removed, False when it was already gone (404)."""
        try:
            await self.call("DELETE", path, params=params)
        except EngineError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def get_or_none(self, path: str) -> dict[str, Any] | None:
        """GET `path`'s object; None when the engine says 404 (no such image, network, volume)."""
        try:
            result: dict[str, Any] = await self.call("GET", path)
        except EngineError as exc:
            if exc.status == 404:
                return None
            raise
        return result

    async def networks(self, labels: list[str]) -> list[dict[str, Any]]:
        result = await self.call("GET", "/networks", params={"filters": json.dumps({"label": labels})})
        return [n for n in result or [] if labels_match(n.get("Labels") or {}, labels)]

    async def volumes(self, labels: list[str]) -> list[dict[str, Any]]:
        result = await self.call("GET", "/volumes", params={"filters": json.dumps({"label": labels})})
        return [v for v in (result or {}).get("Volumes") or [] if labels_match(v.get("Labels") or {}, labels)]


def _params(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not params:
        return None
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        out[key] = ("1" if value else "0") if isinstance(value, bool) else str(value)
    return out


def _message(text: str, status: int) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip() or f"HTTP {status}"
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return text.strip() or f"HTTP {status}"
