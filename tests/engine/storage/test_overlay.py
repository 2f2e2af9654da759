from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.errors import InvalidArgument
from engine.state.db import Database
from engine.storage.layers import LayerStore
from engine.storage.overlay import (
    OPTIONS_MAX,
    ContainerLayer,
    is_mounted,
    mount_rootfs,
    overlay_options,
    unmount,
)
from tests.engine.storage.tarbuild import TarBuilder, requires_root

pytestmark = [requires_root, pytest.mark.integration]


@pytest.fixture
def mounts() -> Iterator[list[Path]]:
    """Targets to unmount after the test, whatever happened in it."""
    targets: list[Path] = []
    yield targets
    for target in reversed(targets):
        while is_mounted(target):
            unmount(target, lazy=True)


@pytest.fixture
def layers(tmp_path: Path) -> Iterator[LayerStore]:
    db = Database(tmp_path / "state.db")
    yield LayerStore(tmp_path / "layers", db)
    db.close()


def two_layers(layers: LayerStore) -> list[Path]:
    base = TarBuilder().dir("etc").file("etc/motd", b"hello").file("etc/hostname", b"base")
    base.dir("var/cache").file("var/cache/old", b"stale").file("keep", b"base")
    lower = layers.register(io.BytesIO(base.bytes()))
    top = TarBuilder().file("etc/.wh.motd", b"").file("etc/hostname", b"top")
    top.dir("var/cache").file("var/cache/.wh..wh..opq", b"").file("var/cache/new", b"fresh")
    upper = layers.register(io.BytesIO(top.bytes()), lower.chain_id)
    return layers.lower_dirs(upper.chain_id)


def test_two_layer_overlay_honours_whiteouts(tmp_path: Path, layers: LayerStore, mounts: list[Path]) -> None:
    lowers = two_layers(layers)
    upper, work, target = tmp_path / "upper", tmp_path / "work", tmp_path / "merged"
    for d in (upper, work, target):
        d.mkdir()
    mounts.append(target)
    mount_rootfs(lowers, upper, work, target)
    assert is_mounted(target)

    assert not (target / "etc" / "motd").exists()  # whited out by the top layer
    assert (target / "etc" / "hostname").read_bytes() == b"top"  # top wins
    assert (target / "keep").read_bytes() == b"base"  # lower shows through
    assert sorted(os.listdir(target / "var" / "cache")) == ["new"]  # opaque dir hides "old"

    (target / "written").write_bytes(b"rw")
    os.unlink(target / "keep")
    assert (upper / "written").read_bytes() == b"rw"  # writes land in the upper dir
    assert stat.S_ISCHR(os.lstat(upper / "keep").st_mode)  # deletes become whiteouts there
    assert (lowers[-1] / "keep").read_bytes() == b"base"  # the layer itself is untouched

    unmount(target)
    assert not is_mounted(target)
    unmount(target)  # idempotent
    unmount(tmp_path / "never-existed")


def test_long_lowerdir_falls_back_to_fd_paths(tmp_path: Path, mounts: list[Path]) -> None:
    deep = tmp_path / ("x" * 200)
    lowers = []
    for i in range(40):  # 40 * ~230 bytes: far over a page
        d = deep / f"{i:03d}-{'y' * 20}"
        d.mkdir(parents=True)
        (d / f"from-{i}").write_text(str(i))
        (d / "shadowed").write_text(str(i))
        lowers.append(d)
    upper, work, target = tmp_path / "u", tmp_path / "w", tmp_path / "m"
    for d in (upper, work, target):
        d.mkdir()
    assert len(overlay_options(lowers, upper, work)) > OPTIONS_MAX
    mounts.append(target)
    mount_rootfs(lowers, upper, work, target)
    assert (target / "from-0").read_text() == "0" and (target / "from-39").read_text() == "39"
    assert (target / "shadowed").read_text() == "0"  # first lower is the top one
    unmount(target)
    assert not is_mounted(target)


def test_paths_with_separators_are_passed_safely(tmp_path: Path, mounts: list[Path]) -> None:
    lower = tmp_path / "a:b,c"
    lower.mkdir()
    (lower / "f").write_text("ok")
    upper, work, target = tmp_path / "u", tmp_path / "w", tmp_path / "m"
    for d in (upper, work, target):
        d.mkdir()
    mounts.append(target)
    mount_rootfs([lower], upper, work, target)
    assert (target / "f").read_text() == "ok"


def test_no_lowers_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument):
        mount_rootfs([], tmp_path, tmp_path, tmp_path)


def test_container_layer_lifecycle(tmp_path: Path, layers: LayerStore, mounts: list[Path]) -> None:
    lowers = two_layers(layers)
    cl = ContainerLayer(tmp_path / "containers", "c0ffee")
    mounts.append(cl.merged)
    merged = cl.mount(lowers)
    assert merged == cl.merged and is_mounted(merged)
    assert cl.mount(lowers) == merged  # already mounted: no second mount stacked
    (merged / "new").write_text("x")
    assert (cl.upper / "new").read_text() == "x"
    cl.remove()
    assert not is_mounted(merged)
    assert not cl.dir.exists()
    assert all(p.is_dir() for p in lowers)


def test_container_layer_without_image_layers(tmp_path: Path, mounts: list[Path]) -> None:
    cl = ContainerLayer(tmp_path, "empty-image")
    mounts.append(cl.merged)
    merged = cl.mount([])
    assert os.listdir(merged) == []
    cl.remove()
    assert not cl.dir.exists()


@pytest.mark.parametrize("bad", ["..", "../x", "a/b", "", "-rf"])
def test_container_layer_rejects_path_like_ids(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidArgument):
        ContainerLayer(tmp_path, bad)


def test_is_mounted_agrees_with_the_mount_table(tmp_path: Path, mounts: list[Path]) -> None:
    """One statx says what the mount table says: for every mount point in it, for paths inside mounts
    and for a bind mount of a file (a network namespace's) and of a directory, before and after."""
    from engine import libc, mountinfo

    assert libc.is_mount_root(b"/") is True  # this kernel answers: the fast path is what is tested
    listed = {e.mount_point for e in mountinfo.entries()}
    for point in sorted(listed)[:200]:
        if os.path.exists(point) and os.path.realpath(point) == point:
            assert is_mounted(Path(point)), point
    for plain in (tmp_path, Path("/etc/hostname").resolve().parent / "passwd", tmp_path / "missing"):
        assert str(plain) not in listed and not is_mounted(plain)
    directory, file = tmp_path / "dir", tmp_path / "file"
    directory.mkdir()
    file.touch()
    for target, source in ((directory, tmp_path / "src"), (file, Path("/proc/self/ns/net"))):
        if source.name == "src":
            source.mkdir()
        mounts.append(target)
        libc.mount(os.fsencode(source), os.fsencode(target), None, 4096, None, "bind")  # MS_BIND
        assert is_mounted(target) and str(target) in {e.mount_point for e in mountinfo.entries()}
        unmount(target)
        assert not is_mounted(target)
