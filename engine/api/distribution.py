"""/distribution/{name}/json: what a registry holds for a name (descriptor and platforms)."""

from __future__ import annotations

from aiohttp import web

from engine.api.app import Routes, backend
from engine.images.auth import decode_registry_auth


async def inspect(request: web.Request) -> web.Response:
    credentials = decode_registry_auth(request.headers.get("X-Registry-Auth"))
    return web.json_response(await backend(request).images.distribution(request.match_info["name"], credentials))


def register(routes: Routes) -> None:
    routes.add("GET", "/distribution/{name:.+}/json", inspect)
