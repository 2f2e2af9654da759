"""/containers/{id}/exec and /exec/{id}: create, start (attached or detached), resize, inspect."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from engine.api.app import Routes, backend
from engine.api.params import fold_keys, integer, json_body
from engine.api.streams import MULTIPLEXED, RAW, frame, hijack
from engine.errors import Conflict, InvalidArgument

EXEC_CONFIG_KEYS = ("AttachStdin", "AttachStdout", "AttachStderr", "ConsoleSize", "DetachKeys", "Tty", "Env", "Cmd",
                    "Privileged", "User", "WorkingDir")


async def create(request: web.Request) -> web.Response:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidArgument("the request body must be a JSON object (an exec config)")
    session = backend(request).execs.create(request.match_info["id"], fold_keys(body, EXEC_CONFIG_KEYS))
    return web.json_response({"Id": session.id}, status=201)


async def start(request: web.Request) -> web.StreamResponse:
    execs = backend(request).execs
    body = await json_body(request, required=False) or {}
    if not isinstance(body, dict):
        raise InvalidArgument("the request body must be a JSON object")
    body = fold_keys(body, ("Detach", "Tty", "ConsoleSize"))
    session = execs.get(request.match_info["id"])
    if session.started:
        raise Conflict(f"exec {session.id} has already been started")
    # As dockerd: the process has a terminal if the exec was created with one; the start body's
    # Tty only says how the response is framed (raw, or multiplexed frames all on stdout).
    tty = bool(body.get("Tty", session.tty))
    if body.get("Detach"):
        await execs.start(session.id, None, None)
        return web.Response(status=200)
    # Refuse before taking over the connection, so the client gets a plain error.
    if not backend(request).containers.get(session.container_id).running:
        raise Conflict(f"Container {session.container_id} is not running")
    resp, reader = await hijack(request, RAW if tty else MULTIPLEXED)
    lock = asyncio.Lock()

    async def write(stream: int, data: bytes) -> None:
        async with lock:
            await resp.write(data if tty else frame(stream, data))

    try:
        await execs.start(session.id, write, reader)
    except Exception as e:  # the status line is gone: say it in the stream, as dockerd does
        with contextlib.suppress(ConnectionError):
            await write(2, f"Error: {getattr(e, 'message', e)}\n".encode())
    with contextlib.suppress(ConnectionError):
        await resp.write_eof()
    return resp


async def resize(request: web.Request) -> web.Response:
    h, w = integer(request, "h", 0) or 0, integer(request, "w", 0) or 0
    await backend(request).execs.resize(request.match_info["id"], h, w)
    return web.Response(status=200)


async def inspect(request: web.Request) -> web.Response:
    return web.json_response(backend(request).execs.get(request.match_info["id"]).inspect())


def register(routes: Routes) -> None:
    routes.add("POST", "/containers/{id}/exec", create)
    routes.add("POST", "/exec/{id}/start", start)
    routes.add("POST", "/exec/{id}/resize", resize)
    routes.add("GET", "/exec/{id}/json", inspect)
