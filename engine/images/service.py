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
import hashlib
import json
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import __version__
from engine.errors import Conflict, InvalidArgument, NotFound
from engine.images import progress, reference
from engine.images.auth import ANONYMOUS, Credentials, repository_scope
from engine.images.changes import DEFAULT_PATH, apply_changes
from engine.images.content import ContentIndex, LayerBlob
from engine.images.manifest import DOCKER_LAYER_TAR, Index, config_platform, parse_config, platform_json
from engine.images.platform import Platform, parse_platform
from engine.images.pull import Pull, PullResult
from engine.images.push import Push, PushedTag
from engine.images.reference import Reference
from engine.images.registry import RegistryClient, RegistryConfig, new_session
from engine.images.store import Image, ImageStore, parse_rfc3339_unix
from engine.labels import labels_match
from engine.state.db import Database
from engine.storage.blobs import BlobInfo, BlobStore, BlobWriter
from engine.storage.layers import LayerStore, StagedLayer, chain_id, rfc3339_nano
from engine.storage.tarsafe import ByteSource, decompressed

if TYPE_CHECKING:
    from engine.images import archive

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


class _TeeSource:
    """Reads from `source` and copies every byte into a blob: the layer's plain tar, kept for
    push and save while the same stream is being extracted."""

    def __init__(self, source: ByteSource, writer: BlobWriter) -> None:
        self._source = source
        self._writer = writer

    def read(self, size: int = -1, /) -> bytes:
        data = self._source.read(size)
        if data:
            self._writer.write(data)
        return data


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
    def __init__(self, root: Path, db: Database, in_use: Callable[[str], bool] | None = None,
                 registries: RegistryConfig | None = None) -> None:
        self.root = root
        self.db = db
        self.blobs = BlobStore(root / "blobs")
        self.layers = LayerStore(root / "layers", db)
        self.store = ImageStore(db, self.blobs)
        self.content = ContentIndex(db, self.blobs)
        self.registries = registries or RegistryConfig.from_flags()
        self.scratch = root / "tmp"
        # Whether a container (in any state) uses the image; the containers service sets it.
        self.in_use: Callable[[str], bool] = in_use or (lambda _image_id: False)
        # Startup: crash leftovers (half-written blobs, half-extracted layers, load scratch) go now.
        self.blobs.remove_stale_temp()
        self.layers.remove_orphans()
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir(parents=True, exist_ok=True)

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
        staged, tar = await self._stage(source, None)
        return self._finish_import(plan, staged, tar)

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
        return self._finish_import(plan, *self._stage_keeping_tar(source, None))

    async def _stage(self, source: AsyncIterable[bytes] | ByteSource,
                     parent: str | None) -> tuple[StagedLayer, BlobInfo]:
        """Extract a layer in a worker thread; an async source (a request body) is pulled
        from the loop only as fast as the tar is extracted."""
        if not isinstance(source, AsyncIterable):
            return await asyncio.to_thread(self._stage_keeping_tar, source, parent)
        bridge = AsyncByteSource(source, asyncio.get_running_loop())
        try:
            return await asyncio.to_thread(self._stage_keeping_tar, bridge, parent)
        except asyncio.CancelledError:
            bridge.cancel()  # the worker then fails its read and removes its temp dir
            raise

    def _stage_keeping_tar(self, source: ByteSource, parent: str | None) -> tuple[StagedLayer, BlobInfo]:
        """Extract a layer and keep its uncompressed tar as a blob (digest = diff_id). Blocking."""
        with self.blobs.writer() as writer:
            staged = self.layers.stage(_TeeSource(decompressed(source), writer), parent)
            try:
                info = writer.commit()
            except BaseException:
                self.layers.discard(staged)
                raise
        return staged, info

    def _record_tar(self, diff_id: str, tar: BlobInfo) -> None:
        if tar.digest == diff_id:
            self.content.add_layer_blob(LayerBlob(tar.digest, diff_id, DOCKER_LAYER_TAR, tar.size))
        elif self.content.layer_blob(tar.digest) is None:
            self.blobs.delete(tar.digest)  # cannot happen unless tee and hash disagree; keep nothing wrong

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

    def _finish_import(self, plan: _ImportPlan, staged: StagedLayer, tar: BlobInfo) -> str:
        layer = self.layers.commit(staged)  # this reference becomes the image's
        self._record_tar(layer.diff_id, tar)
        try:
            created = rfc3339_nano(time.time_ns())
            config: dict[str, Any] = {"architecture": plan.platform.architecture}
            if plan.platform.variant:
                config["variant"] = plan.platform.variant
            config |= {
                "os": plan.platform.os,
                "created": created,
                "docker_version": __version__,
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

    def lookup(self, name: str) -> tuple[str, Reference | None]:
        """(image id, the reference it was found by, or None when found by id)."""
        return self._lookup(name)

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

    def list(self, filters: dict[str, builtins.list[str]] | None = None,
             all: bool = False) -> builtins.list[dict[str, Any]]:
        """GET /images/json: ImageSummary objects, newest first. Without `all`, untagged
        images that others build on (intermediate build steps) are left out, as in Docker."""
        images = self.store.all()
        if not all:
            parents = {image.parent for image in images if image.parent}
            images = [i for i in images if i.repo_tags or i.repo_digests or i.id not in parents]
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

    def count(self) -> int:
        """Every image, step images included: /info's Images, as dockerd counts its image store."""
        return self.store.count()

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
        if labels := filters.get("label"):
            images = [i for i in images if labels_match(i.labels, labels)]
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
            # Container, ContainerConfig and VirtualSize: what API versions before 1.45 (1.44 for
            # VirtualSize) return; the API layer drops them for newer requests, as dockerd 25 does.
            "Container": config.get("container", ""),
            "ContainerConfig": _image_config(config.get("container_config") or {}),
            "DockerVersion": config.get("docker_version", ""),
            "Author": config.get("author", ""),
            "Config": _image_config(runtime),
            "Architecture": config.get("architecture", ""),
            "Os": config.get("os", ""),
            "Size": image.size,
            "VirtualSize": image.size,
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

    def set_tag(self, ref: Reference, image_id: str) -> None:
        _refuse_id_like(ref)
        self._set_tag(ref, image_id)

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
        diff_ids = [layer.diff_id for layer in self.layers.chain(image.top_layer)] if image.top_layer else []
        self.content.forget_image(image.id)
        self.store.delete(image.id)
        records = [{"Deleted": image.id}]
        if image.top_layer is not None:
            records.extend({"Deleted": chain} for chain in self.layers.release(image.top_layer))
            self.content.collect_layers(diff_ids)  # tars of layers no image unpacks any more
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

    # -- registries ---------------------------------------------------------------------------

    async def pull(self, name: str, tag: str | None = None, platform: str | None = None,
                   credentials: Credentials = ANONYMOUS, sink: progress.ProgressSink = progress.discard
                   ) -> PullResult:
        """POST /images/create?fromImage: pull `name` (with `tag`, a tag or a digest) for `platform`."""
        ref = _pull_reference(name, tag)
        return await Pull(self, ref, parse_platform(platform), explicit_platform=bool(platform),
                          credentials=credentials, sink=sink).run()

    async def push(self, name: str, tag: str | None = None, credentials: Credentials = ANONYMOUS,
                   sink: progress.ProgressSink = progress.discard) -> builtins.list[PushedTag]:
        """POST /images/{name}/push: one tag, or every tag of the repository when none is given."""
        ref = reference.parse(name, default_tag=False)
        if ref.digest is not None:
            raise InvalidArgument("cannot push a digest reference; push a tag")
        if tag:
            reference.validate_tag(tag)
            tags = [tag]
        elif ref.tag is not None:
            tags = [ref.tag]
        else:
            tags = sorted({r.tag for image in self.store.all() for r in image.repo_tags
                           if r.name == ref.name and r.tag is not None})
        return await Push(self, ref, tags, credentials, sink).run()

    async def login(self, credentials: Credentials) -> dict[str, str]:
        """POST /auth: check credentials against the registry they name."""
        domain = registry_domain(credentials.server_address)
        async with new_session() as session:
            await RegistryClient(session, domain, self.registries, credentials).login()
        return {"Status": "Login Succeeded", "IdentityToken": ""}

    async def distribution(self, name: str, credentials: Credentials = ANONYMOUS) -> dict[str, Any]:
        """GET /distribution/{name}/json: the manifest descriptor and platforms a registry holds."""
        ref = reference.parse(name)
        async with new_session() as session:
            client = RegistryClient(session, ref.domain, self.registries, credentials,
                                    [repository_scope(ref.path, "pull")])
            doc = await client.get_manifest(ref.path, ref.digest or ref.tag or "latest")
            if isinstance(doc, Index):
                platforms = [platform_json(d.platform) for d in doc.manifests if d.platform is not None]
            else:
                config = parse_config(await client.get_blob_bytes(ref.path, doc.config.digest, doc.config.size))
                platforms = [platform_json(config_platform(config))]
        return {"Descriptor": {"mediaType": doc.media_type, "digest": doc.digest, "size": len(doc.raw)},
                "Platforms": platforms}

    # -- archives -----------------------------------------------------------------------------

    # engine.images.archive (and tarfile) is imported by the first save or load, not at berthd's start.

    def plan_save(self, names: builtins.list[str]) -> archive.SavePlan:
        """Resolve names for GET /images/get (raises before anything is streamed)."""
        from engine.images import archive

        return archive.plan_save(self, names)

    def save(self, plan: archive.SavePlan) -> AsyncIterator[bytes]:
        from engine.images import archive

        return archive.stream_save(self, plan)

    async def load(self, source: AsyncIterable[bytes] | ByteSource,
                   sink: progress.ProgressSink = progress.discard) -> builtins.list[str]:
        """POST /images/load: a docker-archive or OCI layout tar (optionally compressed).
        Returns the ids of the images loaded."""
        from engine.images import archive

        reader: ByteSource
        bridge: AsyncByteSource | None = None
        if isinstance(source, AsyncIterable):
            bridge = AsyncByteSource(source, asyncio.get_running_loop())
            reader = bridge
        else:
            reader = source
        scratch = Path(tempfile.mkdtemp(dir=self.scratch, prefix="load-"))
        loaded: archive.LoadedArchive | None = None
        loaded_ids: builtins.list[str] = []
        try:
            try:
                loaded = await asyncio.to_thread(archive.read_archive, self, reader, scratch)
            except asyncio.CancelledError:
                if bridge is not None:
                    bridge.cancel()
                raise
            for item in archive.images_in(loaded, self):
                image_id = await self._load_image(loaded, item)
                loaded_ids.append(image_id)
                for tag in item.tags:
                    self.set_tag(tag, image_id)
                    sink({"stream": f"Loaded image: {tag.familiar()}\n"})
                if not item.tags:
                    sink({"stream": f"Loaded image ID: {image_id}\n"})
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            if loaded is not None:
                for digest in loaded.new_blobs:
                    if self.content.layer_blob(digest) is None and not self.store.exists(digest):
                        self.blobs.delete(digest)  # a manifest or unused file from the archive
        return loaded_ids

    async def _load_image(self, loaded: archive.LoadedArchive, item: archive.ArchiveImage) -> str:
        from engine.images import archive

        diff_ids = list(parse_config(item.config)["rootfs"]["diff_ids"])
        if len(diff_ids) != len(item.layers):
            raise InvalidArgument(f"invalid archive: {len(item.layers)} layers for {len(diff_ids)} diff_ids")

        async def stage(index: int, parent: str | None) -> tuple[StagedLayer, LayerBlob]:
            f, blob_digest = archive.open_layer(loaded, self, item.layers[index])
            with f:
                if blob_digest is None:
                    staged, tar = await asyncio.to_thread(self._stage_keeping_tar, f, parent)
                    return staged, LayerBlob(tar.digest, staged.result.diff_id, DOCKER_LAYER_TAR, tar.size)
                media = item.layer_types[index] or archive.sniff_layer_type(f)
                staged = await asyncio.to_thread(self.layers.stage, f, parent)
                return staged, LayerBlob(blob_digest, diff_ids[index], media, self.blobs.size(blob_digest))

        return await self._store_image(item.config, diff_ids, stage)

    async def _store_image(self, config_bytes: bytes, diff_ids: builtins.list[str],
                           stage: Callable[[int, str | None], Awaitable[tuple[StagedLayer, LayerBlob]]],
                           parent_image: str = "") -> str:
        """Unpack the layers not yet stored (in order, sharing those that are) and add the image."""
        chains: builtins.list[str] = []
        parent: str | None = None
        for diff_id in diff_ids:
            parent = chain_id(parent, diff_id)
            chains.append(parent)
        image_id = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
        if self.store.exists(image_id):
            return image_id
        first_missing = next((i for i, c in enumerate(chains) if not self.layers.exists(c)), len(chains))
        held: str | None = None
        try:
            if first_missing > 0:
                held = self.layers.acquire(chains[first_missing - 1]).chain_id
            for i in range(first_missing, len(chains)):
                staged, blob = await stage(i, chains[i - 1] if i else None)
                if staged.result.diff_id != diff_ids[i]:
                    self.layers.discard(staged)
                    raise InvalidArgument(f"layer {i} unpacks to {staged.result.diff_id}, but the image config "
                                          f"says {diff_ids[i]}")
                layer = self.layers.commit(staged)
                self.content.add_layer_blob(blob)
                if held is not None:
                    self.layers.release(held)  # the new layer holds its parent now
                held = layer.chain_id
            top = chains[-1] if chains else None
            stored_id, new = self.store.add(config_bytes, top, self.layers.size(top) if top else 0, parent_image)
            if not new and held is not None:
                self.layers.release(held)
            held = None
        finally:
            if held is not None and self.layers.release(held):
                self.content.collect_layers(diff_ids)
        return stored_id

    # -- commit -------------------------------------------------------------------------------

    def full_config(self, image_id: str | None, platform: str | None = None) -> dict[str, Any]:
        """The whole image config (os, architecture, config, rootfs, history); scratch's
        (image_id None) is empty, for `platform` or the host's."""
        if image_id is None:
            p = parse_platform(platform)
            base: dict[str, Any] = {"architecture": p.architecture, "os": p.os}
            if p.variant:
                base["variant"] = p.variant
            return base | {"config": {}, "rootfs": {"type": "layers", "diff_ids": []}, "history": []}
        return self.store.config(image_id)

    async def add_image(self, parent: str | None, runtime: dict[str, Any], history_entry: dict[str, Any],
                        layer: AsyncIterable[bytes] | ByteSource | None, platform: str | None = None,
                        top_level: dict[str, Any] | None = None, container: str = "",
                        container_config: dict[str, Any] | None = None) -> str:
        """A new image: `parent`'s layers (+ `layer`, an uncompressed or gzipped tar), with
        `runtime` as its config and `history_entry` appended. What `docker commit` and each
        build step make. `container` and `container_config`: the container it was made from and
        that container's config (the step's command), kept in the config as dockerd keeps them
        (image inspect's Container and ContainerConfig, which docker-compose 1.x reads).
        Returns the new image id."""
        base = self.full_config(parent, platform)
        parent_chain = self.resolve(parent).top_layer if parent else None
        if parent_chain is not None:
            self.layers.acquire(parent_chain)  # the parent may be removed while we extract
        staged: StagedLayer | None = None
        try:
            diff_ids = list((base.get("rootfs") or {}).get("diff_ids") or [])
            entry = {"created": rfc3339_nano(time.time_ns()), **history_entry}
            blob: LayerBlob | None = None
            if layer is not None:
                new, tar = await self._stage(layer, parent_chain)
                staged = new
                diff_ids.append(new.result.diff_id)
                blob = LayerBlob(tar.digest, new.result.diff_id, DOCKER_LAYER_TAR, tar.size)
            else:
                entry["empty_layer"] = True
            config = {k: v for k, v in base.items() if k not in ("container", "container_config", "comment",
                                                                  "author")}
            config |= {"created": entry["created"], **({"container": container} if container else {}),
                       "container_config": {k: v for k, v in (container_config or {}).items() if v is not None},
                       "docker_version": __version__,
                       "config": {k: v for k, v in runtime.items() if v is not None},
                       "rootfs": {"type": "layers", "diff_ids": diff_ids},
                       "history": [*(base.get("history") or []), entry]}
            config |= top_level or {}
            config_bytes = json.dumps(config, separators=(",", ":")).encode()

            async def stage(index: int, parent_chain_id: str | None) -> tuple[StagedLayer, LayerBlob]:
                if staged is None or blob is None or index != len(diff_ids) - 1:
                    raise NotFound(f"layers of image {parent} vanished while adding an image on it")
                return staged, blob

            return await self._store_image(config_bytes, diff_ids, stage, parent_image=parent or "")
        finally:
            if staged is not None:
                self.layers.discard(staged)  # a no-op once committed
            if parent_chain is not None:
                self.layers.release(parent_chain)

    async def restore_step(self, parent: str | None, source: str, runtime: dict[str, Any]) -> str:
        """The image `parent` + the next step of `source`, whose history and layers extend the
        parent's (`--cache-from` with an image pulled or loaded without its step images): the
        step's history entry and layer (already stored, as `source` has it) under `runtime`.
        moby's image/cache restoreCachedImage."""
        base = self.full_config(parent)
        target = self.store.config(source)
        history = list(base.get("history") or [])
        diff_ids = list((base.get("rootfs") or {}).get("diff_ids") or [])
        target_history = list(target.get("history") or [])
        target_diffs = list((target.get("rootfs") or {}).get("diff_ids") or [])
        entry = target_history[len(history)]
        if not entry.get("empty_layer"):
            diff_ids.append(target_diffs[len(diff_ids)])  # the caller checked the parent's layers are its first
        config = {k: v for k, v in target.items() if k in ("architecture", "variant", "os", "os.version", "author")}
        config |= {"created": entry.get("created", ""), "config": {k: v for k, v in runtime.items() if v is not None},
                   "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": [*history, entry]}

        async def stage(index: int, parent_chain_id: str | None) -> tuple[StagedLayer, LayerBlob]:
            raise NotFound(f"layers of image {source} vanished while restoring a cached step from it")

        return await self._store_image(json.dumps(config, separators=(",", ":")).encode(), diff_ids, stage,
                                       parent_image=parent or "")

    async def commit(self, layer_tar_source: AsyncIterable[bytes] | ByteSource, parent_image_id: str,
                     config_overrides: dict[str, Any], repo: str | None, tag: str | None, comment: str,
                     author: str, container: str = "", container_config: dict[str, Any] | None = None) -> str:
        """`docker commit`: a new image = the parent's layers + this tar, with the parent's config
        updated by `config_overrides` (ContainerConfig keys: Cmd, Env, Labels...) and a history
        entry appended. Returns the new image id."""
        ref = reference.parse_repository(repo, tag) if repo else None
        if ref is None and tag:
            raise InvalidArgument("a tag needs a repository name")
        if ref is not None:
            _refuse_id_like(ref)
        parent = self.resolve(parent_image_id)
        runtime = {**(self.store.config(parent.id).get("config") or {}), **config_overrides}
        entry = {"comment": comment, **({"author": author} if author else {})}
        top = {k: v for k, v in (("author", author), ("comment", comment)) if v}
        image_id = await self.add_image(parent.id, runtime, entry, layer_tar_source, top_level=top,
                                        container=container, container_config=container_config)
        if ref is not None:
            self._set_tag(ref, image_id)
        return image_id

    # -- housekeeping -------------------------------------------------------------------------

    def prune(self, filters: dict[str, builtins.list[str]] | None = None) -> dict[str, Any]:
        """POST /images/prune: dangling images (or, with dangling=false, every unused one)."""
        filters = filters or {}
        for key in filters:
            if key not in ("dangling", "until", "label", "label!"):
                raise InvalidArgument(f"invalid filter '{key}'")
        dangling_only = True
        for value in filters.get("dangling", []):
            if value.lower() not in ("true", "false", "1", "0"):
                raise InvalidArgument(f"invalid filter 'dangling={value}'")
            dangling_only = value.lower() in ("true", "1")
        until = None
        for value in filters.get("until", []):
            until = _until_timestamp(value)
        sizes = {row["chain_id"]: row["size"] for row in self.db.query("SELECT chain_id, size FROM layers")}
        deleted: builtins.list[dict[str, str]] = []
        for _ in range(len(sizes) + 64):  # bounded: each round removes at least one image or stops
            progress_made = False
            for image in self.store.all():
                if dangling_only and image.repo_tags:
                    continue
                if until is not None and image.created_unix >= until:
                    continue
                if not labels_match(image.labels, filters.get("label", []), filters.get("label!", [])):
                    continue
                if self.in_use(image.id) or self.store.children(image.id):
                    continue
                deleted.extend(self.delete(image.id, force=True, prune=False))
                progress_made = True
            if not progress_made:
                break
        reclaimed = sum(sizes.get(rec.get("Deleted", ""), 0) for rec in deleted)
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def disk_usage(self, containers_per_image: dict[str, int]) -> tuple[int, builtins.list[dict[str, Any]]]:
        """The images part of GET /system/df: (LayersSize, ImageSummary list with SharedSize and
        Containers filled in). Layer sizes are the database's; nothing walks the disk."""
        images = self.store.all()
        layer_rows = {r["chain_id"]: (r["parent"], r["size"])
                      for r in self.db.query("SELECT chain_id, parent, size FROM layers")}
        chains: dict[str, builtins.list[str]] = {}
        users: dict[str, int] = {}
        for image in images:
            chain: builtins.list[str] = []
            current = image.top_layer
            while current is not None and current in layer_rows and len(chain) < 1000:
                chain.append(current)
                current = layer_rows[current][0]
            chains[image.id] = chain
            for c in chain:
                users[c] = users.get(c, 0) + 1
        layers_size = sum(size for _, size in layer_rows.values()) + self.content.blob_bytes()
        summaries = self.list()
        for summary in summaries:
            chain = chains.get(summary["Id"], [])
            summary["SharedSize"] = sum(layer_rows[c][1] for c in chain if users.get(c, 0) > 1)
            summary["Containers"] = containers_per_image.get(summary["Id"], 0)
        return layers_size, summaries

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
    """ImageInspect.Config (and ContainerConfig): the spec's ImageConfig with Docker's defaults
    filled in; what the config holds of a container's settings (a pulled image's Hostname,
    Image...) shows as dockerd shows it."""
    config: dict[str, Any] = {
        "Hostname": runtime.get("Hostname", ""),
        "Domainname": runtime.get("Domainname", ""),
        "User": runtime.get("User", ""),
        "AttachStdin": bool(runtime.get("AttachStdin")),
        "AttachStdout": bool(runtime.get("AttachStdout")),
        "AttachStderr": bool(runtime.get("AttachStderr")),
        "Tty": bool(runtime.get("Tty")),
        "OpenStdin": bool(runtime.get("OpenStdin")),
        "StdinOnce": bool(runtime.get("StdinOnce")),
        "Env": runtime.get("Env"),
        "Cmd": runtime.get("Cmd"),
        "Image": runtime.get("Image", ""),
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


def _pull_reference(name: str, tag: str | None) -> Reference:
    ref = reference.parse(name, default_tag=False)
    if tag:
        # The CLI sends a digest pull as fromImage=name&tag=sha256:...
        ref = ref.with_digest(tag) if ":" in tag else ref.with_tag(tag)
    elif ref.tag is None and ref.digest is None:
        ref = ref.with_tag(reference.DEFAULT_TAG)
    return ref


def registry_domain(server_address: str) -> str:
    """`https://index.docker.io/v1/`, `localhost:5000`, `http://127.0.0.1:5000/` -> the domain."""
    address = server_address.strip()
    for prefix in ("https://", "http://"):
        address = address.removeprefix(prefix)
    address = address.split("/", 1)[0].lower()
    if not address or address in ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"):
        return reference.DEFAULT_DOMAIN
    return address


def _until_timestamp(value: str) -> int:
    """`until`: a Unix timestamp, an RFC 3339 time, or a Go duration like 24h (that long ago)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", value)
    if m:
        factor = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        return int(time.time() - float(m.group(1)) * factor)
    try:
        return int(float(value))
    except ValueError:
        pass
    stamp = parse_rfc3339_unix(value)
    if stamp == 0:
        raise InvalidArgument(f"invalid filter 'until={value}'")
    return stamp
