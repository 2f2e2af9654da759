"""`docker push`: upload an image's layers, config and a v2 schema 2 manifest to a registry.

Each layer goes up as a gzipped tar. A layer pulled from a registry is pushed as the very blob it
came as (so digests match upstream); a layer that was imported, loaded or committed is compressed
once and the result kept. Before uploading, a HEAD asks whether the registry already has the blob,
and a blob known to live in another repository of the same registry is mounted from there rather
than sent again.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import NotFound
from engine.images import progress
from engine.images.auth import Credentials, repository_scope
from engine.images.content import LayerBlob
from engine.images.manifest import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    FOREIGN_LAYER_TYPES,
    GZIP_LAYER_TYPES,
    TAR_LAYER_TYPES,
)
from engine.images.reference import Reference
from engine.images.registry import RegistryClient, new_session
from engine.storage.blobs import BlobInfo, BlobWriter

if TYPE_CHECKING:
    from engine.images.service import ImageService

log = logging.getLogger(__name__)

CHUNK = 1 << 18
GZIP_LEVEL = 6


@dataclass(frozen=True)
class PushedTag:
    tag: str
    digest: str
    size: int


class _WriterFile:
    """GzipFile writes into a BlobWriter through this."""

    def __init__(self, writer: BlobWriter) -> None:
        self._writer = writer

    def write(self, data: bytes) -> int:
        self._writer.write(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


class Push:
    def __init__(self, images: ImageService, repo: Reference, tags: list[str], credentials: Credentials,
                 sink: progress.ProgressSink, concurrency: int = 3) -> None:
        self.images = images
        self.repo = repo.repository()
        self.tags = tags
        self.credentials = credentials
        self.sink = sink
        self.semaphore = asyncio.Semaphore(max(1, concurrency))

    async def run(self) -> list[PushedTag]:
        images = self.images
        targets = []
        for tag in self.tags:
            ref = self.repo.with_tag(tag)
            image_id = images.store.lookup(ref)
            if image_id is None:
                raise NotFound(f"tag does not exist: {ref.familiar()}")
            targets.append((tag, image_id))
        if not targets:
            raise NotFound(f"An image does not exist locally with the tag: {self.repo.familiar_name()}")
        progress.status(self.sink, f"The push refers to repository [{self.repo.name}]")
        pushed = []
        async with new_session() as session:
            client = RegistryClient(session, self.repo.domain, images.registries, self.credentials,
                                    [repository_scope(self.repo.path, "pull,push")])
            for tag, image_id in targets:
                pushed.append(await self._push_image(client, tag, image_id))
        return pushed

    async def _push_image(self, client: RegistryClient, tag: str, image_id: str) -> PushedTag:
        images = self.images
        config_bytes = images.store.config_bytes(image_id)
        config = json.loads(config_bytes)
        diff_ids: list[str] = list((config.get("rootfs") or {}).get("diff_ids") or [])
        for diff_id in reversed(diff_ids):
            progress.status(self.sink, "Preparing", diff_id.removeprefix("sha256:")[:12])
        layers = [await self._distributable(diff_id) for diff_id in diff_ids]
        uploads = [asyncio.create_task(self._upload_layer(client, blob)) for blob in layers]
        try:
            await asyncio.gather(*uploads)
        except BaseException:
            for task in uploads:
                task.cancel()
            await asyncio.gather(*uploads, return_exceptions=True)
            raise
        if not await client.blob_exists(self.repo.path, image_id):
            location = await client.start_upload(self.repo.path)
            await client.upload_blob(location, image_id, len(config_bytes), _once(config_bytes))
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "size": len(config_bytes), "digest": image_id},
            "layers": [{"mediaType": DOCKER_LAYER_GZIP, "size": b.size, "digest": b.digest} for b in layers],
        }
        data = json.dumps(manifest, indent=3).encode()
        digest = await client.put_manifest(self.repo.path, tag, DOCKER_MANIFEST, data)
        images.content.add_manifest(data, image_id, DOCKER_MANIFEST)
        images.content.add_source(image_id, self.repo.domain, self.repo.path)
        images.store.set_reference(self.repo.with_digest(digest), image_id)
        progress.status(self.sink, f"{tag}: digest: {digest} size: {len(data)}")
        self.sink({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": len(data)}})
        return PushedTag(tag=tag, digest=digest, size=len(data))

    async def _distributable(self, diff_id: str) -> LayerBlob:
        """A gzipped blob of the layer: one we hold, or one made now from its plain tar."""
        blobs = self.images.content.layer_blobs(diff_id)
        for blob in blobs:
            if blob.media_type in GZIP_LAYER_TYPES and blob.media_type not in FOREIGN_LAYER_TYPES:
                return blob
        plain = next((b for b in blobs if b.media_type in TAR_LAYER_TYPES), None)
        if plain is None:
            raise NotFound(f"layer {diff_id} has no stored tar, so it cannot be pushed; "
                           "pull or import the image again")
        ident = diff_id.removeprefix("sha256:")[:12]
        progress.status(self.sink, "Compressing", ident)
        info = await asyncio.to_thread(self._gzip, plain.digest)
        blob = LayerBlob(info.digest, diff_id, DOCKER_LAYER_GZIP, info.size)
        self.images.content.add_layer_blob(blob)
        return blob

    def _gzip(self, digest: str) -> BlobInfo:
        blobs = self.images.blobs
        with blobs.open(digest) as src, blobs.writer() as writer:
            # mtime=0 and no name: the same tar always compresses to the same digest.
            with gzip.GzipFile(filename="", mode="wb", fileobj=_WriterFile(writer),
                               compresslevel=GZIP_LEVEL, mtime=0) as gz:
                while chunk := src.read(1 << 20):
                    gz.write(chunk)
            return writer.commit()

    async def _upload_layer(self, client: RegistryClient, blob: LayerBlob) -> None:
        ident = blob.diff_id.removeprefix("sha256:")[:12]
        if self.semaphore.locked():
            progress.status(self.sink, "Waiting", ident)
        async with self.semaphore:
            status = await self._upload(client, blob.digest, blob.size, ident)
        self.images.content.add_source(blob.digest, self.repo.domain, self.repo.path)
        progress.status(self.sink, status, ident)

    async def _upload(self, client: RegistryClient, digest: str, size: int, ident: str) -> str:
        path = self.repo.path
        if await client.blob_exists(path, digest):
            return "Layer already exists"
        location: str | None = None
        for source in self.images.content.sources(digest, self.repo.domain):
            if source == path:
                continue
            client.add_scope(repository_scope(source, "pull"))
            location = await client.mount_blob(path, digest, source)
            if location is None:
                return f"Mounted from {source}"
            break  # the registry opened an upload instead; use it
        if location is None:
            location = await client.start_upload(path)
        meter = progress.Meter(self.sink, ident, "Pushing", size)
        await client.upload_blob(location, digest, size, self._read(digest, meter))
        meter.update(size, force=True)
        return "Pushed"

    async def _read(self, digest: str, meter: progress.Meter) -> AsyncIterator[bytes]:
        sent = 0
        with self.images.blobs.open(digest) as f:
            while chunk := await asyncio.to_thread(f.read, CHUNK):
                sent += len(chunk)
                meter.update(sent)
                yield chunk


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
