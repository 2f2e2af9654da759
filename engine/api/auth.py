"""/auth: check registry credentials (what `docker login` asks the daemon)."""

from __future__ import annotations

from aiohttp import web

from engine.api.app import Routes, backend
from engine.api.params import json_body
from engine.errors import InvalidArgument
from engine.images.auth import credentials_from_json


async def login(request: web.Request) -> web.Response:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidArgument("the request body must be an AuthConfig object")
    return web.json_response(await backend(request).images.login(credentials_from_json(body)))


def register(routes: Routes) -> None:
    routes.add("POST", "/auth", login)
