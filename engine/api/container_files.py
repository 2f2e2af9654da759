"""/containers/{id}: archive (docker cp), export, changes (diff), top and stats.

The blocking work (walking trees, tarring, extracting) runs in worker threads; bytes cross
between them and the event loop through `_ResponseSink` and `_BodySource`. A worker owns the
fds it uses (duplicates), and a handler always waits for its worker to end, even when the
client goes away, so no fd is closed or view unmounted under a running worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from engine.api.app import BACKEND, Routes, backend
from engine.api.params import flag
from engine.api.streams import json_stream
from engine.containers import archive
from engine.containers.cgroups import cgroup_reader, container_cgroup_path
from engine.containers.changes import container_changes
from engine.containers.export import write_export
from engine.containers.hostspec import HostNetwork
from engine.containers.model import Container
from engine.containers.rootview import RootfsViews
from engine.containers.stats import StatsSampler, stats_json
from engine.containers.top import ps_ef, ps_with_args
from engine.errors import Conflict, Forbidden, InvalidArgument, NotFound

T = TypeVar("T")
log = logging.getLogger(__name__)

VIEWS: web.AppKey[RootfsViews] = web.AppKey("rootfs_views", RootfsViews)
PATH_STAT_HEADER = "X-Docker-Container-Path-Stat"
TAR = "application/x-tar"
SINK_FLUSH = 1 << 18
STATS_INTERVAL = 1.0


def _views(request: web.Request) -> RootfsViews:
    return request.app[VIEWS]


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run `fn` in a worker thread and, even if we are cancelled, wait for it to finish."""
    fut = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await fut
        raise


class _ResponseSink:
    """A blocking `write()` for a worker thread that streams into an aiohttp response."""

    def __init__(self, resp: web.StreamResponse, loop: asyncio.AbstractEventLoop) -> None:
        self.resp = resp
        self.loop = loop
        self.buffer = bytearray()

    def write(self, data: bytes, /) -> int:
        self.buffer += data
        if len(self.buffer) >= SINK_FLUSH:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self.buffer:
            chunk = bytes(self.buffer)
            self.buffer.clear()
            asyncio.run_coroutine_threadsafe(self.resp.write(chunk), self.loop).result()


class _BodySource:
    """A blocking `read()` for a worker thread, over the request body on the loop."""

    def __init__(self, request: web.Request, loop: asyncio.AbstractEventLoop) -> None:
        self.content = request.content
        self.loop = loop

    def read(self, size: int = -1, /) -> bytes:
        return asyncio.run_coroutine_threadsafe(self.content.read(size), self.loop).result()


def _container(request: web.Request) -> Container:
    return backend(request).containers.get(request.match_info["id"])


def _path_param(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise InvalidArgument("path is required: give the path inside the container, e.g. path=/etc")
    return path


# ---- archive ----------------------------------------------------------------------------------


async def archive_head(request: web.Request) -> web.Response:
    c = _container(request)
    path = _path_param(request)
    async with _views(request).open(c) as root_fd:
        located = await _in_thread(archive.locate, root_fd, path, c.name)
    with located:
        header = located.path_stat().header()
    return web.Response(status=200, headers={PATH_STAT_HEADER: header, "Content-Type": TAR})


async def archive_get(request: web.Request) -> web.StreamResponse:
    c = _container(request)
    path = _path_param(request)
    loop = asyncio.get_running_loop()
    async with _views(request).open(c) as root_fd:
        located = await _in_thread(archive.locate, root_fd, path, c.name)
        try:
            resp = web.StreamResponse(status=200, headers={
                PATH_STAT_HEADER: located.path_stat().header(), "Content-Type": TAR})
            await resp.prepare(request)
            sink = _ResponseSink(resp, loop)

            def produce() -> None:
                located.write_tar(sink)
                sink.flush()

            await _stream_from_worker(resp, produce)
        finally:
            located.close()
    return resp


async def archive_put(request: web.Request) -> web.Response:
    c = _container(request)
    path = _path_param(request)
    if c.spec.readonly_rootfs:
        raise Forbidden("container rootfs is marked read-only")
    no_overwrite = flag(request, "noOverwriteDirNonDir")
    copy_uid_gid = flag(request, "copyUIDGID")
    source = _BodySource(request, asyncio.get_running_loop())
    user = str(c.config.get("User") or "")

    def extract(root_fd: int) -> None:
        owner = archive.container_owner(root_fd, user) if copy_uid_gid else None
        with archive.extraction_dir(root_fd, path, c.name) as dest:
            archive.extract(dest, source, archive.ExtractOptions(no_overwrite_dir_non_dir=no_overwrite,
                                                                 owner=owner))

    async with _views(request).open(c) as root_fd:
        await _in_thread(_with_dup, root_fd, extract)
    return web.Response(status=200)


async def _stream_from_worker(resp: web.StreamResponse, fn: Callable[..., None], *args: Any) -> None:
    """Run a worker that writes the body of an already started response. Its failure can no
    longer become an error status: the tar is cut short, which clients notice, as with dockerd."""
    try:
        await _in_thread(fn, *args)
    except (ConnectionResetError, BrokenPipeError):
        pass
    except Exception:
        log.exception("streaming %s failed", resp.headers.get("Content-Type"))
        resp.force_close()


def _with_dup(fd: int, fn: Callable[[int], None]) -> None:
    """Run `fn` on a duplicate of `fd` that the worker owns."""
    own = os.dup(fd)
    try:
        fn(own)
    finally:
        os.close(own)


# ---- export and changes -----------------------------------------------------------------------


async def export(request: web.Request) -> web.StreamResponse:
    c = _container(request)
    loop = asyncio.get_running_loop()
    async with _views(request).open(c, mounts=False) as root_fd:
        resp = web.StreamResponse(status=200, headers={"Content-Type": TAR})
        await resp.prepare(request)
        sink = _ResponseSink(resp, loop)

        def produce(fd: int) -> None:
            write_export(fd, sink)
            sink.flush()

        await _stream_from_worker(resp, _with_dup, root_fd, produce)
    return resp


async def changes(request: web.Request) -> web.Response:
    svc = backend(request).containers
    c = _container(request)
    lowers = svc.images.layer_dirs(c.image_id)
    found = await _in_thread(container_changes, svc.data_dir(c.id) / "upper", lowers)
    return web.json_response([ch.as_json() for ch in found])


# ---- top and stats ----------------------------------------------------------------------------


async def top(request: web.Request) -> web.Response:
    c = _container(request)
    if not c.running:
        raise Conflict(f"Container {c.id} is not running")
    pids = await _in_thread(cgroup_reader(container_cgroup_path(c.id)).pids)
    if not pids and c.pid:
        pids = [c.pid]
    ps_args = request.query.get("ps_args", "").strip()
    table = await ps_with_args(ps_args, pids) if ps_args else await _in_thread(ps_ef, pids)
    return web.json_response(table.as_json())


def _sampler(c: Container) -> StatsSampler:
    return StatsSampler(c.name, c.id, container_cgroup_path(c.id), c.pid,
                        with_networks=not isinstance(c.spec.network, HostNetwork))


async def stats(request: web.Request) -> web.StreamResponse:
    svc = backend(request).containers
    c = _container(request)
    stream = flag(request, "stream", default=True)
    one_shot = flag(request, "one-shot")
    if stream and one_shot:
        raise InvalidArgument("cannot have stream=true and one-shot=true: use one-shot with stream=false")
    if not stream:
        if not c.running:
            return web.json_response(stats_json(c.name, c.id, None, None))
        sampler = _sampler(c)
        try:
            report = await _in_thread(sampler.report)
            if not one_shot:
                # Like dockerd: a second reading a tick later, so precpu_stats is filled in and
                # `docker stats --no-stream` can compute CPU %.
                await asyncio.sleep(STATS_INTERVAL)
                report = await _in_thread(sampler.report)
        finally:
            sampler.close()
        return web.json_response(report)
    resp = await json_stream(request)
    current: StatsSampler | None = None
    try:
        with contextlib.suppress(ConnectionResetError):
            while True:
                started = time.monotonic()
                try:
                    c = svc.get(c.id)
                except NotFound:
                    break  # removed: the stream ends, as dockerd's does
                if c.running:
                    if current is None or current.pid != c.pid:
                        if current is not None:
                            current.close()
                        current = _sampler(c)
                    report = await _in_thread(current.report)
                else:
                    if current is not None:
                        current.close()
                    current = None
                    report = stats_json(c.name, c.id, None, None)
                await resp.write(json.dumps(report).encode() + b"\n")
                await asyncio.sleep(max(0.0, STATS_INTERVAL - (time.monotonic() - started)))
    finally:
        if current is not None:
            current.close()
    return resp


def register(routes: Routes) -> None:
    routes.app[VIEWS] = RootfsViews(routes.app[BACKEND].containers)
    routes.add("HEAD", "/containers/{id}/archive", archive_head)
    routes.add("GET", "/containers/{id}/archive", archive_get)
    routes.add("PUT", "/containers/{id}/archive", archive_put)
    routes.add("GET", "/containers/{id}/export", export)
    routes.add("GET", "/containers/{id}/changes", changes)
    routes.add("GET", "/containers/{id}/top", top)
    routes.add("GET", "/containers/{id}/stats", stats)
