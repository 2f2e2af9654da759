"""Unpacked layers, keyed by chain id, ready to be overlayfs lower dirs.

Layout: `<root>/<chain-id hex>/diff` holds a layer's files exactly as overlayfs expects an upper
dir (whiteouts as 0/0 char devices, opaque dirs by xattr); `<root>/tmp/` holds layers being
extracted. A layer is extracted into `tmp/`, then renamed into place in one step, then recorded
in SQLite, so a crash never exposes half a layer: at worst it leaves a temp dir or an unrecorded
dir, both swept by `remove_orphans()` at startup.

Registration is split in two so that the slow part never runs on the event loop: `stage()` does
the extraction (blocking file I/O, no database: call it in a worker thread) and `commit()` does
the rename and the SQLite rows (quick: call it on the loop thread, which owns the connection).
`register()` does both, for synchronous callers.

References: every `register()`/`commit()`/`acquire()` hands the caller one reference, and a
layer holds one on its parent. `release()` drops one; a layer with none left is removed, and its
parent released in turn.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from engine.errors import NotFound
from engine.state.db import Database
from engine.storage.blobs import check_digest
from engine.storage.tarsafe import ByteSource, ExtractResult, extract_layer

log = logging.getLogger(__name__)

LAYERS_DDL = """
CREATE TABLE IF NOT EXISTS layers (
    chain_id TEXT PRIMARY KEY,
    diff_id  TEXT NOT NULL,
    parent   TEXT REFERENCES layers(chain_id),
    size     INTEGER NOT NULL,  -- bytes of file content: Docker's layer size
    tar_size INTEGER NOT NULL,  -- bytes of the uncompressed tar (the diff_id's input)
    refcount INTEGER NOT NULL,
    created  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS layers_parent ON layers(parent);
"""


def chain_id(parent: str | None, diff_id: str) -> str:
    """OCI image spec: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    check_digest(diff_id)
    if parent is None:
        return diff_id
    check_digest(parent)
    return "sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()


@dataclass(frozen=True)
class Layer:
    chain_id: str
    diff_id: str
    parent: str | None
    size: int
    tar_size: int
    refcount: int
    created: str
    path: Path  # the diff dir: an overlay lower dir


@dataclass(frozen=True)
class StagedLayer:
    """An extracted layer waiting for `commit()` (or `discard()`)."""

    tmp_dir: Path
    parent: str | None
    result: ExtractResult

    @property
    def chain_id(self) -> str:
        return chain_id(self.parent, self.result.diff_id)


class LayerStore:
    def __init__(self, root: Path, db: Database) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"
        self.db = db
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        db.ensure_schema(LAYERS_DDL)

    def diff_dir(self, chain: str) -> Path:
        return self.root / check_digest(chain) / "diff"

    # -- registration -------------------------------------------------------------------------

    def stage(self, source: ByteSource, parent_chain_id: str | None = None) -> StagedLayer:
        """Extract a layer tar into a temp dir. Blocking and database-free: thread-safe."""
        tmp = Path(tempfile.mkdtemp(dir=self.tmp_dir, prefix="layer-"))
        try:
            diff = tmp / "diff"
            diff.mkdir()
            os.chmod(diff, 0o755)  # a layer's root is a container's "/"; the tar's "./" may override
            result = extract_layer(source, diff)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return StagedLayer(tmp_dir=tmp, parent=parent_chain_id, result=result)

    def discard(self, staged: StagedLayer) -> None:
        shutil.rmtree(staged.tmp_dir, ignore_errors=True)

    def commit(self, staged: StagedLayer) -> Layer:
        """Publish a staged layer (or reuse the identical one already stored); returns a reference."""
        chain = staged.chain_id
        try:
            if staged.parent is not None:
                self.get(staged.parent)  # NotFound if the parent vanished
            with self.db.transaction() as conn:
                row = conn.execute("SELECT chain_id FROM layers WHERE chain_id = ?", (chain,)).fetchone()
                if row is not None:
                    conn.execute("UPDATE layers SET refcount = refcount + 1 WHERE chain_id = ?", (chain,))
                else:
                    final = self.root / check_digest(chain)
                    if final.exists():
                        # A dir without a row is a crash leftover (renamed, never recorded).
                        shutil.rmtree(final)
                    os.rename(staged.tmp_dir, final)
                    conn.execute(
                        "INSERT INTO layers (chain_id, diff_id, parent, size, tar_size, refcount, created)"
                        " VALUES (?, ?, ?, ?, ?, 1, ?)",
                        (
                            chain,
                            staged.result.diff_id,
                            staged.parent,
                            staged.result.content_size,
                            staged.result.tar_size,
                            _now(),
                        ),
                    )
                    if staged.parent is not None:
                        conn.execute(
                            "UPDATE layers SET refcount = refcount + 1 WHERE chain_id = ?", (staged.parent,)
                        )
        finally:
            self.discard(staged)  # no-op once renamed
        return self.get(chain)

    def register(self, source: ByteSource, parent_chain_id: str | None = None) -> Layer:
        """Extract and publish a layer in one blocking call."""
        if parent_chain_id is not None:
            self.get(parent_chain_id)  # fail before extracting
        return self.commit(self.stage(source, parent_chain_id))

    # -- lookup -------------------------------------------------------------------------------

    def get(self, chain: str) -> Layer:
        row = self.db.query_one("SELECT * FROM layers WHERE chain_id = ?", (chain,))
        if row is None:
            raise NotFound(f"layer {chain} not found")
        return Layer(
            chain_id=row["chain_id"],
            diff_id=row["diff_id"],
            parent=row["parent"],
            size=row["size"],
            tar_size=row["tar_size"],
            refcount=row["refcount"],
            created=row["created"],
            path=self.diff_dir(row["chain_id"]),
        )

    def exists(self, chain: str) -> bool:
        return self.db.query_one("SELECT 1 FROM layers WHERE chain_id = ?", (chain,)) is not None

    def chain(self, chain: str) -> list[Layer]:
        """The layer and its ancestors, top first."""
        layers: list[Layer] = []
        current: str | None = chain
        while current is not None:
            layer = self.get(current)
            layers.append(layer)
            current = layer.parent
        return layers

    def lower_dirs(self, chain: str) -> list[Path]:
        """Diff dirs top first: the order overlayfs wants in `lowerdir=`."""
        return [layer.path for layer in self.chain(chain)]

    def size(self, chain: str) -> int:
        """Total content size of the chain (Docker's image Size)."""
        return sum(layer.size for layer in self.chain(chain))

    # -- references ---------------------------------------------------------------------------

    def acquire(self, chain: str) -> Layer:
        with self.db.transaction() as conn:
            cur = conn.execute("UPDATE layers SET refcount = refcount + 1 WHERE chain_id = ?", (chain,))
            if cur.rowcount == 0:
                raise NotFound(f"layer {chain} not found")
        return self.get(chain)

    def release(self, chain: str) -> list[str]:
        """Drop one reference; returns the chain ids of layers removed as a result (top first)."""
        removed: list[str] = []
        with self.db.transaction() as conn:
            current: str | None = chain
            while current is not None:
                row = conn.execute(
                    "SELECT parent, refcount FROM layers WHERE chain_id = ?", (current,)
                ).fetchone()
                if row is None:
                    raise NotFound(f"layer {current} not found")
                if row["refcount"] > 1:
                    conn.execute("UPDATE layers SET refcount = refcount - 1 WHERE chain_id = ?", (current,))
                    break
                conn.execute("DELETE FROM layers WHERE chain_id = ?", (current,))
                removed.append(current)
                current = row["parent"]  # the removed child held one reference on it
        for gone in removed:
            self._remove_dir(gone)
        return removed

    # -- housekeeping -------------------------------------------------------------------------

    def remove_orphans(self) -> list[Path]:
        """Startup sweep: temp extractions and layer dirs without a row (crash leftovers)."""
        swept: list[Path] = []
        for tmp in self.tmp_dir.iterdir():
            shutil.rmtree(tmp, ignore_errors=True)
            swept.append(tmp)
        known = {row["chain_id"] for row in self.db.query("SELECT chain_id FROM layers")}
        for entry in self.root.iterdir():
            if entry == self.tmp_dir:
                continue
            if f"sha256:{entry.name}" not in known:
                shutil.rmtree(entry, ignore_errors=True)
                swept.append(entry)
        for chain in known:
            if not self.diff_dir(chain).is_dir():
                log.error("layer %s is recorded but its directory is missing", chain)
        return swept

    def _remove_dir(self, chain: str) -> None:
        final = self.root / check_digest(chain)
        if not final.exists():
            return
        # Rename first so no reader ever sees a half-deleted layer under its real name.
        doomed = Path(tempfile.mkdtemp(dir=self.tmp_dir, prefix="gone-"))
        os.rename(final, doomed / "layer")
        shutil.rmtree(doomed, ignore_errors=True)


def _now() -> str:
    return rfc3339_nano(time.time_ns())


def rfc3339_nano(ns: int) -> str:
    """`2024-05-01T12:00:00.123456789Z`: Docker's timestamp format, nanoseconds included."""
    seconds, frac = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{frac:09d}Z"
