"""/volumes: list, create, inspect, remove, prune (the local driver). The rules and the events are
engine/volumes/service.py's; this module reads the request and writes the answer."""

from __future__ import annotations

from aiohttp import web

from engine.api.app import Routes, backend
from engine.api.params import filter_args, flag, json_body
from engine.volumes.service import VolumeService


def volumes(request: web.Request) -> VolumeService:
    return backend(request).volumes.service


async def list_volumes(request: web.Request) -> web.Response:
    out = volumes(request).list(filter_args(request), usage=flag(request, "usage"))
    return web.json_response({"Volumes": out, "Warnings": []})


async def create(request: web.Request) -> web.Response:
    vol = volumes(request).create(await json_body(request, required=False) or {})
    return web.json_response(vol.to_api(), status=201)


async def inspect(request: web.Request) -> web.Response:
    return web.json_response(volumes(request).inspect(request.match_info["name"], usage=flag(request, "usage")))


async def remove(request: web.Request) -> web.Response:
    volumes(request).remove(request.match_info["name"], force=flag(request, "force"))
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    removed, reclaimed = volumes(request).prune(filter_args(request))
    return web.json_response({"VolumesDeleted": removed, "SpaceReclaimed": reclaimed})


def register(routes: Routes) -> None:
    routes.add("GET", "/volumes", list_volumes)
    routes.add("POST", "/volumes/create", create)
    routes.add("POST", "/volumes/prune", prune)
    routes.add("GET", "/volumes/{name}", inspect)
    routes.add("DELETE", "/volumes/{name}", remove)
