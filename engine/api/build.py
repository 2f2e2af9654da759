"""/build: Dockerfile builds with the classic builder's protocol (`DOCKER_BUILDKIT=0 docker build`).

The request body is the context tar; progress streams as JSON lines (`{"stream": ...}`,
`{"aux": {"ID": ...}}`), a failure as a final `{"errorDetail": ..., "error": ...}` line.

The builder is made on first use, one per Backend (Backend has no field for it: kept here); its module
is imported then too, not at berthd's start (tens of ms, more in a machine under emulation).
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from engine.api.app import Routes, backend
from engine.api.images import CHUNK, with_progress
from engine.api.params import flag
from engine.backend import Backend
from engine.errors import InvalidArgument
from engine.images import reference
from engine.images.progress import ProgressSink
from engine.images.service import AsyncByteSource

if TYPE_CHECKING:
    from engine.build.builder import Builder, BuildOptions

_BUILDERS: dict[int, tuple[Backend, Builder]] = {}


def builder_for(b: Backend) -> Builder:
    entry = _BUILDERS.get(id(b))
    if entry is None or entry[0] is not b:
        from engine.build.builder import Builder

        entry = (b, Builder(b.images, b.containers, b.events, b.db, b.paths.root / "build"))
        _BUILDERS[id(b)] = entry
    return entry[1]


def _json_map(request: web.Request, name: str) -> dict[str, Any]:
    raw = request.query.get(name)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise InvalidArgument(f"invalid {name}: {e}") from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid {name}: expected a JSON object")
    return value


def _json_names(request: web.Request, name: str) -> list[str]:
    """A JSON array of strings (`cachefrom=["a","b"]`, as the CLI and docker-py send it)."""
    raw = request.query.get(name)
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise InvalidArgument(f"invalid {name}: {e}") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"invalid {name}: expected a JSON array of image names")
    return [v for v in value if v]


def build_options(request: web.Request) -> BuildOptions:
    from engine.build.builder import BuildOptions

    q = request.query
    if q.get("remote"):
        raise InvalidArgument("remote build contexts (git, URL) are not supported: send the context as a tar")
    args = {str(k): (None if v is None else str(v)) for k, v in _json_map(request, "buildargs").items()}
    labels = {str(k): str(v) for k, v in _json_map(request, "labels").items()}
    tags = [t for t in q.getall("t", []) if t]
    for tag in tags:
        reference.parse(tag)  # as dockerd: a bad name is a 400 before any step runs, not after them all
    return BuildOptions(
        tags=tags, dockerfile=q.get("dockerfile") or "Dockerfile",
        build_args=args, labels=labels, no_cache=flag(request, "nocache"), pull=flag(request, "pull"),
        target=q.get("target", ""), network_mode=q.get("networkmode", "") if q.get("networkmode") != "default" else "",
        extra_hosts=[h for h in q.getall("extrahosts", []) if h], cache_from=_json_names(request, "cachefrom"),
        quiet=flag(request, "q"), platform=q.get("platform", ""))


async def build(request: web.Request) -> web.StreamResponse:
    b = backend(request)
    options = build_options(request)  # a bad parameter is a 400 before any output
    builder = builder_for(b)

    async def work(sink: ProgressSink) -> None:
        body = AsyncByteSource(request.content.iter_chunked(CHUNK), asyncio.get_running_loop())
        await builder.build(body, options, sink, cancel=body.cancel)

    return await with_progress(request, work)


async def prune(request: web.Request) -> web.Response:
    # The classic builder's cache is its step images: `docker image prune` removes them.
    return web.json_response({"CachesDeleted": None, "SpaceReclaimed": 0})


def register(routes: Routes) -> None:
    routes.add("POST", "/build", build)
    routes.add("POST", "/build/prune", prune)
