"""What berthd knows about distributable content beyond the unpacked layers.

An unpacked layer (LayerStore, keyed by chain id) cannot be pushed or saved as it is: the
registry wants the tar, usually gzipped, with the exact bytes its digest names. So each layer
keeps at least one tar blob in the BlobStore: the compressed blob it was pulled as, or the plain
tar it was imported, loaded or committed from (its digest is then the diff_id). A push that needs
gzip compresses once and records the result. `blob_sources` remembers which repositories on
which registry hold a blob, for HEAD-free skips and cross-repository mounts. Manifests pulled or
pushed are kept as blobs too, tied to their image so that they go with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.images.manifest import DOCKER_MANIFEST, OCI_MANIFEST
from engine.state.db import Database
from engine.storage.blobs import BlobStore

MANIFEST_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)

CONTENT_DDL = """
CREATE TABLE IF NOT EXISTS layer_blobs (
    digest     TEXT PRIMARY KEY,          -- the blob: a (compressed) tar of one layer
    diff_id    TEXT NOT NULL,             -- the uncompressed tar's digest, as in the image config
    media_type TEXT NOT NULL,
    size       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS layer_blobs_diff ON layer_blobs(diff_id);
CREATE TABLE IF NOT EXISTS blob_sources (
    digest     TEXT NOT NULL,
    registry   TEXT NOT NULL,             -- the reference's domain: docker.io, localhost:5000
    repository TEXT NOT NULL,             -- the path: library/busybox
    PRIMARY KEY (digest, registry, repository)
);
CREATE TABLE IF NOT EXISTS image_manifests (
    digest     TEXT PRIMARY KEY,
    image_id   TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS image_manifests_image ON image_manifests(image_id);
"""


@dataclass(frozen=True)
class LayerBlob:
    digest: str
    diff_id: str
    media_type: str
    size: int


class ContentIndex:
    def __init__(self, db: Database, blobs: BlobStore) -> None:
        self.db = db
        self.blobs = blobs
        db.ensure_schema(CONTENT_DDL)

    # -- layer blobs --------------------------------------------------------------------------

    def add_layer_blob(self, blob: LayerBlob) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO layer_blobs (digest, diff_id, media_type, size) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(digest) DO UPDATE SET media_type = excluded.media_type",
                (blob.digest, blob.diff_id, blob.media_type, blob.size),
            )

    def layer_blobs(self, diff_id: str) -> list[LayerBlob]:
        """The blobs holding this layer that are still on disk."""
        rows = self.db.query("SELECT * FROM layer_blobs WHERE diff_id = ? ORDER BY media_type, digest", (diff_id,))
        return [LayerBlob(r["digest"], r["diff_id"], r["media_type"], r["size"]) for r in rows
                if self.blobs.has(r["digest"])]

    def layer_blob(self, digest: str) -> LayerBlob | None:
        r = self.db.query_one("SELECT * FROM layer_blobs WHERE digest = ?", (digest,))
        return None if r is None else LayerBlob(r["digest"], r["diff_id"], r["media_type"], r["size"])

    def collect_layers(self, diff_ids: Iterable[str]) -> int:
        """Delete the blobs of layers no longer unpacked anywhere; returns the bytes freed."""
        freed = 0
        for diff_id in set(diff_ids):
            if self.db.query_one("SELECT 1 FROM layers WHERE diff_id = ? LIMIT 1", (diff_id,)) is not None:
                continue
            rows = self.db.query("SELECT digest, size FROM layer_blobs WHERE diff_id = ?", (diff_id,))
            with self.db.transaction() as conn:
                conn.execute("DELETE FROM layer_blobs WHERE diff_id = ?", (diff_id,))
                for r in rows:
                    conn.execute("DELETE FROM blob_sources WHERE digest = ?", (r["digest"],))
            for r in rows:
                if self.blobs.delete(r["digest"]):
                    freed += r["size"]
        return freed

    # -- where blobs live remotely ------------------------------------------------------------

    def add_source(self, digest: str, registry: str, repository: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO blob_sources (digest, registry, repository) VALUES (?, ?, ?)",
                         (digest, registry, repository))

    def sources(self, digest: str, registry: str) -> list[str]:
        rows = self.db.query("SELECT repository FROM blob_sources WHERE digest = ? AND registry = ?"
                             " ORDER BY repository", (digest, registry))
        return [r["repository"] for r in rows]

    # -- manifests ----------------------------------------------------------------------------

    def add_manifest(self, data: bytes, image_id: str, media_type: str) -> str:
        info = self.blobs.put_bytes(data)
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO image_manifests (digest, image_id, media_type, size) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(digest) DO UPDATE SET image_id = excluded.image_id",
                (info.digest, image_id, media_type, info.size),
            )
        return info.digest

    def manifest_for(self, image_id: str) -> tuple[str, str] | None:
        """(digest, media type) of a single-platform manifest stored for the image, if any."""
        row = self.db.query_one("SELECT digest, media_type FROM image_manifests WHERE image_id = ? AND media_type"
                                " IN (?, ?) ORDER BY rowid DESC LIMIT 1", (image_id, *MANIFEST_TYPES))
        return None if row is None else (row["digest"], row["media_type"])

    def forget_image(self, image_id: str) -> None:
        rows = self.db.query("SELECT digest FROM image_manifests WHERE image_id = ?", (image_id,))
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM image_manifests WHERE image_id = ?", (image_id,))
        for r in rows:
            if r["digest"] != image_id:
                self.blobs.delete(r["digest"])

    def blob_bytes(self) -> int:
        """Bytes held as layer blobs (for /system/df)."""
        row = self.db.query_one("SELECT COALESCE(SUM(size), 0) AS n FROM layer_blobs")
        return int(row["n"]) if row is not None else 0
