"""Distribution documents: Docker v2 schema 2 and OCI manifests and indexes, parsed strictly.

A registry answers a manifest request with bytes and a Content-Type. The media type decides how
the bytes are read, so it must be unambiguous (CVE-2021-41190): a document carrying both
`manifests` and `layers`/`config`, a body `mediaType` that contradicts the Content-Type, or a
document whose type is not the one its descriptor promised is refused rather than guessed at.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from engine.errors import InvalidArgument, NotFound
from engine.images.platform import Platform
from engine.storage.blobs import check_digest

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_ND_TAR = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_ND_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"

MANIFEST_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEX_TYPES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
ALL_MANIFEST_TYPES = MANIFEST_TYPES | INDEX_TYPES
CONFIG_TYPES = frozenset({DOCKER_CONFIG, OCI_CONFIG})
GZIP_LAYER_TYPES = frozenset({DOCKER_LAYER_GZIP, DOCKER_FOREIGN_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ND_GZIP})
TAR_LAYER_TYPES = frozenset({DOCKER_LAYER_TAR, OCI_LAYER_TAR, OCI_LAYER_ND_TAR})
LAYER_TYPES = GZIP_LAYER_TYPES | TAR_LAYER_TYPES
FOREIGN_LAYER_TYPES = frozenset({DOCKER_FOREIGN_LAYER, OCI_LAYER_ND_TAR, OCI_LAYER_ND_GZIP})

# What we ask registries for, best first.
ACCEPT = ", ".join([OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST])
MAX_MANIFEST_BYTES = 4 << 20  # the distribution spec's suggested limit; a bigger one is hostile


class InvalidManifest(InvalidArgument):
    """A manifest, index or config we refuse to interpret."""


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()
    platform: Platform | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.urls:
            out["urls"] = list(self.urls)
        if self.platform is not None:
            out["platform"] = platform_json(self.platform)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @property
    def short_id(self) -> str:
        """What Docker's progress lines call a layer: 12 hex digits of its digest."""
        return self.digest.removeprefix("sha256:")[:12]


@dataclass(frozen=True)
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    raw: bytes
    digest: str


@dataclass(frozen=True)
class Index:
    media_type: str
    manifests: tuple[Descriptor, ...]
    raw: bytes
    digest: str


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def platform_json(p: Platform) -> dict[str, str]:
    out = {"architecture": p.architecture, "os": p.os}
    if p.variant:
        out["variant"] = p.variant
    return out


def _bare_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_document(data: bytes, content_type: str | None, expected: frozenset[str] = ALL_MANIFEST_TYPES
                   ) -> Manifest | Index:
    """Parse a manifest or index, refusing anything whose type is ambiguous or unexpected.

    `content_type` is the response's header (None for documents read from a file or an archive);
    `expected` the media types the caller can accept at this point (what the descriptor promised).
    """
    if len(data) > MAX_MANIFEST_BYTES:
        raise InvalidManifest(f"manifest is too large ({len(data)} bytes)")
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise InvalidManifest(f"manifest is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidManifest("manifest is not a JSON object")
    header = _bare_type(content_type)
    if header in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED) or doc.get("schemaVersion") == 1:
        raise InvalidManifest("Docker image manifest schema 1 is deprecated and not supported; "
                              "push the image again with a current client")
    if doc.get("schemaVersion") != 2:
        raise InvalidManifest(f"unsupported manifest schemaVersion {doc.get('schemaVersion')!r}")
    body_type = doc.get("mediaType")
    if body_type is not None and not isinstance(body_type, str):
        raise InvalidManifest("manifest mediaType is not a string")
    has_index_fields = "manifests" in doc
    has_manifest_fields = "layers" in doc or "config" in doc
    if has_index_fields and has_manifest_fields:
        raise InvalidManifest("ambiguous document: it has both 'manifests' and 'layers'/'config'")
    # A generic header says nothing; otherwise header and body must agree.
    header_specific = header not in ("", "application/json", "application/octet-stream", "text/plain")
    if header_specific and body_type and header != body_type:
        raise InvalidManifest(f"media type mismatch: served as {header!r} but the document says {body_type!r}")
    media_type = body_type or (header if header_specific else "")
    if not media_type:
        # OCI makes mediaType optional; only then may the structure decide.
        media_type = OCI_INDEX if has_index_fields else OCI_MANIFEST
    if media_type not in ALL_MANIFEST_TYPES:
        raise InvalidManifest(f"unsupported manifest media type {media_type!r}")
    if media_type not in expected:
        raise InvalidManifest(f"unexpected manifest media type {media_type!r} (wanted one of {sorted(expected)})")
    digest = digest_of(data)
    if media_type in INDEX_TYPES:
        if has_manifest_fields or not isinstance(doc.get("manifests"), list):
            raise InvalidManifest(f"{media_type} must list 'manifests' and nothing else")
        return Index(media_type=media_type, manifests=tuple(_descriptor(m) for m in doc["manifests"]),
                     raw=data, digest=digest)
    if has_index_fields or not isinstance(doc.get("layers"), list) or not isinstance(doc.get("config"), dict):
        raise InvalidManifest(f"{media_type} must have 'config' and 'layers'")
    config = _descriptor(doc["config"])
    if config.media_type not in CONFIG_TYPES:
        raise InvalidManifest(f"not a container image: config media type {config.media_type!r}")
    layers = tuple(_descriptor(layer) for layer in doc["layers"])
    for layer in layers:
        if layer.media_type == OCI_LAYER_ZSTD:
            raise InvalidManifest("zstd-compressed layers are not supported")
        if layer.media_type not in LAYER_TYPES:
            raise InvalidManifest(f"unsupported layer media type {layer.media_type!r}")
    return Manifest(media_type=media_type, config=config, layers=layers, raw=data, digest=digest)


def _descriptor(obj: Any) -> Descriptor:
    if not isinstance(obj, dict):
        raise InvalidManifest("descriptor is not a JSON object")
    media_type, digest, size = obj.get("mediaType"), obj.get("digest"), obj.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise InvalidManifest("descriptor without mediaType")
    if not isinstance(digest, str):
        raise InvalidManifest("descriptor without digest")
    try:
        check_digest(digest)
    except InvalidArgument:
        raise InvalidManifest(f"unsupported digest {digest!r}: only sha256 is accepted") from None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidManifest(f"descriptor {digest} has an invalid size")
    urls = obj.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise InvalidManifest(f"descriptor {digest} has invalid urls")
    plat = obj.get("platform")
    platform = None
    if isinstance(plat, dict) and isinstance(plat.get("os"), str) and isinstance(plat.get("architecture"), str):
        platform = Platform(os=plat["os"], architecture=plat["architecture"], variant=plat.get("variant") or None)
    annotations = obj.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise InvalidManifest(f"descriptor {digest} has invalid annotations")
    return Descriptor(media_type=media_type, digest=digest, size=size, urls=tuple(urls), platform=platform,
                      annotations={str(k): str(v) for k, v in annotations.items()})


def platform_matches(have: Platform, want: Platform) -> bool:
    if have.os != want.os or have.architecture != want.architecture:
        return False
    if want.variant is None or have.variant == want.variant:
        return True
    # arm64's only variant is v8: an entry without one is the same thing.
    return want.architecture == "arm64" and {have.variant, want.variant} <= {None, "v8"}


def select_platform(index: Index, want: Platform) -> Descriptor:
    """The index entry for `want`: exact variant first, then any entry without a variant."""
    candidates = [d for d in index.manifests if d.media_type in MANIFEST_TYPES and d.platform is not None
                  and platform_matches(d.platform, want)]
    if not candidates:
        raise NotFound(f"no matching manifest for {want} in the manifest list entries")
    if want.variant is None:
        # With no variant asked for, the entry without one wins, else the highest (v8 > v7 > v6).
        plain = [d for d in candidates if d.platform is not None and not d.platform.variant]
        if plain:
            return plain[0]
        return max(candidates, key=lambda d: (d.platform.variant or "") if d.platform is not None else "")
    return candidates[0]


def parse_config(data: bytes) -> dict[str, Any]:
    """An image config: must be a JSON object with rootfs.diff_ids (sha256 digests)."""
    try:
        config = json.loads(data)
    except ValueError as e:
        raise InvalidManifest(f"image config is not valid JSON: {e}") from None
    if not isinstance(config, dict):
        raise InvalidManifest("image config is not a JSON object")
    rootfs = config.get("rootfs")
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers" or not isinstance(rootfs.get("diff_ids"), list):
        raise InvalidManifest("image config has no rootfs of type layers")
    for diff_id in rootfs["diff_ids"]:
        if not isinstance(diff_id, str):
            raise InvalidManifest("image config has a non-string diff_id")
        try:
            check_digest(diff_id)
        except InvalidArgument:
            raise InvalidManifest(f"image config has an unsupported diff_id {diff_id!r}") from None
    return config


def config_platform(config: dict[str, Any]) -> Platform:
    return Platform(os=str(config.get("os") or ""), architecture=str(config.get("architecture") or ""),
                    variant=config.get("variant") or None)
