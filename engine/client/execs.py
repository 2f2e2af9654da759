"""`ExecStream`: the hijacked connection of a started exec (or attach), bytes both ways.

aiodocker's `Stream` does the upgrade and the frame parsing; this wrapper keeps its type out of
callers and turns its errors into the client's two kinds.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from aiodocker.exceptions import DockerError

from engine.client.errors import EngineClientError, EngineUnreachable
from engine.client.streams import STREAM_NAMES


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
