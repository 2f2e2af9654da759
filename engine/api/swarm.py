"""/swarm, /nodes, /services, /tasks, /secrets and /configs: answered as a dockerd outside a swarm.

berthd does not do swarm mode. Clients still ask (docker-py's test helpers leave a swarm after
each test, `docker info` users run `docker node ls`), and a 404 "page not found" would read as an
engine too old to know the endpoint. So every swarm endpoint answers as a stock dockerd that is not
in a swarm does (503 with its words), and init/join say plainly that this engine cannot take part.
"""

from __future__ import annotations

from aiohttp import web

from engine.api.app import Routes, error_response

NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
                 "to connect this node to swarm and try again.")
NOT_IN_A_SWARM = "This node is not part of a swarm"
NO_SWARM_MODE = ("berthd does not support swarm mode: this node cannot initialize or join a swarm "
                 "(use docker compose, or a dockerd, for services)")

# Resources that only a swarm manager has; every method on them and below them.
MANAGER_RESOURCES = ("/nodes", "/services", "/tasks", "/secrets", "/configs")


async def not_a_manager(_request: web.Request) -> web.Response:
    return error_response(503, NOT_A_MANAGER)


async def leave(_request: web.Request) -> web.Response:
    # With or without force: there is nothing to leave.
    return error_response(503, NOT_IN_A_SWARM)


async def no_swarm_mode(_request: web.Request) -> web.Response:
    return error_response(503, NO_SWARM_MODE)


def register(routes: Routes) -> None:
    routes.add("GET", "/swarm", not_a_manager)
    routes.add("GET", "/swarm/unlockkey", not_a_manager)
    routes.add("POST", "/swarm/unlock", not_a_manager)
    routes.add("POST", "/swarm/update", not_a_manager)
    routes.add("POST", "/swarm/leave", leave)
    routes.add("POST", "/swarm/init", no_swarm_mode)
    routes.add("POST", "/swarm/join", no_swarm_mode)
    for resource in MANAGER_RESOURCES:
        routes.add("*", resource, not_a_manager)
        routes.add("*", resource + "/{rest:.+}", not_a_manager)
