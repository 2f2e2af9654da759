"""Detached views of a container's root filesystem, with real overlay mounts."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import pytest

from engine.containers.model import Container, State
from engine.containers.rootfs import OverlayRootfs
from engine.containers.rootview import RootfsViews, is_mount_point
from engine.runtime.spec import Mount
from engine.storage import overlay

pytestmark = [pytest.mark.integration, pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")]


class FakeImages:
    def __init__(self, lower: Path) -> None:
        self.lower = lower

    def layer_dirs(self, image_id: str) -> list[Path]:
        return [self.lower]


class FakeMounts:
    def __init__(self) -> None:
        self.binds: list[Mount] = []

    def host_binds(self, c: Container) -> list[Mount]:
        return self.binds


class FakeService:
    """The public surface of ContainerService a view uses."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.images = FakeImages(base / "lower")
        self.rootfs = OverlayRootfs()
        self.mounts = FakeMounts()

    def data_dir(self, cid: str) -> Path:
        return self.base / "containers" / cid

    def bundle_dir(self, cid: str) -> Path:
        return self.base / "bundles" / cid


@pytest.fixture
def svc(tmp_path: Path) -> FakeService:
    s = FakeService(tmp_path)
    (tmp_path / "lower" / "etc").mkdir(parents=True)
    (tmp_path / "lower" / "etc" / "image-file").write_text("from the image\n")
    for d in ("upper", "work"):
        (s.data_dir("c1") / d).mkdir(parents=True)
    s.bundle_dir("c1").mkdir(parents=True)
    return s


def container(state: State) -> Container:
    return Container(id="c1", name="one", image="img", image_id="sha256:x", config={}, host_config={}, state=state)


def mounts_under(base: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(base))]


def test_stopped_view_mounts_nothing_and_writes_to_upper(svc: FakeService) -> None:
    views = RootfsViews(svc)

    async def run() -> None:
        async with views.open(container(State.EXITED)) as fd, views.open(container(State.EXITED)) as fd2:
            assert fd == fd2  # concurrent users share one overlay
            assert mounts_under(svc.base) == []  # detached: nothing to clean up, even after a crash
            with open(f"/proc/self/fd/{fd}/etc/image-file") as f:
                assert f.read() == "from the image\n"
            out = os.open("etc/added", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
            os.write(out, b"new\n")
            os.close(out)

    asyncio.run(run())
    assert (svc.data_dir("c1") / "upper" / "etc" / "added").read_text() == "new\n"
    assert list(svc.bundle_dir("c1").iterdir()) == []


def test_stopped_view_shows_volumes_where_the_container_sees_them(svc: FakeService, tmp_path: Path) -> None:
    volume, outside = tmp_path / "volume", tmp_path / "outside"
    volume.mkdir()
    outside.mkdir()
    (volume / "data.txt").write_text("in the volume\n")
    # A hostile image aims the mount point at the host: the bind must still land inside the root.
    (svc.images.lower / "escape").symlink_to(outside)
    svc.mounts.binds = [Mount(source=str(volume), destination="/vol1", type="bind", options=["rbind"]),
                        Mount(source=str(volume), destination="/escape/ro", type="bind", options=["rbind", "ro"])]
    views = RootfsViews(svc)

    async def run() -> None:
        async with views.open(container(State.CREATED)) as fd:
            assert mounts_under(svc.base) == []
            with open(f"/proc/self/fd/{fd}/vol1/data.txt") as f:
                assert f.read() == "in the volume\n"
            out = os.open("vol1/put.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
            os.write(out, b"copied in\n")
            os.close(out)
            # the link resolved inside the root, where the bind is read-only as the container has it
            inside = f"/proc/self/fd/{fd}{outside}/ro"
            assert sorted(os.listdir(inside)) == ["data.txt", "put.txt"]
            with pytest.raises(OSError) as refused:
                os.open(f"{inside}/x", os.O_WRONLY | os.O_CREAT, 0o644)
            assert refused.value.errno == errno.EROFS

    asyncio.run(run())
    assert (volume / "put.txt").read_text() == "copied in\n"  # into the volume, not the upper dir
    assert not (svc.data_dir("c1") / "upper" / "vol1" / "put.txt").exists()
    assert list(outside.iterdir()) == []  # the symlink was resolved inside the root
    assert mounts_under(svc.base) == [] and mounts_under(tmp_path) == []


def test_running_view_does_not_keep_the_rootfs_busy(svc: FakeService) -> None:
    rootfs = svc.bundle_dir("c1") / "rootfs"
    rootfs.mkdir()
    data = svc.data_dir("c1")
    overlay.mount_rootfs([svc.images.lower], data / "upper", data / "work", rootfs)
    views = RootfsViews(svc)
    try:
        async def run() -> None:
            async with views.open(container(State.RUNNING)) as fd:
                held = os.open("etc/image-file", os.O_RDONLY, dir_fd=fd)
                # The container exits: the service unmounts its rootfs while we still read.
                overlay.unmount(rootfs)
                assert not is_mount_point(rootfs)
                assert os.read(held, 100) == b"from the image\n"
                os.close(held)

        asyncio.run(run())
    finally:
        overlay.unmount(rootfs, lazy=True)
    assert mounts_under(svc.base) == []
