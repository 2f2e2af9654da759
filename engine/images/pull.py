"""`docker pull`: resolve a reference to one platform's manifest, fetch its config and layers.

Layers download concurrently (three at a time by default) straight into the BlobStore, hashed
as they are written and published only if they match their digest; a connection that drops
mid-body is resumed with a Range request. Extraction runs in layer order, each layer in a worker
thread as soon as it and its parent are ready, so downloading and unpacking overlap. Layers
already unpacked (same chain id) are neither downloaded nor extracted again.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

import aiohttp

from engine.errors import EngineError, NotFound
from engine.images import progress
from engine.images.auth import ANONYMOUS, Credentials, repository_scope
from engine.images.content import LayerBlob
from engine.images.manifest import (
    FOREIGN_LAYER_TYPES,
    Descriptor,
    Index,
    InvalidManifest,
    Manifest,
    config_platform,
    parse_config,
    platform_matches,
    select_platform,
)
from engine.images.platform import Platform
from engine.images.reference import Reference
from engine.images.registry import RegistryClient, RegistryError, RegistryUnavailable, new_session
from engine.storage.blobs import BlobWriter
from engine.storage.layers import StagedLayer, chain_id

if TYPE_CHECKING:
    from engine.images.service import ImageService

log = logging.getLogger(__name__)

CHUNK = 1 << 18
MAX_ATTEMPTS = 5
RETRY_BASE_DELAY = 0.2
RETRY_MAX_DELAY = 5.0


@dataclass(frozen=True)
class PullResult:
    image_id: str
    digest: str  # what was pulled: the index's digest when the reference named one
    new: bool


class _ShortRead(Exception):
    """The body ended before the descriptor's size: resume with Range."""


@dataclass
class _Transfer:
    """A download in progress: survives the attempts, so a retry resumes where the last stopped."""

    writer: BlobWriter
    meter: progress.Meter
    written: int = 0


class _CountingReader:
    """A blob file for extraction that reports how far it got (the Extracting bar)."""

    def __init__(self, f: BinaryIO, report: Callable[[int], None]) -> None:
        self._f = f
        self._report = report
        self.count = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self._f.read(size)
        self.count += len(data)
        self._report(self.count)
        return data


class Pull:
    def __init__(self, images: ImageService, ref: Reference, platform: Platform, *, explicit_platform: bool,
                 credentials: Credentials, sink: progress.ProgressSink, concurrency: int = 3) -> None:
        self.images = images
        self.ref = ref
        self.platform = platform
        self.explicit_platform = explicit_platform
        self.credentials = credentials
        self.sink = sink
        self.semaphore = asyncio.Semaphore(max(1, concurrency))
        self.repo = ref.path

    async def run(self) -> PullResult:
        ref = self.ref
        wanted = ref.digest or ref.tag or "latest"
        async with new_session() as session:
            client, doc = await self._first_answer(session, wanted)
            # Only once the registry answered, as dockerd: an unreachable registry or unknown
            # name is then a plain error response (docker-py's pull() raises it), not a 200
            # whose last line is the error. dockerd names the repository by its path.
            progress.status(self.sink, f"Pulling from {self.repo}", wanted)
            top = doc
            if isinstance(doc, Index):
                desc = select_platform(doc, self.platform)
                doc = await client.get_manifest(self.repo, desc.digest, frozenset({desc.media_type}))
                if not isinstance(doc, Manifest):
                    raise InvalidManifest(f"index entry {desc.digest} is not an image manifest")
            result = await self._pull_manifest(client, top, doc)
        previous = self.images.store.lookup(self.ref) if self.ref.tag is not None else None
        if self.ref.tag is not None and previous != result.image_id:
            result = PullResult(result.image_id, result.digest, new=True)  # the tag moved: newer for the user
            if previous is not None:
                self._say_replaced(previous, result.image_id)
        self._name(top.digest, result.image_id)
        progress.status(self.sink, f"Digest: {top.digest}")
        verb = "Downloaded newer image" if result.new else "Image is up to date"
        progress.status(self.sink, f"Status: {verb} for {ref.familiar()}")
        return result

    async def _first_answer(self, session: aiohttp.ClientSession,
                            wanted: str) -> tuple[RegistryClient, Manifest | Index]:
        """The client of the first endpoint that has the manifest: Docker Hub's mirrors in turn, then
        the registry itself, whose failure is the pull's (a mirror's is only logged, as dockerd does).
        A mirror gets no credentials: they are the registry's."""
        endpoints = self.images.registries.pull_endpoints(self.ref.domain)
        for mirror in endpoints:
            client = RegistryClient(session, self.ref.domain, self.images.registries,
                                    self.credentials if mirror is None else ANONYMOUS,
                                    [repository_scope(self.repo, "pull")], mirror=mirror)
            try:
                return client, await client.get_manifest(self.repo, wanted)
            except EngineError as e:
                if mirror is None:
                    raise
                log.info("pulling %s through mirror %s failed, trying the next: %s", self.ref.familiar(), mirror, e)
        raise AssertionError("the registry itself is always the last endpoint")

    def _name(self, digest: str, image_id: str) -> None:
        if self.ref.tag is not None:
            self.images.set_tag(self.ref, image_id)
        # As dockerd's reference store: a digest, once it names an image, keeps naming it. So the first
        # platform pulled from an index stays listed under the repository (by that digest) when a second
        # platform takes the tag, instead of becoming a dangling image.
        by_digest = self.ref.repository().with_digest(digest)
        if self.images.store.lookup(by_digest) in (None, image_id):
            self.images.store.set_reference(by_digest, image_id)

    def _say_replaced(self, previous: str, image_id: str) -> None:
        """One name holds one platform (dockerd's classic image store; not the containerd store's index):
        say so when a pull for another platform moves the name."""
        store = self.images.store
        if not store.exists(previous):
            return
        old, new = config_platform(store.config(previous)), config_platform(store.config(image_id))
        if str(old) != str(new):
            progress.status(self.sink, f"{self.ref.familiar()} now names its {new} image in place of the {old} "
                                       f"one (a name holds one platform; the {old} image is kept)")

    async def _pull_manifest(self, client: RegistryClient, top: Manifest | Index, manifest: Manifest) -> PullResult:
        images = self.images
        image_id = manifest.config.digest
        if images.store.exists(image_id):
            config_bytes = images.store.config_bytes(image_id)
        else:
            config_bytes = await client.get_blob_bytes(self.repo, image_id, manifest.config.size)
        config = parse_config(config_bytes)
        have = config_platform(config)
        if self.explicit_platform and not platform_matches(have, self.platform):
            raise NotFound(f"image with reference {self.ref.familiar()} was found but its platform ({have}) does "
                           f"not match the specified platform ({self.platform})")
        diff_ids: list[str] = list(config["rootfs"]["diff_ids"])
        if len(diff_ids) != len(manifest.layers):
            raise InvalidManifest(f"manifest has {len(manifest.layers)} layers but the config lists "
                                  f"{len(diff_ids)} diff_ids")
        if images.store.exists(image_id):
            self._remember(top, manifest, image_id)
            return PullResult(image_id=image_id, digest=top.digest, new=False)

        chains: list[str] = []
        parent: str | None = None
        for diff_id in diff_ids:
            parent = chain_id(parent, diff_id)
            chains.append(parent)
        first_missing = next((i for i, c in enumerate(chains) if not images.layers.exists(c)), len(chains))
        for i, desc in enumerate(manifest.layers):
            progress.status(self.sink, "Already exists" if i < first_missing else "Pulling fs layer", desc.short_id)

        downloads: dict[str, asyncio.Task[None]] = {}
        for desc in manifest.layers[first_missing:]:
            if desc.digest not in downloads:
                downloads[desc.digest] = asyncio.create_task(self._download(client, desc))
        held: str | None = None
        fetched: set[str] = set()
        try:
            if first_missing > 0:
                held = images.layers.acquire(chains[first_missing - 1]).chain_id
            for i in range(first_missing, len(chains)):
                desc = manifest.layers[i]
                await downloads[desc.digest]
                fetched.add(desc.digest)
                layer = await self._extract(desc, diff_ids[i], chains[i - 1] if i else None)
                if held is not None:
                    images.layers.release(held)  # the new layer holds its parent now
                held = layer
                images.content.add_layer_blob(LayerBlob(desc.digest, diff_ids[i], desc.media_type, desc.size))
                images.content.add_source(desc.digest, self.ref.domain, self.repo)
                progress.status(self.sink, "Pull complete", desc.short_id)
            if held is None and chains:
                held = images.layers.acquire(chains[-1]).chain_id
            top_layer = chains[-1] if chains else None
            size = images.layers.size(top_layer) if top_layer else 0
            stored_id, new = images.store.add(config_bytes, top_layer, size)
            if stored_id != image_id:
                raise InvalidManifest(f"config {image_id} stored as {stored_id}")
            if not new and held is not None:
                images.layers.release(held)
            held = None
        except BaseException:
            for task in downloads.values():
                task.cancel()
            await asyncio.gather(*downloads.values(), return_exceptions=True)
            if held is not None and images.layers.release(held):
                images.content.collect_layers(diff_ids)
            for digest in fetched | set(downloads):
                if images.content.layer_blob(digest) is None:
                    images.blobs.delete(digest)  # downloaded for a layer that never got unpacked
            raise
        self._remember(top, manifest, image_id)
        images.content.add_source(image_id, self.ref.domain, self.repo)
        return PullResult(image_id=image_id, digest=top.digest, new=True)

    def _remember(self, top: Manifest | Index, manifest: Manifest, image_id: str) -> None:
        if top is not manifest:
            self.images.content.add_manifest(top.raw, image_id, top.media_type)
        self.images.content.add_manifest(manifest.raw, image_id, manifest.media_type)

    # -- download -----------------------------------------------------------------------------

    async def _download(self, client: RegistryClient, desc: Descriptor) -> None:
        ident = desc.short_id
        blobs = self.images.blobs
        if blobs.has(desc.digest):
            progress.status(self.sink, "Download complete", ident)
            return
        if self.semaphore.locked():
            progress.status(self.sink, "Waiting", ident)
        async with self.semaphore:
            state = _Transfer(blobs.writer(desc.digest), progress.Meter(self.sink, ident, "Downloading", desc.size))
            attempts = 0
            urls = [u for u in desc.urls if u.startswith(("http://", "https://"))] \
                if desc.media_type in FOREIGN_LAYER_TYPES else []
            try:
                while True:
                    try:
                        await self._fetch(client, desc, state, urls)
                        break
                    except (TimeoutError, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError,
                            RegistryUnavailable, _ShortRead) as e:
                        attempts += 1
                        if attempts >= MAX_ATTEMPTS:
                            raise RegistryError(f"downloading layer {ident} failed after {attempts} attempts: "
                                                f"{e or type(e).__name__}") from None
                        if urls:
                            urls = urls[1:]  # next foreign URL, or the registry itself
                        delay = min(RETRY_BASE_DELAY * 2 ** (attempts - 1), RETRY_MAX_DELAY)
                        log.info("layer %s: %s; resuming from byte %d", ident, e or type(e).__name__, state.written)
                        seconds = math.ceil(delay)
                        progress.status(self.sink, f"Retrying in {seconds} second{'' if seconds == 1 else 's'}", ident)
                        await asyncio.sleep(delay)
                state.meter.update(state.written, force=True)
                progress.status(self.sink, "Verifying Checksum", ident)
                await asyncio.to_thread(state.writer.commit)
            finally:
                state.writer.abort()
        progress.status(self.sink, "Download complete", ident)

    async def _fetch(self, client: RegistryClient, desc: Descriptor, state: _Transfer, urls: list[str]) -> None:
        """One attempt: from `state.written` on (Range), appending to `state.writer`."""
        offset = state.written
        opener = client.open_foreign(urls[0], offset) if urls else client.open_blob(self.repo, desc.digest, offset)
        async with opener as resp:
            if offset and resp.status != 206:
                # The server ignored Range: start over with a fresh hash.
                state.writer.abort()
                state.writer, state.written = self.images.blobs.writer(desc.digest), 0
            elif offset and not resp.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
                raise InvalidManifest(f"layer {desc.short_id}: registry answered Range {offset}- with "
                                      f"{resp.headers.get('Content-Range')!r}")
            async for chunk in resp.content.iter_chunked(CHUNK):
                if state.written + len(chunk) > desc.size:
                    raise InvalidManifest(f"layer {desc.digest} is larger than its manifest says ({desc.size})")
                state.writer.write(chunk)
                state.written += len(chunk)
                state.meter.update(state.written)
        if state.written < desc.size:
            raise _ShortRead(f"connection closed at {state.written} of {desc.size} bytes")

    # -- extraction ---------------------------------------------------------------------------

    async def _extract(self, desc: Descriptor, diff_id: str, parent: str | None) -> str:
        """Unpack a downloaded layer on top of `parent`; returns its chain id (a held reference)."""
        images = self.images
        ident = desc.short_id
        loop = asyncio.get_running_loop()
        meter = progress.Meter(self.sink, ident, "Extracting", desc.size)

        def report(n: int) -> None:
            loop.call_soon_threadsafe(meter.update, n)

        def stage() -> StagedLayer:
            with images.blobs.open(desc.digest) as f:
                return images.layers.stage(_CountingReader(f, report), parent)

        staged = await asyncio.to_thread(stage)
        if staged.result.diff_id != diff_id:
            images.layers.discard(staged)
            raise InvalidManifest(f"layer {desc.digest} unpacks to {staged.result.diff_id}, but the image config "
                                  f"says {diff_id}")
        meter.update(desc.size, force=True)
        return images.layers.commit(staged).chain_id

