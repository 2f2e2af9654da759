"""/images: list, import (create?fromSrc), inspect, history, tag, remove."""

from __future__ import annotations

from aiohttp import web

from engine.api.app import Routes, backend
from engine.api.params import filters, flag
from engine.api.streams import json_stream, write_json_line
from engine.errors import InvalidArgument, NotFound

CHUNK = 1 << 16


async def list_images(request: web.Request) -> web.Response:
    return web.json_response(backend(request).images.list(filters(request)))


async def create(request: web.Request) -> web.StreamResponse:
    images = backend(request).images
    src = request.query.get("fromSrc")
    if src is None:
        ref = request.query.get("fromImage", "")
        if not ref:
            raise InvalidArgument("give fromSrc=- (import a rootfs tar) or fromImage=<name> (pull)")
        tag = request.query.get("tag")
        name = f"{ref}:{tag}" if tag and ":" not in ref.rsplit("/", 1)[-1] else ref
        raise NotFound(f"pull access denied for {name}: pulling from registries is not available yet; "
                       "import a root filesystem with `docker import`")
    if src != "-":
        raise InvalidArgument("only fromSrc=- (the tar in the request body) is supported; "
                              "download the file and send it as the body")
    image_id = await images.import_rootfs(
        request.content.iter_chunked(CHUNK),
        repo=request.query.get("repo") or None,
        tag=request.query.get("tag") or None,
        message=request.query.get("message", ""),
        changes=request.query.getall("changes", []),
        platform=request.query.get("platform") or None,
    )
    backend(request).events.publish("image", "import", image_id, {"name": request.query.get("repo", "")})
    resp = await json_stream(request)
    await write_json_line(resp, {"status": image_id})
    return resp


async def inspect(request: web.Request) -> web.Response:
    return web.json_response(backend(request).images.inspect(request.match_info["name"]))


async def history(request: web.Request) -> web.Response:
    return web.json_response(backend(request).images.history(request.match_info["name"]))


async def tag(request: web.Request) -> web.Response:
    repo = request.query.get("repo")
    if not repo:
        raise InvalidArgument("repo is required: the new name for the image")
    b = backend(request)
    ref = b.images.tag(request.match_info["name"], repo, request.query.get("tag") or None)
    b.events.publish("image", "tag", b.images.resolve(ref.familiar()).id, {"name": ref.familiar()})
    return web.Response(status=201)


async def remove(request: web.Request) -> web.Response:
    b = backend(request)
    records = b.images.delete(request.match_info["name"], force=flag(request, "force"),
                              prune=not flag(request, "noprune"))
    for rec in records:
        for action, ident in rec.items():
            b.events.publish("image", "untag" if action == "Untagged" else "delete", ident)
    return web.json_response(records)


def register(routes: Routes) -> None:
    routes.add("GET", "/images/json", list_images)
    routes.add("POST", "/images/create", create)
    routes.add("GET", "/images/{name:.+}/json", inspect)
    routes.add("GET", "/images/{name:.+}/history", history)
    routes.add("POST", "/images/{name:.+}/tag", tag)
    routes.add("DELETE", "/images/{name:.+}", remove)
