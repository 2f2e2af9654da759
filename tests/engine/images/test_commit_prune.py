"""ImageService.commit (for `docker commit`), prune, disk usage and blob housekeeping."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.errors import NotFound
from engine.images.service import ImageService
from engine.state.db import Database
from tests.engine.storage.tarbuild import TarBuilder, busybox_rootfs_tar, requires_root

pytestmark = [pytest.mark.integration, requires_root]


@pytest.fixture(scope="module")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return busybox_rootfs_tar(tmp_path_factory.mktemp("busybox"))


@pytest.fixture
def images(tmp_path: Path) -> Iterator[ImageService]:
    db = Database(tmp_path / "state.db")
    yield ImageService(tmp_path / "images", db)
    db.close()


@pytest.fixture
def busybox(images: ImageService, busybox_tar: bytes) -> str:
    return images.import_rootfs_sync(io.BytesIO(busybox_tar), repo="busybox")


def changes_tar() -> bytes:
    return TarBuilder().dir("etc").file("etc/motd", b"committed\n").file("tmp/.wh.gone", b"").bytes()


def commit(images: ImageService, parent: str, **kw: object) -> str:
    args: dict[str, object] = {"config_overrides": {}, "repo": None, "tag": None, "comment": "", "author": ""}
    args.update(kw)
    return asyncio.run(images.commit(io.BytesIO(changes_tar()), parent, **args))  # type: ignore[arg-type]


def test_commit_adds_a_layer_config_and_history(images: ImageService, busybox: str) -> None:
    new_id = commit(images, busybox, config_overrides={"Cmd": ["cat", "/etc/motd"], "Labels": {"a": "b"}},
                    repo="committed", tag="v1", comment="my change", author="Ada <ada@example.com>")
    info = images.inspect("committed:v1")
    assert info["Id"] == new_id and info["Parent"] == busybox
    assert info["Config"]["Cmd"] == ["cat", "/etc/motd"]
    assert info["Config"]["Env"] == images.inspect(busybox)["Config"]["Env"]  # kept from the parent
    assert info["Author"] == "Ada <ada@example.com>" and info["Comment"] == "my change"
    assert info["RootFS"]["Layers"][:1] == images.inspect(busybox)["RootFS"]["Layers"]
    assert len(info["RootFS"]["Layers"]) == 2
    history = images.history("committed:v1")
    assert [h["Comment"] for h in history] == ["my change", "Imported from -"]
    assert history[0]["Size"] > 0
    top, base = images.layer_dirs(new_id)
    assert (top / "etc" / "motd").read_bytes() == b"committed\n"
    assert base == images.layer_dirs(busybox)[0]  # the parent's layer is shared, not copied
    # The committed layer's tar is kept, so the image can be saved and pushed.
    assert images.content.layer_blobs(info["RootFS"]["Layers"][1])
    # The parent cannot go while its child exists.
    with pytest.raises(Exception, match="dependent child"):
        images.delete(busybox)


def test_commit_of_an_unknown_parent_is_not_found(images: ImageService) -> None:
    with pytest.raises(NotFound):
        commit(images, "sha256:" + "0" * 64)


def test_prune_dangling_then_all_and_blobs_go_with_layers(images: ImageService, busybox: str) -> None:
    dangling = commit(images, busybox)  # untagged: dangling
    result = images.prune()
    assert {"Deleted": dangling} in result["ImagesDeleted"]
    assert result["SpaceReclaimed"] > 0
    assert images.store.exists(busybox)  # tagged: kept

    diff_id = images.inspect(busybox)["RootFS"]["Layers"][0]
    blob = images.content.layer_blobs(diff_id)[0].digest
    assert images.blobs.has(blob)
    images.in_use = lambda image_id: image_id == busybox
    assert images.prune({"dangling": ["false"]})["ImagesDeleted"] is None  # in use by a container
    images.in_use = lambda image_id: False
    removed = images.prune({"dangling": ["false"]})
    assert {"Deleted": busybox} in removed["ImagesDeleted"]
    assert images.list() == []
    assert not images.blobs.has(blob)  # the layer's tar went with the layer


def test_disk_usage_counts_shared_layers_and_containers(images: ImageService, busybox: str) -> None:
    child = commit(images, busybox, repo="child")
    layers_size, summaries = images.disk_usage({busybox: 2})
    by_id = {s["Id"]: s for s in summaries}
    base_size = images.inspect(busybox)["Size"]
    assert by_id[busybox]["SharedSize"] == base_size
    assert by_id[child]["SharedSize"] == base_size
    assert by_id[busybox]["Containers"] == 2 and by_id[child]["Containers"] == 0
    assert layers_size >= by_id[child]["Size"]
