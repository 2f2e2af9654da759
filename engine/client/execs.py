"""Execs and attach: `ExecsAPI` (create, start, inspect, resize; attach to a container) and
`ExecStream`, the hijacked connection of a started exec (or attach), bytes both ways.

aiodocker's `Stream` does the upgrade and the frame parsing; `ExecStream` keeps its type out of
callers and turns its errors into the client's two kinds. A command whose output is only read
(compose's `exec -T`) needs no upgrade: `exec_output` reads the answer's frames.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiodocker.stream
import aiohttp
from aiodocker.exceptions import DockerError
from yarl import URL

from engine.client.base import STREAM_TIMEOUT, EngineBase, _object
from engine.client.errors import EngineClientError, EngineUnreachable
from engine.client.streams import STREAM_NAMES, FrameSplitter


class ExecsAPI(EngineBase):
    async def exec_create(
        self,
        id: str,
        cmd: list[str],
        *,
        tty: bool = True,
        stdin: bool = True,
        env: list[str] | None = None,
        user: str | None = None,
        workdir: str | None = None,
        privileged: bool = False,
        output: bool = True,
    ) -> str:
        """Create an exec instance in a running container; returns its id. Without `output` its
        stdout and stderr are not attached (a detached exec)."""
        config: dict[str, Any] = {
            "Cmd": cmd,
            "Tty": tty,
            "AttachStdin": stdin,
            "AttachStdout": output,
            "AttachStderr": output,
        }
        if env:
            config["Env"] = env
        if user:
            config["User"] = user
        if workdir:
            config["WorkingDir"] = workdir
        if privileged:
            config["Privileged"] = True
        result = await self._json("POST", f"containers/{id}/exec", body=config)
        return str(result["Id"])

    async def exec_start(self, exec_id: str, *, tty: bool = True) -> ExecStream:
        """Start an exec and take over the connection (101 Upgrade): bytes flow both ways."""
        await self._negotiate()
        docker = self._connection()
        body = json.dumps({"Detach": False, "Tty": tty}).encode()

        async def setup() -> tuple[Any, bytes | None, bool]:
            return URL(f"exec/{exec_id}/start"), body, tty

        stream = ExecStream(aiodocker.stream.Stream(docker, setup, timeout=STREAM_TIMEOUT), self.url)
        await stream.open()
        return stream

    async def exec_detached(self, exec_id: str) -> None:
        """Start an exec and leave it running (`docker exec -d`)."""
        await self._call("POST", f"exec/{exec_id}/start", body={"Detach": True, "Tty": False})

    async def exec_output(self, exec_id: str, *, tty: bool = False) -> AsyncIterator[tuple[str, bytes]]:
        """Start an exec that reads no stdin; its output as (stream name, bytes) until it ends."""
        async with self._stream("POST", f"exec/{exec_id}/start", body={"Detach": False, "Tty": tty}) as response:
            frames = FrameSplitter(raw=tty)
            async for data in self._read(response, "exec stream"):
                for frame in frames.feed(data):
                    yield frame

    async def attach(self, id: str, *, tty: bool, stdin: bool = True, logs: bool = False) -> ExecStream:
        """Take over `/containers/{id}/attach` (101 Upgrade): the container's stdio both ways. Opened
        before a start, no output is missed; `logs` replays what it printed already."""
        await self._negotiate()
        docker = self._connection()
        query = f"stream=1&stdin={int(stdin)}&stdout=1&stderr=1&logs={int(logs)}"

        async def setup() -> tuple[Any, bytes | None, bool]:
            return URL(f"containers/{id}/attach?{query}"), None, tty

        stream = ExecStream(aiodocker.stream.Stream(docker, setup, timeout=STREAM_TIMEOUT), self.url)
        await stream.open()
        return stream

    async def exec_resize(self, exec_id: str, rows: int, columns: int) -> None:
        await self._call("POST", f"exec/{exec_id}/resize", params={"h": rows, "w": columns})

    async def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return _object(await self._json("GET", f"exec/{exec_id}/json"))


class ExecStream:
    """Read what the process writes (`read()` → (stream name, bytes) or None at the end), write its stdin."""

    def __init__(self, stream: Any, url: str) -> None:
        self._stream = stream
        self._url = url
        self.closed = False

    async def open(self) -> None:
        try:
            await self._stream._init()
        except DockerError as exc:
            raise EngineClientError(exc.status, str(exc.message)) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise EngineUnreachable(self._url, str(exc) or type(exc).__name__) from exc

    async def read(self) -> tuple[str, bytes] | None:
        """The next piece of output, or None once the process has ended and its output is read."""
        if self.closed:
            return None
        try:
            message = await self._stream.read_out()
        except (aiohttp.ClientError, OSError) as exc:
            raise EngineUnreachable(self._url, f"exec stream broke: {exc}") from exc
        if message is None:
            return None
        return STREAM_NAMES.get(int(message.stream), "stdout"), bytes(message.data)

    async def write(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            await self._stream.write_in(data)
        except (aiohttp.ClientError, OSError, RuntimeError) as exc:
            raise EngineUnreachable(self._url, f"exec stream broke: {exc}") from exc

    async def close_stdin(self) -> None:
        """Half-close: the process reads EOF on stdin and its output still arrives (docker's CloseWrite)."""
        if self.closed:
            return
        await self._stream._init()
        transport = self._stream._resp.connection.transport if self._stream._resp.connection else None
        if transport is not None and transport.can_write_eof():
            transport.write_eof()

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self._stream.close()
