"""docker diff from a fake overlay upper dir over fake image layers."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from engine.containers.changes import ChangeKind, container_changes

pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(os.geteuid() != 0, reason="whiteouts are 0/0 devices and opaque marks trusted.* xattrs"),
]

M, A, D = ChangeKind.MODIFIED, ChangeKind.ADDED, ChangeKind.DELETED


def whiteout(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def tree(base: Path, files: list[str]) -> Path:
    for rel in files:
        p = base / rel
        if rel.endswith("/"):
            p.mkdir(parents=True, exist_ok=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(rel)
    return base


@pytest.fixture
def layers(tmp_path: Path) -> list[Path]:
    bottom = tree(tmp_path / "l1", ["bin/sh", "etc/passwd", "etc/group", "home/guest/.profile", "var/log/", "opt/a"])
    top = tree(tmp_path / "l2", ["etc/os-release", "usr/bin/env"])
    whiteout(top / "opt")  # the top layer deleted /opt
    return [top, bottom]


def changes(upper: Path, layers: list[Path]) -> list[tuple[str, ChangeKind]]:
    return [(c.path, c.kind) for c in container_changes(upper, layers)]


def test_added_modified_deleted(tmp_path: Path, layers: list[Path]) -> None:
    upper = tree(tmp_path / "upper", ["etc/passwd", "etc/new", "data/f", "usr/bin/env", "opt/"])
    whiteout(upper / "etc" / "group")
    assert changes(upper, layers) == [
        ("/data", A), ("/data/f", A),
        ("/etc", M), ("/etc/group", D), ("/etc/new", A), ("/etc/passwd", M),
        ("/opt", A),  # the layers' /opt was whited out: a new one is an addition
        ("/usr", M), ("/usr/bin", M), ("/usr/bin/env", M),
    ]


def test_opaque_directory_hides_what_the_layers_had(tmp_path: Path, layers: list[Path]) -> None:
    upper = tree(tmp_path / "upper", ["home/new", "home/guest/other"])
    os.setxattr(upper / "home", "trusted.overlay.opaque", b"y")
    assert changes(upper, layers) == [
        ("/home", M),
        ("/home/guest", M), ("/home/guest/.profile", D), ("/home/guest/other", A),
        ("/home/new", A),
    ]


def test_runtime_mount_points_are_left_out(tmp_path: Path, layers: list[Path]) -> None:
    upper = tree(tmp_path / "upper", ["etc/hosts", "etc/hostname", "etc/resolv.conf", "proc/", "dev/"])
    assert changes(upper, layers) == []  # /etc was copied up only to hold them
    (upper / "etc" / "mine").write_text("")
    assert changes(upper, layers) == [("/etc", M), ("/etc/mine", A)]


def test_links_in_the_upper_dir_are_not_followed(tmp_path: Path, layers: list[Path]) -> None:
    upper = tmp_path / "upper"
    upper.mkdir()
    (upper / "escape").symlink_to("/")
    (upper / "bin").mkdir()
    (upper / "bin" / "sh").symlink_to("/etc/passwd")
    assert changes(upper, layers) == [("/bin", M), ("/bin/sh", M), ("/escape", A)]


def test_no_changes(tmp_path: Path, layers: list[Path]) -> None:
    upper = tmp_path / "upper"
    upper.mkdir()
    assert changes(upper, layers) == []
