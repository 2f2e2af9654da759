"""`docker save` and `docker load`: image archives, in the layout Docker 25+ writes.

A saved archive is an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/...`) that also
carries Docker's `manifest.json`, so both `docker load` (old and new) and OCI tools read it. It is
produced as a stream of tar blocks straight from the BlobStore: nothing is staged on disk.

Loading reads an archive stream (plain or compressed) once. Files under `blobs/sha256/` go into
the BlobStore verified against their names; anything else (manifest.json, index.json, legacy
`<id>/layer.tar`) lands in a scratch directory; symlinks and hardlinks are only recorded, never
created. Then `manifest.json` (docker-archive) or `index.json` (OCI layout) says which configs and
layers make which images.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
import shutil
import tarfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from engine.errors import InvalidArgument, NotFound
from engine.images import reference
from engine.images.manifest import (
    DOCKER_LAYER_GZIP,
    DOCKER_LAYER_TAR,
    INDEX_TYPES,
    MANIFEST_TYPES,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_LAYER_TAR,
    OCI_MANIFEST,
    Index,
    InvalidManifest,
    Manifest,
    digest_of,
    parse_config,
    parse_document,
    select_platform,
)
from engine.images.platform import host_platform
from engine.images.reference import Reference
from engine.storage.blobs import check_digest
from engine.storage.tarsafe import ByteSource, clean_name

if TYPE_CHECKING:
    from engine.images.service import ImageService

BLOCK = 512
CHUNK = 1 << 20
MAX_JSON = 16 << 20


# -- save -----------------------------------------------------------------------------------------


@dataclass
class SavedImage:
    image_id: str
    tags: list[Reference]
    config: bytes
    layers: list[tuple[str, str, int]]  # (blob digest, media type, size) in config order


@dataclass
class SavePlan:
    images: list[SavedImage] = field(default_factory=list)


def plan_save(images: ImageService, names: list[str]) -> SavePlan:
    """Resolve every name before the first byte goes out, so a bad name is a clean 404."""
    if not names:
        raise InvalidArgument("no image names given")
    plan = SavePlan()
    by_id: dict[str, SavedImage] = {}
    for name in names:
        for image_id, tag in _expand(images, name):
            saved = by_id.get(image_id)
            if saved is None:
                config = images.store.config_bytes(image_id)
                diff_ids = (json.loads(config).get("rootfs") or {}).get("diff_ids") or []
                layers = []
                for diff_id in diff_ids:
                    blobs = images.content.layer_blobs(diff_id)
                    if not blobs:
                        raise NotFound(f"layer {diff_id} of image {image_id} has no stored tar; it cannot be saved")
                    # A plain tar is what every `docker load` reads fastest; else the compressed one.
                    blob = next((b for b in blobs if b.media_type in (DOCKER_LAYER_TAR, OCI_LAYER_TAR)), blobs[0])
                    layers.append((blob.digest, blob.media_type, blob.size))
                saved = by_id[image_id] = SavedImage(image_id, [], config, layers)
                plan.images.append(saved)
            if tag is not None and tag not in saved.tags:
                saved.tags.append(tag)
    return plan


def _expand(images: ImageService, name: str) -> list[tuple[str, Reference | None]]:
    """A name is an image (by id: no tag saved), a tag, or a bare repository (all its tags)."""
    if not reference.is_full_id(name) and "@" not in name:
        try:
            ref = reference.parse(name, default_tag=False)
        except InvalidArgument:
            ref = None
        if ref is not None and ref.tag is None:
            tagged = sorted(((r.canonical(), img.id, r) for img in images.store.all() for r in img.repo_tags
                             if r.name == ref.name), key=lambda t: t[0])
            if tagged:
                return [(image_id, r) for _, image_id, r in tagged]
    image_id, by_ref = images.lookup(name)
    return [(image_id, by_ref if by_ref is not None and by_ref.digest is None else None)]


def _header(name: str, size: int, directory: bool = False) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = 0 if directory else size
    info.mode = 0o755 if directory else 0o644
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mtime = 0
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def _layer_media(media_type: str) -> str:
    return OCI_LAYER_TAR if media_type in (DOCKER_LAYER_TAR, OCI_LAYER_TAR) else OCI_LAYER_GZIP


async def stream_save(images: ImageService, plan: SavePlan) -> AsyncIterator[bytes]:
    """The archive, as tar bytes, each blob read in chunks from the store."""
    import asyncio

    written: set[str] = set()
    yield _header("blobs/", 0, directory=True) + _header("blobs/sha256/", 0, directory=True)

    async def blob_file(digest: str) -> AsyncIterator[bytes]:
        if digest in written:
            return
        written.add(digest)
        size = images.blobs.size(digest)
        yield _header(f"blobs/sha256/{check_digest(digest)}", size)
        sent = 0
        with images.blobs.open(digest) as f:
            while chunk := await asyncio.to_thread(f.read, CHUNK):
                sent += len(chunk)
                yield chunk
        if sent != size:
            raise OSError(f"blob {digest} changed size while being saved")
        yield _padding(size)

    def small_file(name: str, data: bytes) -> bytes:
        return _header(name, len(data)) + data + _padding(len(data))

    index_entries: list[dict[str, Any]] = []
    docker_manifest: list[dict[str, Any]] = []
    for saved in plan.images:
        for digest, _media, _size in saved.layers:
            async for part in blob_file(digest):
                yield part
        async for part in blob_file(saved.image_id):
            yield part
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": saved.image_id,
                       "size": len(saved.config)},
            "layers": [{"mediaType": _layer_media(m), "digest": d, "size": s} for d, m, s in saved.layers],
        }
        manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
        manifest_digest = digest_of(manifest_bytes)
        if manifest_digest not in written:
            written.add(manifest_digest)
            yield small_file(f"blobs/sha256/{check_digest(manifest_digest)}", manifest_bytes)
        descriptor = {"mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": len(manifest_bytes)}
        if saved.tags:
            for tag in saved.tags:
                index_entries.append({**descriptor, "annotations": {
                    "io.containerd.image.name": tag.canonical(),
                    "org.opencontainers.image.ref.name": tag.tag or "latest"}})
        else:
            index_entries.append(descriptor)
        docker_manifest.append({
            "Config": f"blobs/sha256/{check_digest(saved.image_id)}",
            "RepoTags": [t.familiar() for t in saved.tags] or None,
            "Layers": [f"blobs/sha256/{check_digest(d)}" for d, _m, _s in saved.layers],
        })
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index_entries}
    yield small_file("index.json", json.dumps(index, separators=(",", ":")).encode())
    yield small_file("manifest.json", json.dumps(docker_manifest, separators=(",", ":")).encode())
    yield small_file("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    yield b"\0" * (2 * BLOCK)


# -- load -----------------------------------------------------------------------------------------


@dataclass
class LoadedArchive:
    """What reading the archive stream produced: blobs stored, other files in `scratch`."""

    scratch: Path
    links: dict[str, str] = field(default_factory=dict)  # archive path -> archive path it points at
    files: set[str] = field(default_factory=set)
    blobs: set[str] = field(default_factory=set)  # digests the archive carried (stored, verified)
    new_blobs: set[str] = field(default_factory=set)  # those that were not in the store before

    def resolve(self, name: str) -> str:
        path = posixpath.normpath(name.lstrip("/"))
        for _ in range(16):
            if path not in self.links:
                return path
            path = self.links[path]
        raise InvalidArgument(f"archive: too many links at {name!r}")

    def blob_digest(self, name: str) -> str | None:
        path = self.resolve(name)
        head, _, hexpart = path.rpartition("/")
        if head == "blobs/sha256" and "sha256:" + hexpart in self.blobs:
            return "sha256:" + hexpart
        return None


def read_archive(images: ImageService, source: ByteSource, scratch: Path) -> LoadedArchive:
    """Blocking: run in a worker thread. Unpacks what the loader needs; trusts no name."""
    loaded = LoadedArchive(scratch=scratch)
    try:
        tf = tarfile.open(fileobj=source, mode="r|*")  # type: ignore[call-overload]  # noqa: SIM115
    except tarfile.TarError as e:
        raise InvalidArgument(f"invalid archive: {e}") from None
    try:
        with tf:
            while (member := tf.next()) is not None:
                parts = clean_name(member.name)
                tf.members.clear()  # stream mode keeps every header otherwise
                if not parts:
                    continue
                name = "/".join(parts)
                if member.issym() or member.islnk():
                    target = member.linkname
                    if member.issym():
                        target = posixpath.join(posixpath.dirname(name), target)
                    target = posixpath.normpath(target.lstrip("/"))
                    if target.startswith(".."):
                        raise InvalidArgument(f"archive: link {name!r} points outside the archive")
                    loaded.links[name] = target
                    continue
                if not member.isfile():
                    continue
                f = tf.extractfile(member)
                assert f is not None
                if len(parts) == 3 and parts[:2] == ("blobs", "sha256"):
                    digest = "sha256:" + parts[2]
                    check_digest(digest)
                    if not images.blobs.has(digest):
                        images.blobs.put(f, expected=digest)
                        loaded.new_blobs.add(digest)
                    loaded.blobs.add(digest)
                    continue
                dest = scratch.joinpath(*parts)
                dest.parent.mkdir(parents=True, exist_ok=True)
                with open(dest, "wb") as out:
                    shutil.copyfileobj(f, out, CHUNK)
                loaded.files.add(name)
    except tarfile.TarError as e:
        raise InvalidArgument(f"invalid archive: {e}") from None
    return loaded


@dataclass
class ArchiveImage:
    config: bytes
    layers: list[str]  # archive paths of the layer tars, in config order
    layer_types: list[str | None]  # media types from an OCI manifest, else None (sniffed)
    tags: list[Reference]


def images_in(loaded: LoadedArchive, images: ImageService) -> list[ArchiveImage]:
    """The images the archive describes: manifest.json first, else the OCI index."""
    if "manifest.json" in loaded.files or "manifest.json" in loaded.links:
        return _docker_archive(loaded, images)
    if "index.json" in loaded.files:
        return _oci_layout(loaded, images)
    raise InvalidArgument("invalid archive: neither manifest.json nor index.json found")


def read_json_file(loaded: LoadedArchive, images: ImageService, name: str) -> bytes:
    digest = loaded.blob_digest(name)
    if digest is not None:
        return images.blobs.read_bytes(digest)
    path = loaded.resolve(name)
    if path not in loaded.files:
        raise InvalidArgument(f"invalid archive: {name!r} is missing")
    file = loaded.scratch.joinpath(*path.split("/"))
    if file.stat().st_size > MAX_JSON:
        raise InvalidArgument(f"invalid archive: {name!r} is too large")
    return file.read_bytes()


def open_layer(loaded: LoadedArchive, images: ImageService, name: str) -> tuple[BinaryIO, str | None]:
    """(file, blob digest if it is a stored blob)."""
    digest = loaded.blob_digest(name)
    if digest is not None:
        return images.blobs.open(digest), digest
    path = loaded.resolve(name)
    if path not in loaded.files:
        raise InvalidArgument(f"invalid archive: layer {name!r} is missing")
    return open(loaded.scratch.joinpath(*path.split("/")), "rb"), None


def _docker_archive(loaded: LoadedArchive, images: ImageService) -> list[ArchiveImage]:
    try:
        entries = json.loads(read_json_file(loaded, images, "manifest.json"))
    except ValueError as e:
        raise InvalidArgument(f"invalid archive: manifest.json: {e}") from None
    if not isinstance(entries, list):
        raise InvalidArgument("invalid archive: manifest.json is not a list")
    out = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) \
                or not isinstance(entry.get("Layers"), list):
            raise InvalidArgument("invalid archive: malformed manifest.json entry")
        tags = [reference.parse_repository(t) for t in entry.get("RepoTags") or [] if isinstance(t, str)]
        layers = [str(x) for x in entry["Layers"]]
        out.append(ArchiveImage(read_json_file(loaded, images, entry["Config"]), layers, [None] * len(layers), tags))
    return out


def _oci_layout(loaded: LoadedArchive, images: ImageService) -> list[ArchiveImage]:
    index = parse_document(read_json_file(loaded, images, "index.json"), None, INDEX_TYPES)
    assert isinstance(index, Index)
    out: list[ArchiveImage] = []
    for desc in index.manifests:
        doc_bytes = read_json_file(loaded, images, f"blobs/sha256/{check_digest(desc.digest)}")
        doc = parse_document(doc_bytes, None, frozenset({desc.media_type}) & (MANIFEST_TYPES | INDEX_TYPES))
        if doc.digest != desc.digest:
            raise InvalidManifest(f"archive: manifest {desc.digest} does not match its content")
        if isinstance(doc, Index):
            child = select_platform(doc, host_platform())
            doc = parse_document(read_json_file(loaded, images, f"blobs/sha256/{check_digest(child.digest)}"),
                                 None, frozenset({child.media_type}))
        assert isinstance(doc, Manifest)
        tags = []
        name = desc.annotations.get("io.containerd.image.name", "")
        ref_name = desc.annotations.get("org.opencontainers.image.ref.name", "")
        if not name and ("/" in ref_name or ":" in ref_name):
            name = ref_name  # a full reference; a bare tag like "latest" names no repository
        if name:
            with contextlib.suppress(InvalidArgument):  # not a usable reference: load it untagged
                tags.append(reference.parse(name))
        config = read_json_file(loaded, images, f"blobs/sha256/{check_digest(doc.config.digest)}")
        if digest_of(config) != doc.config.digest:
            raise InvalidManifest(f"archive: config {doc.config.digest} does not match its content")
        out.append(ArchiveImage(config, [f"blobs/sha256/{check_digest(d.digest)}" for d in doc.layers],
                                [d.media_type for d in doc.layers], tags))
    return out


def sniff_layer_type(f: BinaryIO) -> str:
    head = f.read(2)
    f.seek(0)
    return DOCKER_LAYER_GZIP if head == b"\x1f\x8b" else DOCKER_LAYER_TAR


def parse_archive_config(data: bytes) -> list[str]:
    return list(parse_config(data)["rootfs"]["diff_ids"])
