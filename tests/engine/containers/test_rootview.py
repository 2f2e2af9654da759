"""Detached views of a container's root filesystem, with real overlay mounts."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from engine.containers.model import Container, State
from engine.containers.rootfs import OverlayRootfs
from engine.containers.rootview import RootfsViews, is_mount_point
from engine.storage import overlay

pytestmark = [pytest.mark.integration, pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")]


class FakeImages:
    def __init__(self, lower: Path) -> None:
        self.lower = lower

    def layer_dirs(self, image_id: str) -> list[Path]:
        return [self.lower]


class FakeService:
    """The public surface of ContainerService a view uses."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.images = FakeImages(base / "lower")
        self.rootfs = OverlayRootfs()

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
