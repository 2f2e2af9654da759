"""Stream formats of the Docker API: 8-byte multiplexed frames, raw TTY streams,
JSON-lines progress, and the hijacked connection of attach and exec."""

from __future__ import annotations

import asyncio
import fcntl
import json
import socket
import struct
import termios
import time
from typing import Any

from aiohttp import web

MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"


def frame(stream: int, data: bytes) -> bytes:
    """One multiplexed frame: [stream, 0, 0, 0, size (big-endian u32)] + payload."""
    return struct.pack(">BxxxL", stream, len(data)) + data


class _RawParser:
    """Stands in for aiohttp's HTTP parser once a connection is hijacked: every byte the
    client sends from then on goes to `reader` instead of being parsed as a request."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.reader.feed_data(data)
        return False, b""

    def feed_eof(self) -> None:
        self.reader.feed_eof()


class _HalfCloseProtocol(asyncio.Protocol):
    """The docker CLI half-closes its side when it has no stdin to send. asyncio closes the
    transport on EOF unless eof_received returns True, which would cut the output short:
    this keeps it open for writing and ends only the input. All else goes to aiohttp."""

    def __init__(self, inner: asyncio.Protocol, reader: asyncio.StreamReader) -> None:
        self.inner = inner
        self.reader = reader

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool:
        self.reader.feed_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


async def hijack(request: web.Request, content_type: str) -> tuple[web.StreamResponse, asyncio.StreamReader]:
    """Take over the connection: 101 UPGRADED when the client asked for `Upgrade: tcp`
    (the docker CLI does), a plain streamed 200 otherwise."""
    reader = asyncio.StreamReader()
    upgrade = request.headers.get("Upgrade", "").lower() == "tcp"
    protocol = request.protocol
    if upgrade and protocol is not None:
        # aiohttp holds back the bytes after an upgrade request until a parser is set.
        protocol.set_parser(_RawParser(reader))  # type: ignore[arg-type]

        transport = request.transport
        if transport is not None:
            transport.set_protocol(_HalfCloseProtocol(protocol, reader))
        resp = web.StreamResponse(status=101, reason="UPGRADED",
                                  headers={"Content-Type": content_type, "Connection": "Upgrade",
                                           "Upgrade": "tcp"})
    else:
        reader.feed_eof()
        resp = web.StreamResponse(status=200, headers={"Content-Type": content_type})
    resp.force_close()
    await resp.prepare(request)
    if upgrade:
        await _headers_read(request)
    return resp, reader


HEADERS_READ_WAIT = 0.1  # seconds; a client that never reads gets its stream anyway


async def _headers_read(request: web.Request) -> None:
    """Wait (briefly) until the client has read the 101 response. docker-py reads the headers
    through a buffered file and then takes the bare socket: bytes that arrived with the headers
    stay in that buffer and are lost, so a quick `echo` replayed at once came back empty.
    The socket's unread count (SIOCOUTQ: on a Unix socket, what the peer has not read yet)
    says when the headers are gone; the docker CLI reads them at once, so this costs ~nothing."""
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family != socket.AF_UNIX:
        return
    buf = bytearray(4)
    deadline = time.monotonic() + HEADERS_READ_WAIT
    while time.monotonic() < deadline:
        try:
            fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buf)
        except OSError:
            return
        if int.from_bytes(buf, "little") == 0:
            return
        await asyncio.sleep(0.0005)


async def json_stream(request: web.Request, status: int = 200) -> web.StreamResponse:
    resp = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    return resp


async def write_json_line(resp: web.StreamResponse, obj: Any) -> None:
    await resp.write(json.dumps(obj).encode() + b"\r\n")
