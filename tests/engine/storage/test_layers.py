from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.errors import NotFound
from engine.state.db import Database
from engine.storage.layers import LayerStore, chain_id
from engine.storage.tarsafe import UnsafeArchive
from tests.engine.storage.tarbuild import TarBuilder, gzipped, sha256_digest


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "state.db")
    yield database
    database.close()


@pytest.fixture
def layers(tmp_path: Path, db: Database) -> LayerStore:
    return LayerStore(tmp_path / "layers", db)


BASE = TarBuilder().dir("etc").file("etc/os-release", b"ID=test\n").file("bin/sh", b"#!", mode=0o755).bytes()
TOP = TarBuilder().file("app/run", b"run").bytes()


def layer_dirs(store: LayerStore) -> list[str]:
    return sorted(p.name for p in store.root.iterdir() if p != store.tmp_dir)


@pytest.mark.unit
def test_chain_id_follows_the_oci_spec() -> None:
    a, b = sha256_digest(b"a"), sha256_digest(b"b")
    assert chain_id(None, a) == a
    assert chain_id(a, b) == "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()


@pytest.mark.unit
def test_register_extracts_and_records(layers: LayerStore) -> None:
    layer = layers.register(io.BytesIO(gzipped(BASE)))
    assert layer.diff_id == sha256_digest(BASE) == layer.chain_id
    assert layer.parent is None and layer.refcount == 1
    assert layer.size == len(b"ID=test\n") + 2 and layer.tar_size == len(BASE)
    assert layer.path == layers.root / layer.chain_id.removeprefix("sha256:") / "diff"
    assert (layer.path / "etc" / "os-release").read_bytes() == b"ID=test\n"
    assert list(layers.tmp_dir.iterdir()) == []
    assert layers.get(layer.chain_id) == layer


@pytest.mark.unit
def test_same_layer_twice_is_stored_once(layers: LayerStore) -> None:
    first = layers.register(io.BytesIO(BASE))
    second = layers.register(io.BytesIO(gzipped(BASE)))  # same diff_id whatever the compression
    assert second.chain_id == first.chain_id and second.refcount == 2
    assert layer_dirs(layers) == [first.chain_id.removeprefix("sha256:")]
    assert list(layers.tmp_dir.iterdir()) == []


@pytest.mark.unit
def test_chain_lower_dirs_and_release(layers: LayerStore) -> None:
    base = layers.register(io.BytesIO(BASE))
    top = layers.register(io.BytesIO(TOP), base.chain_id)
    assert top.chain_id == chain_id(base.chain_id, sha256_digest(TOP))
    assert layers.get(base.chain_id).refcount == 2  # ours plus the child's
    assert layers.lower_dirs(top.chain_id) == [top.path, base.path]
    assert layers.size(top.chain_id) == base.size + top.size

    assert layers.release(base.chain_id) == []  # the child still holds it
    assert layers.release(top.chain_id) == [top.chain_id, base.chain_id]
    assert layer_dirs(layers) == []
    assert not layers.exists(base.chain_id)
    with pytest.raises(NotFound):
        layers.lower_dirs(top.chain_id)


@pytest.mark.unit
def test_unknown_parent_refused_before_extracting(layers: LayerStore) -> None:
    class Unread:
        def read(self, size: int = -1, /) -> bytes:
            raise AssertionError("must not read")

    with pytest.raises(NotFound):
        layers.register(Unread(), sha256_digest(b"nope"))


@pytest.mark.unit
def test_failed_extraction_leaves_nothing(layers: LayerStore) -> None:
    with pytest.raises(UnsafeArchive):
        layers.register(io.BytesIO(TarBuilder().file("ok").file("../escape").bytes()))
    assert list(layers.tmp_dir.iterdir()) == []
    assert layer_dirs(layers) == []
    assert layers.db.query("SELECT * FROM layers") == []


@pytest.mark.unit
def test_staged_layer_is_invisible_until_committed(layers: LayerStore) -> None:
    staged = layers.stage(io.BytesIO(BASE))
    assert not layers.exists(staged.chain_id)
    assert layer_dirs(layers) == []
    layer = layers.commit(staged)
    assert layers.exists(layer.chain_id)
    assert not staged.tmp_dir.exists()


@pytest.mark.unit
def test_remove_orphans_sweeps_crash_leftovers(layers: LayerStore) -> None:
    kept = layers.register(io.BytesIO(BASE))
    (layers.tmp_dir / "layer-crashed" / "diff").mkdir(parents=True)
    orphan = layers.root / ("ab" * 32) / "diff"
    orphan.mkdir(parents=True)
    swept = layers.remove_orphans()
    assert {p.name for p in swept} == {"layer-crashed", "ab" * 32}
    assert layer_dirs(layers) == [kept.chain_id.removeprefix("sha256:")]
    assert kept.path.is_dir()


@pytest.mark.unit
def test_commit_replaces_unrecorded_dir_of_same_chain(layers: LayerStore) -> None:
    leftover = layers.root / sha256_digest(BASE).removeprefix("sha256:") / "diff"
    leftover.mkdir(parents=True)
    (leftover / "half-written").write_bytes(b"")
    layer = layers.register(io.BytesIO(BASE))
    assert not (layer.path / "half-written").exists()
    assert (layer.path / "etc" / "os-release").exists()
