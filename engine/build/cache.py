"""The build cache: (parent image, step key) -> the step's image, in SQLite.

A step's key says everything that decides its result besides the parent image: the instruction
after variable expansion, the build args a RUN sees, the checksum of COPY/ADD sources. Hits are
checked against the image store, so a removed image is a miss (and its row goes).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from engine.errors import EngineError
from engine.formats import now_ns
from engine.images.service import ImageService
from engine.state.db import Database

log = logging.getLogger(__name__)

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


class CacheSources:
    """`--cache-from`: only these images' chains may answer the cache (moby's image/cache.ImageCache).

    A step found in the local cache counts only if it is one of the sources or their ancestors, so
    `--cache-from nosuchtag` builds every step anew. A source without its step images (pulled, or
    loaded from an archive) still answers by history: its next history entry was made by the
    same command on the same layers, and that step is restored from its layers.
    """

    def __init__(self, images: ImageService, names: list[str]) -> None:
        self.images = images
        self.sources: list[str] = []
        self.allowed: set[str] = set()
        for name in names:
            try:
                image = images.resolve(name)
            except EngineError as e:
                log.warning("cache-from %s skipped: %s", name, e.message)  # as dockerd: a warning, no failure
                continue
            self.sources.append(image.id)
            current = image.id
            while current and current not in self.allowed and images.store.exists(current):
                self.allowed.add(current)
                current = images.store.get(current).parent

    def permits(self, image_id: str) -> bool:
        return image_id in self.allowed

    async def restore(self, parent: str | None, created_by: str, runtime: dict[str, Any]) -> str | None:
        """The step image a source's history holds next after `parent` for `created_by`, if any."""
        base = self.images.full_config(parent)
        history = list(base.get("history") or [])
        diff_ids = list((base.get("rootfs") or {}).get("diff_ids") or [])
        for source in self.sources:
            target = self.images.store.config(source)
            target_history = list(target.get("history") or [])
            target_diffs = list((target.get("rootfs") or {}).get("diff_ids") or [])
            if len(target_history) <= len(history) or target_history[:len(history)] != history:
                continue
            entry = target_history[len(history)]
            if target_diffs[:len(diff_ids)] != diff_ids or entry.get("created_by") != created_by:
                continue
            if not entry.get("empty_layer") and len(target_diffs) <= len(diff_ids):
                continue  # its history says a layer comes next, its rootfs has none: not a source to trust
            if len(target_history) == len(history) + 1:
                return source  # the source is this very step
            image_id = await self.images.restore_step(parent, source, runtime)
            self.allowed.add(image_id)
            return image_id
        return None
