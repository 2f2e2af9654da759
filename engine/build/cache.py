"""The build cache: (parent image, step key) -> the step's image, in SQLite.

A step's key says everything that decides its result besides the parent image: the instruction
after variable expansion, the build args a RUN sees, the checksum of COPY/ADD sources. Hits are
checked against the image store, so a removed image is a miss (and its row goes).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from engine.images.service import ImageService
from engine.state.db import Database
from engine.timefmt import now_ns

BUILD_CACHE_DDL = """
CREATE TABLE IF NOT EXISTS build_cache (
    parent   TEXT NOT NULL,  -- the parent image id, "" for scratch
    key      TEXT NOT NULL,  -- sha256 of the step's description
    image_id TEXT NOT NULL,
    created  INTEGER NOT NULL,
    PRIMARY KEY (parent, key)
);
CREATE INDEX IF NOT EXISTS build_cache_image ON build_cache(image_id);
"""


def step_key(description: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()


class BuildCache:
    def __init__(self, db: Database, images: ImageService) -> None:
        self.db = db
        self.images = images
        db.ensure_schema(BUILD_CACHE_DDL)

    def lookup(self, parent: str | None, key: str) -> str | None:
        row = self.db.query_one("SELECT image_id FROM build_cache WHERE parent = ? AND key = ?", (parent or "", key))
        if row is None:
            return None
        image_id = str(row["image_id"])
        if not self.images.store.exists(image_id):
            with self.db.transaction() as conn:
                conn.execute("DELETE FROM build_cache WHERE image_id = ?", (image_id,))
            return None
        return image_id

    def record(self, parent: str | None, key: str, image_id: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO build_cache (parent, key, image_id, created) VALUES (?, ?, ?, ?)",
                         (parent or "", key, image_id, now_ns()))
