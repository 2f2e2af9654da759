"""The HTTP surface: an aiohttp application serving the Docker Engine API v1.45.

Each resource has its own router module; every route is reachable with and without the
`/v1.xx` prefix. Domain errors become `{"message": ...}` with the spec's status code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from engine import API_VERSION, MIN_API_VERSION
from engine.backend import Backend
from engine.errors import EngineError
from engine.storage.space import disk_full

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BACKEND: web.AppKey[Backend] = web.AppKey("backend", Backend)


def backend(request: web.Request) -> Backend:
    return request.app[BACKEND]


def error_response(status: int, message: str) -> web.Response:
    # Exactly "application/json": the docker CLI parses an error body only then.
    return web.Response(status=status, body=json.dumps({"message": message}).encode() + b"\n",
                        headers={"Content-Type": "application/json"})


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


def requested_below(request: web.Request, version: str) -> bool:
    """Whether the request names an API version older than `version` (an unversioned path is
    the newest), for fields dockerd returns only to older clients. The middleware checked it."""
    raw = request.match_info.get("api_version")
    return raw is not None and _version_tuple(raw) < _version_tuple(version)


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    version = request.match_info.get("api_version")
    if version is not None:
        try:
            requested = _version_tuple(version)
        except ValueError:
            return error_response(400, f"invalid API version: {version}")
        if requested > _version_tuple(API_VERSION):
            return error_response(
                400, f"client version {version} is too new. Maximum supported API version is {API_VERSION}")
        if requested < _version_tuple(MIN_API_VERSION):
            return error_response(
                400, f"client version {version} is too old. Minimum supported API version is "
                     f"{MIN_API_VERSION}, please upgrade your client to a newer version")
    try:
        return await handler(request)
    except EngineError as e:
        if e.status == 304:
            return web.Response(status=304)
        return error_response(e.status, e.message)
    except web.HTTPException as e:
        if e.status >= 400:
            return error_response(e.status, e.reason if e.status != 404 else "page not found")
        raise
    except (ConnectionResetError, BrokenPipeError):
        raise
    except Exception as e:
        full = disk_full(e, backend(request).paths.root)  # the user's to fix: said, naming the disk
        if full is not None:
            return error_response(full.status, full.message)
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, f"internal error: {type(e).__name__}: {e}".splitlines()[0])


@web.middleware
async def server_header(request: web.Request, handler: Handler) -> web.StreamResponse:
    resp = await handler(request)
    if not resp.prepared:
        resp.headers.setdefault("Api-Version", API_VERSION)
        resp.headers.setdefault("Server", "Berth (linux)")
    return resp


class Routes:
    """Registers each route twice: unversioned and under /v{version}."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self._taken: set[tuple[str, str]] = set()

    def add(self, method: str, path: str, handler: Handler) -> None:
        # The first router to claim a route keeps it (system's /system/df over the one images.py
        # still registers), so no handler sits unreachable behind another.
        if (method, path) in self._taken:
            return
        self._taken.add((method, path))
        self.app.router.add_route(method, path, handler)
        self.app.router.add_route(method, r"/v{api_version:[0-9]+(?:\.[0-9]+)*}" + path, handler)


def build_app(engine: Backend) -> web.Application:
    from engine.api import (
        auth,
        berth_ext,
        build,
        commit,
        container_files,
        containers,
        distribution,
        events,
        execs,
        images,
        networks,
        swarm,
        system,
        volumes,
    )

    app = web.Application(middlewares=[server_header, api_errors], client_max_size=0)
    app[BACKEND] = engine
    routes = Routes(app)
    for module in (system, events, containers, container_files, execs, images, volumes, networks, berth_ext,
                   distribution, auth, commit, build, swarm):
        module.register(routes)
    return app
