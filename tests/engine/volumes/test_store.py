"""The volume store: names, options, references, removal while in use, prune."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import Conflict, InvalidArgument, NotFound
from engine.state.db import Database
from engine.volumes.store import ANONYMOUS_LABEL, VolumeStore

pytestmark = pytest.mark.unit


@pytest.fixture
def store(tmp_path: Path) -> VolumeStore:
    existing = {"c1", "c2"}
    return VolumeStore(tmp_path / "volumes", Database(tmp_path / "db.sqlite"), lambda cid: cid in existing)


def test_create_is_idempotent_and_lays_out_data(store: VolumeStore, tmp_path: Path) -> None:
    v = store.create("data", labels={"a": "b"})
    assert v.mountpoint == tmp_path / "volumes" / "data" / "_data" and v.mountpoint.is_dir()
    again = store.create("data", labels={"other": "x"})
    assert again.labels == {"a": "b"} and again.created_ns == v.created_ns
    anon = store.create()
    assert len(anon.name) == 64 and anon.anonymous and ANONYMOUS_LABEL in anon.labels
    body = v.to_api((10, 1))
    assert body["Scope"] == "local" and body["UsageData"] == {"Size": 10, "RefCount": 1}
    assert body["CreatedAt"].endswith("Z")


def test_bad_names_options_and_drivers(store: VolumeStore) -> None:
    with pytest.raises(InvalidArgument, match="not a valid volume name"):
        store.create("no/slash")
    with pytest.raises(InvalidArgument, match="invalid option key"):
        store.create("x1", options={"colour": "red"})
    with pytest.raises(InvalidArgument, match="need type="):
        store.create("x1", options={"device": "tmpfs"})
    with pytest.raises(InvalidArgument, match="o=bind"):
        store.create("x1", options={"type": "none", "device": "/srv"})
    with pytest.raises(NotFound, match="driver"):
        store.create("x1", driver="nfs")


def test_in_use_volume_cannot_go_until_its_container_does(store: VolumeStore) -> None:
    store.create("data")
    store.add_ref("c1", "/data", "data")
    store.add_ref("gone", "/data", "data")  # a container that no longer exists: a stale reference
    assert store.users("data") == ["c1"]
    with pytest.raises(Conflict, match=r"volume is in use - \[c1\]"):
        store.remove("data")
    store.drop_refs("c1")
    store.remove("data")
    with pytest.raises(NotFound, match="no such volume"):
        store.get("data")


def test_prune_takes_unused_anonymous_volumes_unless_all(store: VolumeStore) -> None:
    anon_free, anon_used = store.create(), store.create()
    store.add_ref("c2", "/x", anon_used.name)
    store.create("named", labels={"keep": "no"})
    store.create("kept", labels={"keep": "yes"})
    removed, _ = store.prune()
    assert removed == [anon_free.name]
    removed, _ = store.prune(all_volumes=True, labels=["!keep=yes"])
    assert removed == ["named"]
    removed, _ = store.prune(all_volumes=True, labels=["keep=yes"])
    assert removed == ["kept"]
    assert [v.name for v in store.all()] == [anon_used.name]
