"""Containers: list, inspect, create, the life cycle, waits, logs, stats and files."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

import aiohttp

from engine.client.base import STREAM_TIMEOUT, EngineBase, Filters, Params, _list, _object, filters_param
from engine.client.errors import EngineClientError
from engine.client.streams import LogChunk


class ContainersAPI(EngineBase):
    async def containers(self, all: bool = True, filters: Filters | None = None) -> list[dict[str, Any]]:
        """The `/containers/json` list: one dict per container (Id, Names, Image, State, ...)."""
        params: dict[str, Any] = {"all": all, **filters_param(filters)}
        return _list(await self._json("GET", "containers/json", params=params))

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
        return str((await self.create(config, name=name))["Id"])

    async def create(self, config: Mapping[str, Any], *, name: str | None = None,
                     platform: str = "") -> dict[str, Any]:
        """`POST /containers/create` (`docker create --name --platform`): the engine's answer, its Id
        and Warnings. The body goes through the client's `prepare_create` first."""
        body = dict(config)
        if self.prepare_create is not None:
            body = self.prepare_create(body, self.url)
        params = {"name": name or None, "platform": platform or None}
        return _object(await self._json("POST", "containers/create", params=params, body=body))

    async def start(self, id: str) -> None:
        await self._call("POST", f"containers/{id}/start")

    async def stop(self, id: str, timeout: int | None = None) -> None:
        params = {"t": timeout} if timeout is not None else None
        # The engine waits up to `timeout` seconds before killing: don't give up on the HTTP call first.
        await self._call("POST", f"containers/{id}/stop", params=params, timeout=STREAM_TIMEOUT)

    async def restart(self, id: str, timeout: int | None = None) -> None:
        params = {"t": timeout} if timeout is not None else None
        await self._call("POST", f"containers/{id}/restart", params=params, timeout=STREAM_TIMEOUT)

    async def remove(self, id: str, force: bool = False, *, volumes: bool = False) -> None:
        """`DELETE /containers/{id}`; with `volumes` its anonymous volumes go too (`docker rm -v`)."""
        params = {"force": force or None, "v": volumes or None}
        await self._call("DELETE", f"containers/{id}", params=params)

    async def pause(self, id: str) -> None:
        await self._call("POST", f"containers/{id}/pause")

    async def unpause(self, id: str) -> None:
        await self._call("POST", f"containers/{id}/unpause")

    async def kill(self, id: str, signal: str = "SIGKILL") -> None:
        await self._call("POST", f"containers/{id}/kill", params={"signal": signal})

    async def wait(self, id: str, *, condition: str | None = None) -> int:
        """Block until the container exits (or meets `condition`: not-running, next-exit, removed);
        returns its exit code. The wait lasts as long as the container runs."""
        params = {"condition": condition} if condition else None
        result = await self._json("POST", f"containers/{id}/wait", params=params, timeout=STREAM_TIMEOUT)
        return int(result.get("StatusCode", -1))

    async def top(self, id: str) -> dict[str, Any]:
        return _object(await self._json("GET", f"containers/{id}/top"))

    # -- output --------------------------------------------------------------------------------

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
        async for chunk in self.stream_output(id, params):
            yield chunk

    async def stream_output(self, id: str, params: Params) -> AsyncGenerator[LogChunk]:
        """`/containers/{id}/logs` with any of its parameters (since, until, tail "all", ...), decoded."""
        async with self._stream("GET", f"containers/{id}/logs", params=params) as response:
            async for chunk in self._log_chunks(response, raw=await self._is_raw_stream(id, response)):
                yield chunk

    async def _is_raw_stream(self, id: str, response: aiohttp.ClientResponse) -> bool:
        content_type = response.headers.get("Content-Type", "")
        if "raw-stream" in content_type:
            return True
        if "multiplexed-stream" in content_type:
            return False
        # Engines older than API 1.42 do not say: a TTY container's output is raw.
        inspected = await self.inspect_container(id)
        return bool(inspected.get("Config", {}).get("Tty", False))

    async def stats(self, id: str) -> AsyncIterator[dict[str, Any]]:
        """The container's `/stats` stream: one raw sample a second (see `StatsSample.from_api`)."""
        async for sample in self._json_lines("GET", f"containers/{id}/stats", params={"stream": True}):
            yield sample

    async def stats_once(self, id: str) -> dict[str, Any]:
        return _object(await self._json("GET", f"containers/{id}/stats", params={"stream": False}))

    # -- files -------------------------------------------------------------------------------

    async def archive(self, id: str, path: str) -> AsyncIterator[bytes]:
        """A tar of `path` in the container (GET /containers/{id}/archive), as it streams."""
        async with self._stream("GET", f"containers/{id}/archive", params={"path": path}) as response:
            async for chunk in self._read(response, "archive stream", 1 << 16):
                yield chunk

    async def path_stat(self, id: str, path: str) -> dict[str, Any]:
        """What `path` is in the container (name, size, mode, mtime, linkTarget), from the archive's HEAD."""
        async with self._stream("HEAD", f"containers/{id}/archive", params={"path": path}) as response:
            header = response.headers.get("X-Docker-Container-Path-Stat", "")
        if not header:
            return {}
        try:
            return _object(json.loads(base64.b64decode(header)))
        except (ValueError, binascii.Error) as exc:
            raise EngineClientError(200, f"the engine sent an unreadable path stat: {exc}") from exc
