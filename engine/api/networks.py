"""/networks: list, inspect, create, remove, prune, connect and disconnect."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from engine.api.app import Routes, backend
from engine.api.params import filters, json_body
from engine.errors import InvalidArgument, NotFound
from engine.formats import now_ns
from engine.formats import timestamp_ns as parse_timestamp
from engine.labels import labels_match
from engine.networks.service import NetworkService
from engine.networks.store import Network


def networks(request: web.Request) -> NetworkService:
    return backend(request).networks


def _matches(svc: NetworkService, n: Network, flt: dict[str, list[str]]) -> bool:
    if "name" in flt and not any(v in n.name for v in flt["name"]):
        return False
    if "id" in flt and not any(n.id.startswith(v) for v in flt["id"]):
        return False
    if "driver" in flt and n.driver not in flt["driver"]:
        return False
    if "scope" in flt and n.scope not in flt["scope"]:
        return False
    if "type" in flt:
        kind = "builtin" if n.predefined else "custom"
        if kind not in flt["type"]:
            return False
    if "dangling" in flt:
        want = flt["dangling"][-1].lower() in ("1", "true")
        used = bool(svc.store.endpoints(network_id=n.id))
        if want == (used or n.predefined):
            return False
    return labels_match(n.labels, flt.get("label", []))


async def list_networks(request: web.Request) -> web.Response:
    svc = networks(request)
    flt = filters(request)
    return web.json_response(svc.inspect_all([n for n in svc.all() if _matches(svc, n, flt)]))


async def inspect(request: web.Request) -> web.Response:
    svc = networks(request)
    ref = request.match_info["id"]
    n = svc.get(ref)
    # Asked for in another scope than its own (a swarm network as local, any as global), it is not there.
    scope = request.query.get("scope", "")
    if scope and scope != n.scope:
        raise NotFound(f"network {ref} not found")
    return web.json_response(svc.inspect(n))


async def create(request: web.Request) -> web.Response:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidArgument("the request body must be a JSON object (NetworkCreateRequest)")
    n = await networks(request).create(body, backend(request).swarm.network_scope())
    return web.json_response({"Id": n.id, "Warning": ""}, status=201)


async def remove(request: web.Request) -> web.Response:
    await networks(request).remove(request.match_info["id"])
    return web.Response(status=204)


def _container(body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("Container"), str) or not body["Container"]:
        raise InvalidArgument('the body must name the container: {"Container": "<id or name>"}')
    return str(body["Container"])


async def connect(request: web.Request) -> web.Response:
    body = await json_body(request)
    settings = body.get("EndpointConfig") if isinstance(body, dict) else None
    await networks(request).connect(request.match_info["id"], _container(body), settings)
    return web.Response(status=200)


async def disconnect(request: web.Request) -> web.Response:
    body = await json_body(request)
    await networks(request).disconnect(request.match_info["id"], _container(body), bool(body.get("Force")))
    return web.Response(status=200)


async def prune(request: web.Request) -> web.Response:
    flt = filters(request)
    labels = list(flt.get("label", [])) + ["!" + v for v in flt.get("label!", [])]
    until = _until(flt["until"][-1]) if flt.get("until") else None
    removed = await networks(request).prune(labels, until)
    return web.json_response({"NetworksDeleted": removed or None})  # as dockerd: null when none went


def _until(value: str) -> int:
    """A prune `until`: a timestamp, or a duration before now such as 24h or 90m (Go's syntax, simply)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(h|m|s)", value.strip())
    if match:
        seconds = float(match.group(1)) * {"h": 3600, "m": 60, "s": 1}[match.group(2)]
        return now_ns() - int(seconds * 1e9)
    try:
        return parse_timestamp(value)
    except ValueError:
        raise InvalidArgument(f"invalid until filter {value!r}: use a timestamp or a duration like 24h") from None


def register(routes: Routes) -> None:
    routes.add("GET", "/networks", list_networks)
    routes.add("POST", "/networks/create", create)
    routes.add("POST", "/networks/prune", prune)
    routes.add("GET", "/networks/{id}", inspect)
    routes.add("DELETE", "/networks/{id}", remove)
    routes.add("POST", "/networks/{id}/connect", connect)
    routes.add("POST", "/networks/{id}/disconnect", disconnect)
