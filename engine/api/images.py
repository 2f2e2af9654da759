"""/images: list, create (import and pull), inspect, history, tag, push, remove, get/save, load,
prune. (/system/df is the system router's.)"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from engine.api.app import Routes, backend, requested_below
from engine.api.params import filters, flag
from engine.api.streams import json_stream, write_json_line
from engine.errors import EngineError, InvalidArgument
from engine.images.auth import decode_registry_auth
from engine.images.progress import CodedError, ProgressSink, error_line

log = logging.getLogger(__name__)

CHUNK = 1 << 16


# Seconds between checks that the client of a progress stream is still there, for work that goes
# quiet (a long RUN); work that reports is also stopped at its next line (see `report` below).
_CLIENT_CHECK = 1.0


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


class ClientGone(Exception):
    """Raised into work whose progress stream's client has left."""


async def with_progress(request: web.Request, work: Callable[[ProgressSink], Awaitable[Any]],
                        eager: bool = False) -> web.StreamResponse:
    """Run `work`, streaming what it reports as JSON lines.

    As in Docker, the 200 is only sent with the first line: an error before that (bad name,
    unknown manifest, refused credentials) is a plain error response with its own status; an
    error after it becomes a final `{"errorDetail": ..., "error": ...}` line. `eager` sends the
    200 at once, so every error is a line (dockerd's load and build). If the client goes away,
    the work is cancelled.
    """
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def report(line: dict[str, Any]) -> None:
        # Checked at every line too: work that reports as it goes (a build before each step) stops
        # there, before it starts something for nobody, not at the next periodic check.
        if _client_gone(request):
            raise ClientGone("the client of this stream went away")
        queue.put_nowait(line)

    task = asyncio.ensure_future(work(report))
    resp: web.StreamResponse | None = await json_stream(request) if eager else None
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            done: set[asyncio.Future[Any]] = set()
            while not done:
                done, _ = await asyncio.wait({getter, task}, timeout=_CLIENT_CHECK,
                                             return_when=asyncio.FIRST_COMPLETED)
                if not done and _client_gone(request):
                    # aiohttp does not cancel a handler whose client left: a quiet step (a long RUN)
                    # would go on for nobody until its next line. The finally below cancels the work.
                    getter.cancel()
                    return resp if resp is not None else web.Response(status=499)
            if getter not in done:
                getter.cancel()
                break
            if resp is None:
                resp = await json_stream(request)
            await write_json_line(resp, getter.result())
        while not queue.empty():
            if resp is None:
                resp = await json_stream(request)
            await write_json_line(resp, queue.get_nowait())
        error = task.exception()
        if isinstance(error, ClientGone):
            return resp if resp is not None else web.Response(status=499)
        if error is not None:
            if resp is None:
                raise error
            if isinstance(error, EngineError):
                message = error.message
            elif isinstance(error, OSError) and error.errno == errno.ENOSPC:
                # a full data root is the user's to fix, not an internal error
                message = f"no space left on device: free space under berthd's data root and retry ({error})"
            else:
                log.error("%s %s failed", request.method, request.path, exc_info=error)
                message = f"internal error: {type(error).__name__}: {error}".splitlines()[0]
            code = error.exit_code if isinstance(error, CodedError) else 0
            await write_json_line(resp, error_line(message, code))
        if resp is None:
            resp = await json_stream(request)
        return resp
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def list_images(request: web.Request) -> web.Response:
    images = backend(request).images.list(filters(request), all=flag(request, "all"))
    if requested_below(request, "1.44"):
        for summary in images:
            summary["VirtualSize"] = summary["Size"]  # as dockerd 25 still answers older clients
    return web.json_response(images)


async def create(request: web.Request) -> web.StreamResponse:
    b = backend(request)
    images = b.images
    src = request.query.get("fromSrc")
    if src is None:
        name = request.query.get("fromImage", "")
        if not name:
            raise InvalidArgument("give fromSrc=- (import a rootfs tar) or fromImage=<name> (pull)")
        credentials = decode_registry_auth(request.headers.get("X-Registry-Auth"))
        tag = request.query.get("tag") or None
        platform = request.query.get("platform") or None

        async def pull(sink: ProgressSink) -> None:
            result = await images.pull(name, tag, platform, credentials, sink)
            b.events.publish("image", "pull", result.image_id, {"name": name if not tag else
                                                                 f"{name}{'@' if ':' in tag else ':'}{tag}"})

        return await with_progress(request, pull)
    if src != "-":
        raise InvalidArgument("only fromSrc=- (the tar in the request body) is supported; "
                              "download the file and send it as the body")
    image_id = await images.import_rootfs(
        request.content.iter_chunked(CHUNK),
        repo=request.query.get("repo") or None,
        tag=request.query.get("tag") or None,
        message=request.query.get("message", ""),
        changes=request.query.getall("changes", []),
        platform=request.query.get("platform") or None,
    )
    b.events.publish("image", "import", image_id, {"name": request.query.get("repo", "")})
    resp = await json_stream(request)
    await write_json_line(resp, {"status": image_id})
    return resp


async def push(request: web.Request) -> web.StreamResponse:
    b = backend(request)
    name = request.match_info["name"]
    tag = request.query.get("tag") or None
    credentials = decode_registry_auth(request.headers.get("X-Registry-Auth"))

    async def work(sink: ProgressSink) -> None:
        for pushed in await b.images.push(name, tag, credentials, sink):
            b.events.publish("image", "push", f"{name}:{pushed.tag}", {"name": f"{name}:{pushed.tag}"})

    return await with_progress(request, work)


async def inspect(request: web.Request) -> web.Response:
    body = backend(request).images.inspect(request.match_info["name"])
    # VirtualSize went in API 1.44, as dockerd 25 has it. Container and ContainerConfig stay at
    # every version, unlike dockerd 25: docker-compose 1.29 negotiates the newest API and then
    # reads ContainerConfig (a KeyError without it), and a client ignores a field it does not know.
    if not requested_below(request, "1.44"):
        body.pop("VirtualSize", None)
    return web.json_response(body)


async def history(request: web.Request) -> web.Response:
    return web.json_response(backend(request).images.history(request.match_info["name"]))


async def tag(request: web.Request) -> web.Response:
    repo = request.query.get("repo")
    if not repo:
        raise InvalidArgument("repo is required: the new name for the image")
    b = backend(request)
    ref = b.images.tag(request.match_info["name"], repo, request.query.get("tag") or None)
    b.events.publish("image", "tag", b.images.resolve(ref.familiar()).id, {"name": ref.familiar()})
    return web.Response(status=201)


async def remove(request: web.Request) -> web.Response:
    b = backend(request)
    records = b.images.delete(request.match_info["name"], force=flag(request, "force"),
                              prune=not flag(request, "noprune"))
    _publish_removals(request, records)
    return web.json_response(records)


def _publish_removals(request: web.Request, records: list[dict[str, str]]) -> None:
    b = backend(request)
    for rec in records:
        for action, ident in rec.items():
            if ident.startswith("sha256:") and action == "Deleted" and not b.images.store.exists(ident):
                b.events.publish("image", "delete", ident)
            elif action == "Untagged":
                b.events.publish("image", "untag", ident)


async def _send_archive(request: web.Request, names: list[str]) -> web.StreamResponse:
    images = backend(request).images
    plan = images.plan_save(names)  # 404 before any byte is sent
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/x-tar"})
    await resp.prepare(request)
    async for chunk in images.save(plan):
        await resp.write(chunk)
    await resp.write_eof()
    return resp


async def get_one(request: web.Request) -> web.StreamResponse:
    return await _send_archive(request, [request.match_info["name"]])


async def get_many(request: web.Request) -> web.StreamResponse:
    return await _send_archive(request, request.query.getall("names", []))


async def load(request: web.Request) -> web.StreamResponse:
    b = backend(request)

    async def work(sink: ProgressSink) -> None:
        for image_id in await b.images.load(request.content.iter_chunked(CHUNK), sink):
            b.events.publish("image", "load", image_id)

    # dockerd answers 200 before reading the archive: a bad one is an error line in the stream,
    # which docker-py's images.load() raises as ImageLoadError.
    return await with_progress(request, work, eager=True)


async def prune(request: web.Request) -> web.Response:
    b = backend(request)
    result = b.images.prune(filters(request))
    _publish_removals(request, result["ImagesDeleted"] or [])
    return web.json_response(result)


def register(routes: Routes) -> None:
    routes.add("GET", "/images/json", list_images)
    routes.add("POST", "/images/create", create)
    routes.add("GET", "/images/get", get_many)
    routes.add("POST", "/images/load", load)
    routes.add("POST", "/images/prune", prune)
    routes.add("GET", "/images/{name:.+}/json", inspect)
    routes.add("GET", "/images/{name:.+}/history", history)
    routes.add("GET", "/images/{name:.+}/get", get_one)
    routes.add("POST", "/images/{name:.+}/tag", tag)
    routes.add("POST", "/images/{name:.+}/push", push)
    routes.add("DELETE", "/images/{name:.+}", remove)
