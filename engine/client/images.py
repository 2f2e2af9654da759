"""Images: list, inspect, pull and push (references split by `references.py`), import, build, tag, remove."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from engine.client.base import EngineBase, _list, _object
from engine.client.buildcontext import (
    DEFAULT_DOCKERFILE,
    BuildContextError,
    locate_dockerfile,
    spool,
    write_context,
)
from engine.client.errors import EngineClientError
from engine.client.references import parse_reference, split_reference
from engine.client.streams import build_output as build_output  # its old home, still importable


class ImagesAPI(EngineBase):
    async def images(self, all: bool = False) -> list[dict[str, Any]]:
        """The `/images/json` list: one dict per image (Id, RepoTags, Created, Size, ...)."""
        return _list(await self._json("GET", "images/json", params={"all": all}))

    async def inspect_image(self, name: str) -> dict[str, Any]:
        return _object(await self._json("GET", f"images/{name}/json"))

    async def image_history(self, name: str) -> list[dict[str, Any]]:
        return _list(await self._json("GET", f"images/{name}/history"))

    async def pull(self, reference: str, auth: str | None = None, *, platform: str | None = None
                   ) -> AsyncIterator[dict[str, Any]]:
        """Pull an image (`busybox`, `host:5000/a/b:tag`, `busybox@sha256:…`) as `docker pull` asks
        for it; yields the engine's progress objects. An `error` object raises."""
        params: dict[str, Any] = {**parse_reference(reference).pull_params(), "platform": platform}
        headers = {"X-Registry-Auth": auth} if auth else None
        async for item in self._progress("POST", "images/create", params=params, headers=headers):
            yield item

    async def push(self, reference: str, auth: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """Push an image; yields progress objects. An `error` object raises."""
        image, tag = split_reference(reference)
        # The API insists on X-Registry-Auth; an empty credential object means "anonymous".
        headers = {"X-Registry-Auth": auth or base64.urlsafe_b64encode(b"{}").decode()}
        params = {"tag": tag} if tag else None
        async for item in self._progress("POST", f"images/{image}/push", params=params, headers=headers):
            yield item

    async def import_image(self, data: bytes, repo: str, tag: str = "latest") -> None:
        """`docker import`: a rootfs tar becomes image `repo:tag`."""
        params = {"fromSrc": "-", "repo": repo, "tag": tag}
        headers = {"Content-Type": "application/x-tar"}
        async for _ in self._progress("POST", "images/create", params=params, data=data, headers=headers):
            pass

    async def build_image(
        self,
        context_dir: str | os.PathLike[str],
        tag: str | None = None,
        dockerfile: str | os.PathLike[str] = DEFAULT_DOCKERFILE,
        nocache: bool = False,
        pull: bool = False,
        *,
        build_args: Mapping[str, str | None] | None = None,
        labels: Mapping[str, str] | None = None,
        target: str | None = None,
        network: str | None = None,
        quiet: bool = False,
    ) -> AsyncIterator[dict[str, Any]]:
        """`docker build` with the classic builder: the folder `context_dir` (less what its
        `.dockerignore` excludes) is sent as a tar; yields the engine's JSON lines as they come
        (`{"stream": text}` output, `{"aux": {"ID": image id}}`, pull progress for `FROM`).

        `dockerfile` is relative to the folder, or an absolute path (outside it too); `network` is
        the steps' network mode. A missing Dockerfile or unreadable file raises `BuildContextError`
        (an `EngineClientError`) before the engine is asked; a failed step raises
        `EngineClientError` with the engine's message.
        """
        context = Path(context_dir)
        located = await asyncio.to_thread(locate_dockerfile, context, dockerfile)
        params: dict[str, Any] = {"dockerfile": located.name, "nocache": nocache, "pull": pull, "rm": True}
        if tag:
            params["t"] = tag
        if build_args:
            params["buildargs"] = json.dumps(dict(build_args))
        if labels:
            params["labels"] = json.dumps(dict(labels))
        if target:
            params["target"] = target
        if network:
            params["networkmode"] = network
        if quiet:
            params["q"] = True
        with spool() as body:
            # The tar goes through a temporary file: a big context never sits in memory, and is
            # sent with its length. Made in a thread, stopped if the build is abandoned meanwhile.
            stop = threading.Event()
            try:
                await asyncio.to_thread(write_context, context, located, body, stop)
            except asyncio.CancelledError:
                stop.set()  # the thread gives up at its next file (BuildCancelled, unseen)
                raise
            body.seek(0)
            try:
                async for item in self._progress("POST", "build", params=params, data=body,
                                                 headers={"Content-Type": "application/x-tar"}):
                    yield item
            except EngineClientError as exc:
                if "Cannot locate specified Dockerfile" in exc.message:
                    raise BuildContextError(f"no Dockerfile in {context} (the engine says: {exc.message})") from exc
                raise

    async def tag(self, name: str, repo: str, tag: str = "latest") -> None:
        await self._call("POST", f"images/{name}/tag", params={"repo": repo, "tag": tag})

    async def remove_image(self, name: str, force: bool = False) -> list[dict[str, Any]]:
        return _list(await self._json("DELETE", f"images/{name}", params={"force": force} if force else None))
