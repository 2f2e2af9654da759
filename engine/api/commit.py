"""/commit: `docker commit`, a container's changes as a new image."""

from __future__ import annotations

from aiohttp import web

from engine.api.app import Routes, backend
from engine.api.params import flag, json_body
from engine.build.commit import CommitRequest, commit_container
from engine.errors import InvalidArgument
from engine.storage.space import disk_full_said


async def commit(request: web.Request) -> web.Response:
    q = request.query
    container = q.get("container")
    if not container:
        raise InvalidArgument("container is required: the container to commit")
    body = await json_body(request, required=False)
    if body is not None and not isinstance(body, dict):
        raise InvalidArgument("the request body must be a container config (a JSON object) or empty")
    b = backend(request)
    with disk_full_said(b.paths.root):  # the new layer did not fit: the user's to fix, not an internal error
        image_id = await commit_container(b.containers, b.images, b.events, CommitRequest(
            container=container, repo=q.get("repo") or None, tag=q.get("tag") or None,
            comment=q.get("comment", ""), author=q.get("author", ""), pause=flag(request, "pause", True),
            changes=tuple(q.getall("changes", [])), config=body))
    return web.json_response({"Id": image_id}, status=201)


def register(routes: Routes) -> None:
    routes.add("POST", "/commit", commit)
