"""Resolving paths inside a container root with hostile symlinks in the way."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from engine.containers.confined import RootedDir, open_in_root, read_in_root

pytestmark = pytest.mark.unit


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A container root next to a host dir it must never reach."""
    host = tmp_path / "host"
    (host / "etc").mkdir(parents=True)
    (host / "etc" / "secret").write_text("host secret\n")
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "secret").write_text("container file\n")
    (r / "usr" / "bin").mkdir(parents=True)
    (r / "bin").symlink_to("usr/bin")
    (r / "to-root").symlink_to("/")
    (r / "up").symlink_to("../../../../../../..")
    (r / "to-host").symlink_to(str(host))  # absolute: means <root><host path> inside
    (r / "loop").symlink_to("loop")
    (r / "etc" / "passwd").symlink_to("/../../../host/etc/secret")
    return r


def test_walk_follows_links_inside_the_root(root: Path) -> None:
    with RootedDir.open_root(root) as r:
        for path in ("to-root/etc", "up/etc", "/up/up/etc", "bin/../../etc", "to-root/../../etc"):
            with r.walk(path) as d:
                assert d.path == "/etc", path
                assert os.stat("secret", dir_fd=d.fd).st_ino == (root / "etc" / "secret").stat().st_ino
        with r.walk("bin") as d:
            assert d.path == "/usr/bin"


def test_absolute_link_to_a_host_path_stays_inside(root: Path) -> None:
    with RootedDir.open_root(root) as r, pytest.raises(FileNotFoundError):
        r.walk("to-host")  # <root>/tmp/.../host does not exist inside the root


def test_open_reads_the_container_file_whatever_the_link_says(root: Path) -> None:
    assert read_in_root(root, "/etc/passwd") is None  # /host/etc/secret inside the root: absent
    (root / "host" / "etc").mkdir(parents=True)
    (root / "host" / "etc" / "secret").write_text("decoy inside\n")
    assert read_in_root(root, "/etc/passwd") == b"decoy inside\n"
    fd = open_in_root(root, "up/etc/secret")
    with os.fdopen(fd) as f:
        assert f.read() == "container file\n"


def test_locate_keeps_the_last_component(root: Path) -> None:
    with RootedDir.open_root(root) as r:
        parent, name = r.locate("/to-root")
        with parent:
            assert (parent.path, name) == ("/", "to-root")
        parent, name = r.locate("up/etc/passwd")
        with parent:
            assert (parent.path, name) == ("/etc", "passwd")
        parent, name = r.locate("etc/..")
        with parent:
            assert (parent.path, name) == ("/", "")


def test_canonical_reports_where_links_lead(root: Path) -> None:
    with RootedDir.open_root(root) as r:
        assert r.canonical("etc/passwd") == "/host/etc/secret"
        assert r.canonical("up") == "/"
        assert r.canonical("bin/sh") == "/usr/bin/sh"
        assert r.canonical("to-root/missing/../etc") == "/etc"


def test_link_loops_fail(root: Path) -> None:
    with RootedDir.open_root(root) as r, pytest.raises(OSError) as e:
        r.walk("loop")
    assert e.value.errno == errno.ELOOP


def test_file_in_the_middle_is_not_a_directory(root: Path) -> None:
    with RootedDir.open_root(root) as r, pytest.raises(NotADirectoryError):
        r.walk("etc/secret/x")


def test_mkdir_creates_missing_dirs_through_links(root: Path) -> None:
    with RootedDir.open_root(root) as r, r.walk("up/new/deeper", mkdir_mode=0o755) as d:
        assert d.path == "/new/deeper"
    assert (root / "new" / "deeper").is_dir()


def test_swapped_directory_cannot_redirect_a_held_walk(root: Path, tmp_path: Path) -> None:
    """A directory replaced by a link to the host after we resolved it: we keep its inode."""
    (root / "work").mkdir()
    with RootedDir.open_root(root) as r, r.walk("work") as d:
        (root / "work").rename(root / "moved")
        (root / "work").symlink_to(tmp_path / "host" / "etc")
        fd = os.open("written", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=d.fd)
        os.close(fd)
        # `..` is ours, not the kernel's: it goes back to the root we came from.
        with d.walk("..") as up:
            assert up.path == "/"
            assert os.stat("moved", dir_fd=up.fd)
    assert (root / "moved" / "written").exists()
    assert not (tmp_path / "host" / "etc" / "written").exists()

