"""Berth's own endpoints, under /berth/v1 (documented in docs/berth-api.md): what the desktop
needs beyond the Docker API. Volumes: list files, export as tar, import a tar, clone."""

from __future__ import annotations

import asyncio

from aiohttp import web

from engine.api.app import Routes
from engine.api.params import flag, json_body
from engine.api.volumes import volumes
from engine.errors import InvalidArgument
from engine.images.service import AsyncByteSource
from engine.volumes import files

PREFIX = "/berth/v1"
CHUNK = 1 << 16


async def list_files(request: web.Request) -> web.Response:
    vol = volumes(request).store.get(request.match_info["name"])
    listing = await asyncio.to_thread(files.list_files, vol, request.query.get("path", "/"))
    return web.json_response(listing)


async def export_volume(request: web.Request) -> web.StreamResponse:
    vol = volumes(request).store.get(request.match_info["name"])
    resp = web.StreamResponse(status=200, headers={
        "Content-Type": "application/x-tar", "Content-Disposition": f'attachment; filename="{vol.name}.tar"'})
    await resp.prepare(request)
    async for chunk in files.export_tar(vol):
        await resp.write(chunk)
    await resp.write_eof()
    return resp


async def import_volume(request: web.Request) -> web.Response:
    svc = volumes(request)
    name = request.match_info["name"]
    vol = svc.store.create(name) if flag(request, "create") else svc.store.get(name)
    source = AsyncByteSource(request.content.iter_chunked(CHUNK), asyncio.get_running_loop())
    written = await asyncio.to_thread(files.import_tar, vol, source)
    return web.json_response({"Volume": vol.name, "BytesWritten": written})


async def clone_volume(request: web.Request) -> web.Response:
    svc = volumes(request)
    source = svc.store.get(request.match_info["name"])
    body = await json_body(request, required=False) or {}
    target = request.query.get("name") or (body.get("Name") if isinstance(body, dict) else None)
    if not target or not isinstance(target, str):
        raise InvalidArgument('name the new volume: ?name=<new> or {"Name": "<new>"}')
    vol = await asyncio.to_thread(files.clone, svc.store, source, target)
    svc.created(vol)
    return web.json_response(vol.to_api(), status=201)


def register(routes: Routes) -> None:
    # Berth's endpoints are not versioned with the Docker API: /berth/v1 is their own version.
    app = routes.app
    app.router.add_get(f"{PREFIX}/volumes/{{name}}/files", list_files)
    app.router.add_get(f"{PREFIX}/volumes/{{name}}/export", export_volume)
    app.router.add_put(f"{PREFIX}/volumes/{{name}}/import", import_volume)
    app.router.add_post(f"{PREFIX}/volumes/{{name}}/import", import_volume)
    app.router.add_post(f"{PREFIX}/volumes/{{name}}/clone", clone_volume)
