"""The images service: import, list, inspect, tag, delete, and the layers a container mounts.

Layout under `root`: `blobs/` (BlobStore: image configs; manifests and compressed layers once
pull/push arrive), `layers/` (LayerStore: unpacked layers). Metadata lives in the engine's
SQLite database (tables `layers`, `images`, `image_tags`, `image_digests`).

Threading: every method runs on the event loop thread, which owns the database connection, and
is quick, except layer extraction. `import_rootfs` is a coroutine that extracts in a worker
thread (asyncio.to_thread) and commits on the loop. An async body is bridged to the worker by
`AsyncByteSource`: the worker's blocking `read()` schedules the iterator's next step on the loop
and waits for it, so the body is pulled only as fast as the tar is extracted (backpressure, no
queue, nothing buffered beyond one chunk) and the loop never blocks.
"""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import fnmatch
import json
import re
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import Conflict, InvalidArgument, NotFound
from engine.images import reference
from engine.images.changes import DEFAULT_PATH, apply_changes
from engine.images.platform import Platform, parse_platform
from engine.images.reference import Reference
from engine.images.store import Image, ImageStore, parse_rfc3339_unix
from engine.state.db import Database
from engine.storage.blobs import BlobStore
from engine.storage.layers import LayerStore, StagedLayer, rfc3339_nano
from engine.storage.tarsafe import ByteSource

_HEX_PREFIX_RE = re.compile(r"^[0-9a-f]{1,64}$")
_SHA256_HEX_RE = re.compile(r"^[0-9a-f]{64}$")

# The runtime settings a container takes from its image (ImageInspect.Config keys).
RUNTIME_CONFIG_KEYS = (
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "StopSignal",
    "Healthcheck",
    "Shell",
    "OnBuild",
    "ArgsEscaped",
)


class ImportCancelled(Exception):
    """The import's request went away while its body was being read."""


class AsyncByteSource:
    """A blocking `read()` for a worker thread, fed by an async iterator of chunks on the loop."""

    def __init__(self, chunks: AsyncIterable[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._iterator: AsyncIterator[bytes] = aiter(chunks)
        self._loop = loop
        self._chunk = memoryview(b"")
        self._eof = False
        self._cancelled = False
        self._pending: concurrent.futures.Future[bytes | None] | None = None

    async def _next(self) -> bytes | None:
        try:
            return await anext(self._iterator)
        except StopAsyncIteration:
            return None

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:
            parts = []
            while part := self.read(1 << 20):
                parts.append(part)
            return b"".join(parts)
        while not self._chunk and not self._eof:
            if self._cancelled:
                raise ImportCancelled("import cancelled")
            self._pending = asyncio.run_coroutine_threadsafe(self._next(), self._loop)
            try:
                chunk = self._pending.result()
            except concurrent.futures.CancelledError:
                raise ImportCancelled("import cancelled") from None
            if chunk is None:
                self._eof = True
            else:
                self._chunk = memoryview(chunk)
        out = bytes(self._chunk[:size])
        self._chunk = self._chunk[size:]
        return out

    def cancel(self) -> None:
        """Called on the loop when the importing task is cancelled: unblocks the worker."""
        self._cancelled = True
        if self._pending is not None:
            self._pending.cancel()


@dataclass(frozen=True)
class _ImportPlan:
    ref: Reference | None
    comment: str
    runtime_config: dict[str, Any]
    platform: Platform


class ImageService:
    def __init__(self, root: Path, db: Database, in_use: Callable[[str], bool] | None = None) -> None:
        self.root = root
        self.db = db
        self.blobs = BlobStore(root / "blobs")
        self.layers = LayerStore(root / "layers", db)
        self.store = ImageStore(db, self.blobs)
        # Whether a container (in any state) uses the image; the containers service sets it.
        self.in_use: Callable[[str], bool] = in_use or (lambda _image_id: False)
        # Startup: crash leftovers (half-written blobs, half-extracted layers) go now.
        self.blobs.remove_stale_temp()
        self.layers.remove_orphans()

    # -- import -------------------------------------------------------------------------------

    async def import_rootfs(
        self,
        source: AsyncIterable[bytes] | ByteSource,
        repo: str | None = None,
        tag: str | None = None,
        message: str = "",
        changes: Iterable[str] = (),
        platform: str | None = None,
    ) -> str:
        """`docker import` (POST /images/create?fromSrc=-): one layer from a (gzipped) tar.

        `source` is the request body as an async iterator of byte chunks (with aiohttp:
        `request.content.iter_chunked(65536)`, not the StreamReader itself, which iterates by
        lines), or a blocking file-like object (read in the worker thread). Arguments are
        validated before the body is read. Returns the new image id.
        """
        plan = self._plan_import(repo, tag, message, changes, platform)
        reader: ByteSource
        bridge: AsyncByteSource | None = None
        if isinstance(source, AsyncIterable):
            bridge = AsyncByteSource(source, asyncio.get_running_loop())
            reader = bridge
        else:
            reader = source
        try:
            staged = await asyncio.to_thread(self.layers.stage, reader, None)
        except asyncio.CancelledError:
            if bridge is not None:
                bridge.cancel()  # the worker then fails its read and removes its temp dir
            raise
        return self._finish_import(plan, staged)

    def import_rootfs_sync(
        self,
        source: ByteSource,
        repo: str | None = None,
        tag: str | None = None,
        message: str = "",
        changes: Iterable[str] = (),
        platform: str | None = None,
    ) -> str:
        """`import_rootfs` for callers without an event loop (blocks while extracting)."""
        plan = self._plan_import(repo, tag, message, changes, platform)
        return self._finish_import(plan, self.layers.stage(source, None))

    def _plan_import(
        self,
        repo: str | None,
        tag: str | None,
        message: str,
        changes: Iterable[str],
        platform: str | None,
    ) -> _ImportPlan:
        ref = None
        if repo:
            ref = reference.parse_repository(repo, tag)
            _refuse_id_like(ref)
        elif tag:
            raise InvalidArgument("a tag needs a repository name")
        runtime: dict[str, Any] = {"Env": [DEFAULT_PATH]}
        apply_changes(runtime, changes)
        return _ImportPlan(
            ref=ref,
            comment=message or "Imported from -",
            runtime_config=runtime,
            platform=parse_platform(platform),
        )

    def _finish_import(self, plan: _ImportPlan, staged: StagedLayer) -> str:
        layer = self.layers.commit(staged)  # this reference becomes the image's
        try:
            created = rfc3339_nano(time.time_ns())
            config: dict[str, Any] = {"architecture": plan.platform.architecture}
            if plan.platform.variant:
                config["variant"] = plan.platform.variant
            config |= {
                "os": plan.platform.os,
                "created": created,
                "comment": plan.comment,
                "config": plan.runtime_config,
                "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
                "history": [{"created": created, "comment": plan.comment}],
            }
            config_bytes = json.dumps(config, separators=(",", ":")).encode()
            image_id, new = self.store.add(config_bytes, layer.chain_id, self.layers.size(layer.chain_id))
        except BaseException:
            self.layers.release(layer.chain_id)
            raise
        if not new:
            self.layers.release(layer.chain_id)  # the existing image already holds one
        if plan.ref is not None:
            self._set_tag(plan.ref, image_id)
        return image_id

    # -- lookup -------------------------------------------------------------------------------

    def resolve(self, name_or_id: str) -> Image:
        """Find an image by full id, unique id prefix (with or without `sha256:`), or reference."""
        image_id, _ = self._lookup(name_or_id)
        return self.store.get(image_id)

    def _lookup(self, name: str) -> tuple[str, Reference | None]:
        """(image id, the reference it was found by, or None when found by id)."""
        bare = name.removeprefix("sha256:")
        if _SHA256_HEX_RE.match(bare):
            if self.store.exists("sha256:" + bare):
                return "sha256:" + bare, None
            raise NotFound(f"No such image: {name}")
        ref: Reference | None = None
        parse_error: InvalidArgument | None = None
        if not name.startswith("sha256:"):
            try:
                ref = reference.parse(name)
            except InvalidArgument as e:
                parse_error = e
        if ref is not None:
            found = self.store.lookup(ref)
            if found is not None:
                return found, ref
        if _HEX_PREFIX_RE.match(bare):
            matches = self.store.search_prefix(bare)
            if len(matches) == 1:
                return matches[0], None
            if len(matches) > 1:
                raise InvalidArgument(f"ambiguous image id prefix {name!r}: it matches {len(matches)} images")
        if parse_error is not None:
            raise parse_error
        raise NotFound(f"No such image: {ref.familiar() if ref is not None else name}")

    # -- list / inspect -----------------------------------------------------------------------

    def list(self, filters: dict[str, builtins.list[str]] | None = None) -> builtins.list[dict[str, Any]]:
        """GET /images/json: ImageSummary objects, newest first."""
        images = self.store.all()
        if filters:
            images = self._filter(images, filters)
        return [
            {
                "Id": image.id,
                "ParentId": image.parent,
                "RepoTags": [r.familiar() for r in image.repo_tags],
                "RepoDigests": [r.familiar() for r in image.repo_digests],
                "Created": image.created_unix,
                "Size": image.size,
                "SharedSize": -1,
                "Labels": image.labels,
                "Containers": -1,
            }
            for image in images
        ]

    def _filter(
        self, images: builtins.list[Image], filters: dict[str, builtins.list[str]]
    ) -> builtins.list[Image]:
        for key in filters:
            if key not in ("dangling", "reference", "label", "before", "since"):
                raise InvalidArgument(f"invalid filter '{key}'")
        for value in filters.get("dangling", []):
            if value.lower() not in ("true", "false", "1", "0"):
                raise InvalidArgument(f"invalid filter 'dangling={value}'")
            want = value.lower() in ("true", "1")
            images = [i for i in images if (not i.repo_tags and not i.repo_digests) == want]
        if patterns := filters.get("reference"):
            images = [i for i in images if any(_reference_matches(p, i) for p in patterns)]
        for label in filters.get("label", []):
            key, eq, value = label.partition("=")
            images = [i for i in images if key in i.labels and (not eq or i.labels[key] == value)]
        for before in filters.get("before", []):
            limit = self.resolve(before).created_unix
            images = [i for i in images if i.created_unix < limit]
        for since in filters.get("since", []):
            limit = self.resolve(since).created_unix
            images = [i for i in images if i.created_unix > limit]
        return images

    def inspect(self, name: str) -> dict[str, Any]:
        """GET /images/{name}/json: ImageInspect."""
        image = self.resolve(name)
        config = self.store.config(image.id)
        runtime = config.get("config") or {}
        lowers = self.layer_dirs(image.id)
        graph_data: dict[str, str] = {}
        if lowers:
            graph_data["UpperDir"] = str(lowers[0])
            graph_data["MergedDir"] = str(lowers[0].parent / "merged")
            graph_data["WorkDir"] = str(lowers[0].parent / "work")
            if len(lowers) > 1:
                graph_data["LowerDir"] = ":".join(str(p) for p in lowers[1:])
        result: dict[str, Any] = {
            "Id": image.id,
            "RepoTags": [r.familiar() for r in image.repo_tags],
            "RepoDigests": [r.familiar() for r in image.repo_digests],
            "Parent": image.parent,
            "Comment": config.get("comment", ""),
            "Created": config.get("created") or None,
            "DockerVersion": config.get("docker_version", ""),
            "Author": config.get("author", ""),
            "Config": _image_config(runtime),
            "Architecture": config.get("architecture", ""),
            "Os": config.get("os", ""),
            "Size": image.size,
            "GraphDriver": {"Name": "overlay2", "Data": graph_data},
            "RootFS": {"Type": "layers", "Layers": list((config.get("rootfs") or {}).get("diff_ids") or [])},
            "Metadata": {"LastTagTime": image.last_tag_time} if image.last_tag_time else {},
        }
        if config.get("variant"):
            result["Variant"] = config["variant"]
        if config.get("os.version"):
            result["OsVersion"] = config["os.version"]
        return result

    def history(self, name: str) -> builtins.list[dict[str, Any]]:
        """GET /images/{name}/history: newest first; only the top entry carries the image id."""
        image = self.resolve(name)
        config = self.store.config(image.id)
        layers = list(reversed(self.layers.chain(image.top_layer))) if image.top_layer else []
        entries = []
        layer_index = 0
        for item in config.get("history") or []:
            size = 0
            if not item.get("empty_layer") and layer_index < len(layers):
                size = layers[layer_index].size
                layer_index += 1
            entries.append(
                {
                    "Id": "<missing>",
                    "Created": parse_rfc3339_unix(item.get("created", "")),
                    "CreatedBy": item.get("created_by", ""),
                    "Tags": None,
                    "Size": size,
                    "Comment": item.get("comment", ""),
                }
            )
        entries.reverse()
        if entries:
            entries[0]["Id"] = image.id
            entries[0]["Tags"] = [r.familiar() for r in image.repo_tags]
        return entries

    # -- names --------------------------------------------------------------------------------

    def tag(self, source: str, repo: str, tag: str | None = None) -> Reference:
        """POST /images/{name}/tag: point `repo[:tag]` at the image `source` names."""
        image = self.resolve(source)
        ref = reference.parse_repository(repo, tag)
        _refuse_id_like(ref)
        self._set_tag(ref, image.id)
        return ref

    def _set_tag(self, ref: Reference, image_id: str) -> None:
        self.store.set_reference(ref, image_id)
        # An image that lost its last name is dangling; it stays until `docker image prune`.

    def delete(self, name: str, force: bool = False, prune: bool = True) -> builtins.list[dict[str, str]]:
        """DELETE /images/{name}: the list of {"Untagged": ...} and {"Deleted": ...} records.

        By name: remove that name; the image goes too once no name is left, unless a container
        uses it (then it stays, as in Docker). By id: refused while the image has several names
        or a container uses it, unless `force`. Forced, an image a container uses loses its names
        but stays on disk, since the container's root filesystem still needs its layers.
        `prune`: also delete the parent images this leaves dangling (the API's noprune=false).
        """
        image_id, by_ref = self._lookup(name)
        image = self.store.get(image_id)
        records: builtins.list[dict[str, str]] = []
        if by_ref is not None:
            self.store.remove_reference(by_ref)
            records.append({"Untagged": by_ref.familiar()})
            remaining = self.store.get(image_id).references
            if by_ref.digest is None and all(
                r.digest is not None and r.name == by_ref.name for r in remaining
            ):
                # Docker: untagging the last tag of a repo also drops that repo's digest names.
                for r in remaining:
                    self.store.remove_reference(r)
                    records.append({"Untagged": r.familiar()})
                remaining = []
            if remaining or self.in_use(image_id):
                return records
        else:
            if self.store.children(image_id):
                raise Conflict(
                    f"conflict: unable to delete {image.short_id} (cannot be forced) - image has dependent"
                    " child images"
                )
            if len(image.references) > 1 and not force:
                raise Conflict(
                    f"conflict: unable to delete {image.short_id} (must be forced) - image is referenced in"
                    " multiple repositories"
                )
            used = self.in_use(image_id)
            if used and not force:
                raise Conflict(
                    f"conflict: unable to delete {image.short_id} (must be forced) - image is being used by"
                    " a container"
                )
            for r in image.references:
                self.store.remove_reference(r)
                records.append({"Untagged": r.familiar()})
            if used:
                return records
        if self.store.children(image_id):
            return records  # a child image still needs it; it stays, untagged
        records.extend(self._remove_image(image))
        if prune and image.parent:
            records.extend(self._prune_parent(image.parent))
        return records

    def _remove_image(self, image: Image) -> builtins.list[dict[str, str]]:
        self.store.delete(image.id)
        records = [{"Deleted": image.id}]
        if image.top_layer is not None:
            records.extend({"Deleted": chain} for chain in self.layers.release(image.top_layer))
        return records

    def _prune_parent(self, parent_id: str) -> builtins.list[dict[str, str]]:
        records: builtins.list[dict[str, str]] = []
        current = parent_id
        while current and self.store.exists(current):
            parent = self.store.get(current)
            if parent.references or self.store.children(current) or self.in_use(current):
                break
            records.extend(self._remove_image(parent))
            current = parent.parent
        return records

    # -- what containers need -----------------------------------------------------------------

    def layer_dirs(self, image_id: str) -> builtins.list[Path]:
        """The image's layer diff dirs, top first, as overlay's lowerdir wants them."""
        image = self.resolve(image_id)
        return self.layers.lower_dirs(image.top_layer) if image.top_layer else []

    def config(self, image_id: str) -> dict[str, Any]:
        """The runtime defaults a container takes from the image (Env, Cmd, Entrypoint, ...)."""
        image = self.resolve(image_id)
        runtime = self.store.config(image.id).get("config") or {}
        return {key: runtime.get(key) for key in RUNTIME_CONFIG_KEYS}


def _image_config(runtime: dict[str, Any]) -> dict[str, Any]:
    """ImageInspect.Config: the spec's ImageConfig with Docker's defaults filled in."""
    config: dict[str, Any] = {
        "Hostname": "",
        "Domainname": "",
        "User": runtime.get("User", ""),
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": runtime.get("Env"),
        "Cmd": runtime.get("Cmd"),
        "Image": "",
        "Volumes": runtime.get("Volumes"),
        "WorkingDir": runtime.get("WorkingDir", ""),
        "Entrypoint": runtime.get("Entrypoint"),
        "OnBuild": runtime.get("OnBuild"),
        "Labels": runtime.get("Labels"),
    }
    for optional in ("ExposedPorts", "StopSignal", "Healthcheck", "ArgsEscaped", "Shell", "StopTimeout"):
        if runtime.get(optional) is not None:
            config[optional] = runtime[optional]
    return config


def _refuse_id_like(ref: Reference) -> None:
    if _SHA256_HEX_RE.match(ref.familiar_name()):
        raise InvalidArgument("refusing to create an ambiguous tag using digest algorithm as name")


def _reference_matches(pattern: str, image: Image) -> bool:
    # Docker matches the familiar name with and without its tag.
    for ref in image.references:
        if fnmatch.fnmatchcase(ref.familiar_name(), pattern) or fnmatch.fnmatchcase(ref.familiar(), pattern):
            return True
    return False
