"""/swarm, /nodes, /services, /tasks, /secrets and /configs: berthd's single-node swarm.

Outside a swarm every endpoint answers as a stock dockerd outside one (503 with its words).
Inside one (after `docker swarm init`), the swarm and its one node are shown; joining another
swarm is refused (berthd runs single-node swarms only), and services, tasks, secrets and
configs answer 501, naming what to use instead: berthd schedules nothing.
"""

from __future__ import annotations

import os
import platform

from aiohttp import web

from engine import __version__
from engine.api.app import Handler, Routes, backend
from engine.api.params import filters, flag, json_body
from engine.containers.logs import KEPT_DRIVERS
from engine.containers.stats import host_memory
from engine.errors import Conflict, NotImplementedHere
from engine.swarm.service import NodeDescription, SwarmService
from engine.swarm.spec import parse_init, parse_update

# What the endpoints below each prefix hold, as the 501 names it.
UNSCHEDULED = {"/services": "services", "/tasks": "tasks", "/secrets": "secrets", "/configs": "configs"}


def swarm(request: web.Request) -> SwarmService:
    return backend(request).swarm


def _me(request: web.Request) -> NodeDescription:
    return NodeDescription(hostname=backend(request).hostname, architecture=platform.machine(),
                           ncpu=os.cpu_count() or 1, memory=host_memory(), engine_version=__version__,
                           plugins=(*(("Log", d) for d in sorted(KEPT_DRIVERS)), ("Network", "bridge"),
                                    ("Network", "host"), ("Network", "null"), ("Network", "overlay"),
                                    ("Volume", "local")))


async def init(request: web.Request) -> web.Response:
    req = parse_init(await json_body(request))
    return web.json_response(await swarm(request).init(req))


async def join(request: web.Request) -> web.Response:
    swarm(request).join()
    return web.Response(status=200)


async def leave(request: web.Request) -> web.Response:
    await swarm(request).leave(flag(request, "force"))
    return web.Response(status=200)


async def inspect(request: web.Request) -> web.Response:
    return web.json_response(swarm(request).inspect())


async def update(request: web.Request) -> web.Response:
    req = parse_update(dict(request.query), await json_body(request, required=False))
    swarm(request).update(req)
    return web.Response(status=200)


async def unlock_key(request: web.Request) -> web.Response:
    swarm(request).manager()
    return web.json_response({"UnlockKey": ""})  # never locked: see engine.swarm.spec.check_spec


async def unlock(request: web.Request) -> web.Response:
    swarm(request).manager()
    raise Conflict("swarm is not locked")


async def list_nodes(request: web.Request) -> web.Response:
    return web.json_response(swarm(request).nodes(filters(request), _me(request)))


async def inspect_node(request: web.Request) -> web.Response:
    return web.json_response(swarm(request).node(request.match_info["id"], _me(request)))


async def change_node(request: web.Request) -> web.Response:
    svc = swarm(request)
    svc.node(request.match_info["id"], _me(request))
    raise NotImplementedHere("berthd's single-node swarm keeps its one node an active manager: "
                             "it cannot be updated or removed (docker swarm leave --force ends the swarm)")


def unscheduled(what: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        raise swarm(request).no_services(what)
    return handler


def register(routes: Routes) -> None:
    routes.add("GET", "/swarm", inspect)
    routes.add("GET", "/swarm/unlockkey", unlock_key)
    routes.add("POST", "/swarm/unlock", unlock)
    routes.add("POST", "/swarm/update", update)
    routes.add("POST", "/swarm/leave", leave)
    routes.add("POST", "/swarm/init", init)
    routes.add("POST", "/swarm/join", join)
    routes.add("GET", "/nodes", list_nodes)
    routes.add("GET", "/nodes/{id}", inspect_node)
    routes.add("DELETE", "/nodes/{id}", change_node)
    routes.add("POST", "/nodes/{id}/update", change_node)
    for prefix, what in UNSCHEDULED.items():
        routes.add("*", prefix, unscheduled(what))
        routes.add("*", prefix + "/{rest:.+}", unscheduled(what))
