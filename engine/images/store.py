"""Image metadata: which images exist, what they are called, and their config blobs.

An image is its config JSON, stored as a blob; its ID is that blob's digest. The SQLite rows
repeat what listing needs (created, size, labels, top layer) so that `GET /images/json` is a
couple of queries and never reads a blob or walks a disk. Names are stored canonical
(`docker.io/library/busybox:latest`) and shown familiar (`busybox:latest`).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.errors import NotFound
from engine.images import reference
from engine.images.reference import Reference
from engine.state.db import Database
from engine.storage.blobs import BlobStore
from engine.storage.layers import rfc3339_nano

IMAGES_DDL = """
CREATE TABLE IF NOT EXISTS images (
    id            TEXT PRIMARY KEY,                     -- sha256:<hex> of the config blob
    top_layer     TEXT REFERENCES layers(chain_id),     -- NULL for an image without layers
    parent        TEXT NOT NULL DEFAULT '',             -- local parent image (commit/build), '' if none
    size          INTEGER NOT NULL,                     -- content bytes of all its layers
    created       TEXT NOT NULL,                        -- the config's "created", RFC 3339
    created_unix  INTEGER NOT NULL,
    labels        TEXT NOT NULL DEFAULT '{}',           -- JSON copy of config.Labels, for list filters
    last_tag_time TEXT,
    stored        TEXT NOT NULL                         -- when this engine stored it
);
CREATE INDEX IF NOT EXISTS images_parent ON images(parent);
CREATE TABLE IF NOT EXISTS image_tags (
    name     TEXT PRIMARY KEY,                          -- canonical, docker.io/library/busybox:latest
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    created  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS image_tags_image ON image_tags(image_id);
CREATE TABLE IF NOT EXISTS image_digests (
    name     TEXT PRIMARY KEY,                          -- canonical, docker.io/library/busybox@sha256:...
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    created  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS image_digests_image ON image_digests(image_id);
"""


@dataclass(frozen=True)
class Image:
    id: str
    top_layer: str | None
    parent: str
    size: int
    created: str
    created_unix: int
    labels: dict[str, str]
    last_tag_time: str | None
    repo_tags: list[Reference] = field(default_factory=list)
    repo_digests: list[Reference] = field(default_factory=list)

    @property
    def short_id(self) -> str:
        return self.id.removeprefix("sha256:")[:12]

    @property
    def references(self) -> list[Reference]:
        return [*self.repo_tags, *self.repo_digests]


class ImageStore:
    def __init__(self, db: Database, blobs: BlobStore) -> None:
        self.db = db
        self.blobs = blobs
        db.ensure_schema(IMAGES_DDL)

    # -- images -------------------------------------------------------------------------------

    def add(
        self, config_bytes: bytes, top_layer: str | None, size: int, parent: str = ""
    ) -> tuple[str, bool]:
        """Store a config blob and its image row. Returns (image id, True if it is new)."""
        config = json.loads(config_bytes)
        image_id = self.blobs.put_bytes(config_bytes).digest
        created = str(config.get("created") or "")
        labels = (config.get("config") or {}).get("Labels") or {}
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone():
                return image_id, False
            conn.execute(
                "INSERT INTO images (id, top_layer, parent, size, created, created_unix, labels, stored)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    image_id,
                    top_layer,
                    parent,
                    size,
                    created,
                    parse_rfc3339_unix(created),
                    json.dumps(labels),
                    rfc3339_nano(time.time_ns()),
                ),
            )
        return image_id, True

    def get(self, image_id: str) -> Image:
        images = self._load("WHERE i.id = ?", (image_id,))
        if not images:
            raise NotFound(f"No such image: {image_id}")
        return images[0]

    def exists(self, image_id: str) -> bool:
        return self.db.query_one("SELECT 1 FROM images WHERE id = ?", (image_id,)) is not None

    def all(self) -> list[Image]:
        return self._load("", ())

    def count(self) -> int:
        row = self.db.query_one("SELECT COUNT(*) AS n FROM images")
        return 0 if row is None else int(row["n"])

    def search_prefix(self, hex_prefix: str) -> list[str]:
        """Image ids starting with `sha256:<hex_prefix>` (caller validated it as hex)."""
        rows = self.db.query(
            "SELECT id FROM images WHERE substr(id, 1, ?) = ?",
            (len("sha256:") + len(hex_prefix), "sha256:" + hex_prefix),
        )
        return [row["id"] for row in rows]

    def children(self, image_id: str) -> list[str]:
        return [row["id"] for row in self.db.query("SELECT id FROM images WHERE parent = ?", (image_id,))]

    def config_bytes(self, image_id: str) -> bytes:
        """The image's config JSON, verified against its id (CorruptBlob if the disk changed)."""
        return self.blobs.read_bytes(image_id)

    def config(self, image_id: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.config_bytes(image_id))
        return loaded

    def delete(self, image_id: str) -> None:
        """Remove the row (its names go with it) and the config blob."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM images WHERE id = ?", (image_id,))
        self.blobs.delete(image_id)

    # -- names --------------------------------------------------------------------------------

    def lookup(self, ref: Reference) -> str | None:
        """The image id a tag or digest reference names, if any."""
        table = "image_digests" if ref.digest is not None else "image_tags"
        row = self.db.query_one(f"SELECT image_id FROM {table} WHERE name = ?", (ref.canonical(),))
        return None if row is None else str(row["image_id"])

    def set_reference(self, ref: Reference, image_id: str) -> str | None:
        """Point `ref` at `image_id`; returns the image it named before, if another one."""
        table = "image_digests" if ref.digest is not None else "image_tags"
        now = rfc3339_nano(time.time_ns())
        with self.db.transaction() as conn:
            row = conn.execute(f"SELECT image_id FROM {table} WHERE name = ?", (ref.canonical(),)).fetchone()
            conn.execute(
                f"INSERT INTO {table} (name, image_id, created) VALUES (?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, created = excluded.created",
                (ref.canonical(), image_id, now),
            )
            if ref.digest is None:
                conn.execute("UPDATE images SET last_tag_time = ? WHERE id = ?", (now, image_id))
        previous = None if row is None else str(row["image_id"])
        return previous if previous != image_id else None

    def remove_reference(self, ref: Reference) -> bool:
        table = "image_digests" if ref.digest is not None else "image_tags"
        with self.db.transaction() as conn:
            cur = conn.execute(f"DELETE FROM {table} WHERE name = ?", (ref.canonical(),))
        return cur.rowcount > 0

    # -- internals ----------------------------------------------------------------------------

    def _load(self, where: str, params: tuple[Any, ...]) -> list[Image]:
        rows = self.db.query(f"SELECT * FROM images i {where} ORDER BY created_unix DESC, id", params)
        if not rows:
            return []
        names: dict[str, list[tuple[str, str]]] = defaultdict(list)
        name_where = "WHERE image_id = ?" if where else ""
        for table in ("image_tags", "image_digests"):
            for row in self.db.query(
                f"SELECT name, image_id FROM {table} {name_where} ORDER BY created, name", params
            ):
                names[row["image_id"]].append((table, row["name"]))
        images = []
        for row in rows:
            refs = names.get(row["id"], [])
            images.append(
                Image(
                    id=row["id"],
                    top_layer=row["top_layer"],
                    parent=row["parent"],
                    size=row["size"],
                    created=row["created"],
                    created_unix=row["created_unix"],
                    labels=json.loads(row["labels"]),
                    last_tag_time=row["last_tag_time"],
                    repo_tags=[reference.parse(n) for t, n in refs if t == "image_tags"],
                    repo_digests=[reference.parse(n) for t, n in refs if t == "image_digests"],
                )
            )
        return images


def parse_rfc3339_unix(text: str) -> int:
    """Seconds since the epoch of an RFC 3339 time (any fraction digits); 0 if empty or bad."""
    if not text:
        return 0
    base = text.replace("Z", "+00:00")
    # datetime.fromisoformat takes at most 6 fraction digits; Docker writes 9.
    if "." in base:
        head, _, tail = base.partition(".")
        digits = ""
        while tail and tail[0].isdigit():
            digits, tail = digits + tail[0], tail[1:]
        base = f"{head}.{digits[:6].ljust(6, '0')}{tail}"
    try:
        return int(datetime.fromisoformat(base).timestamp())
    except ValueError:
        return 0
