"""How bytes reach an engine: an aiohttp connector and base URL for each kind of address.

`EngineClient`'s request layer (`base.py`) builds its session here, for the desktop, the `berth`
CLI and compose alike, so unix://, tcp:// and tcp:// with TLS behave the same everywhere.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler

from engine.client.address import socket_path
from engine.client.tls import TLSFiles, https_url


class _FinishedConnects(aiohttp.BaseConnector):
    """Cancelling a connect half-way (a window closing while a request starts) leaves its socket or
    TLS transport open with nobody to close it. So each connect runs to its end in its own task;
    one whose caller was cancelled meanwhile is closed as soon as it is made, and `finish_connects`
    (before `close`) waits for those still under way."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connects: set[asyncio.Future[ResponseHandler]] = set()

    async def _create_connection(self, *args: Any, **kwargs: Any) -> ResponseHandler:
        connect = asyncio.ensure_future(super()._create_connection(*args, **kwargs))
        self._connects.add(connect)
        connect.add_done_callback(self._connects.discard)
        try:
            return await asyncio.shield(connect)
        except asyncio.CancelledError:
            connect.add_done_callback(_close_unwanted)
            raise

    async def finish_connects(self) -> None:
        """Wait for connects under way (each bounded by the connect timeout) so none outlives the client."""
        pending = list(self._connects)
        if pending:
            await asyncio.wait(pending)


async def finish_connects(connector: aiohttp.BaseConnector | None) -> None:
    if isinstance(connector, _FinishedConnects):
        await connector.finish_connects()


def _close_unwanted(connect: asyncio.Future[ResponseHandler]) -> None:
    if not connect.cancelled() and connect.exception() is None:
        connect.result().close()


class UnixConnector(_FinishedConnects, aiohttp.UnixConnector):
    pass


class TCPConnector(_FinishedConnects, aiohttp.TCPConnector):
    pass


def open_connector(url: str, tls: TLSFiles | None) -> tuple[aiohttp.BaseConnector, str]:
    """(connector, base URL) for an engine address; ValueError (TLSSetupError among them) says what is wrong."""
    path = socket_path(url)
    if path is not None:
        return UnixConnector(path=str(path)), "http://localhost"
    if url.startswith("tcp://") and tls is not None:
        return TCPConnector(ssl=tls.ssl_context()), https_url(url)
    if url.startswith(("tcp://", "http://")):
        return TCPConnector(), "http://" + url.split("://", 1)[1].rstrip("/")
    raise ValueError(f"unsupported engine address {url!r}: use unix:///path/engine.sock or tcp://host:port")
