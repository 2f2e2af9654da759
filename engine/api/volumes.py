"""/volumes: list, create, inspect, remove, prune (the local driver)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.api.app import Routes, backend
from engine.api.params import filters, flag, json_body
from engine.errors import InvalidArgument, NotFound
from engine.labels import labels_match
from engine.volumes.mounts import VolumeMounts
from engine.volumes.store import Volume


def volumes(request: web.Request) -> VolumeMounts:
    return backend(request).volumes


def _matches(vol: Volume, users: int, flt: dict[str, list[str]]) -> bool:
    if "name" in flt and not any(n in vol.name for n in flt["name"]):
        return False
    if "driver" in flt and vol.driver not in flt["driver"]:
        return False
    if "dangling" in flt:
        want = flt["dangling"][-1].lower() in ("1", "true")
        if want != (users == 0):
            return False
    return labels_match(vol.labels, flt.get("label", []))


async def list_volumes(request: web.Request) -> web.Response:
    svc = volumes(request)
    flt = filters(request)
    usage = flag(request, "usage")
    out: list[dict[str, Any]] = []
    for vol in svc.store.all():
        users = len(svc.store.users(vol.name))
        if _matches(vol, users, flt):
            out.append(vol.to_api(svc.store.usage(vol) if usage else None))
    return web.json_response({"Volumes": out, "Warnings": []})


async def create(request: web.Request) -> web.Response:
    svc = volumes(request)
    body = await json_body(request, required=False) or {}
    if not isinstance(body, dict):
        raise InvalidArgument("the request body must be a JSON object (VolumeCreateOptions)")
    for key, kind in (("Name", str), ("Driver", str), ("DriverOpts", dict), ("Labels", dict)):
        if body.get(key) is not None and not isinstance(body[key], kind):
            raise InvalidArgument(f"{key} must be a {'string' if kind is str else 'JSON object'}")
    name = body.get("Name") or None
    existed = False
    if name:
        try:
            svc.store.get(name)
            existed = True
        except NotFound:
            pass
    vol = svc.store.create(name, labels=body.get("Labels"), options=body.get("DriverOpts"),
                           driver=body.get("Driver"))
    if not existed:
        backend(request).events.publish("volume", "create", vol.name, {"driver": vol.driver})
    return web.json_response(vol.to_api(), status=201)


async def inspect(request: web.Request) -> web.Response:
    svc = volumes(request)
    vol = svc.store.get(request.match_info["name"])
    return web.json_response(vol.to_api(svc.store.usage(vol) if flag(request, "usage") else None))


async def remove(request: web.Request) -> web.Response:
    svc = volumes(request)
    name = request.match_info["name"]
    try:
        svc.store.remove(name, force=flag(request, "force"))
    except NotFound:
        if flag(request, "force"):
            return web.Response(status=204)
        raise
    backend(request).events.publish("volume", "destroy", name, {"driver": "local"})
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    svc = volumes(request)
    flt = filters(request)
    all_volumes = any(v.lower() in ("1", "true") for v in flt.get("all", []))
    labels = list(flt.get("label", [])) + ["!" + v for v in flt.get("label!", [])]
    removed, reclaimed = svc.store.prune(all_volumes=all_volumes, labels=labels)
    for name in removed:
        backend(request).events.publish("volume", "destroy", name, {"driver": "local"})
    return web.json_response({"VolumesDeleted": removed, "SpaceReclaimed": reclaimed})


def register(routes: Routes) -> None:
    routes.add("GET", "/volumes", list_volumes)
    routes.add("POST", "/volumes/create", create)
    routes.add("POST", "/volumes/prune", prune)
    routes.add("GET", "/volumes/{name}", inspect)
    routes.add("DELETE", "/volumes/{name}", remove)
