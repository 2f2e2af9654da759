"""An overlay upper dir as a layer tar: whiteouts, opaque dirs, runtime paths, unchanged dirs."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from engine.storage.difftar import RUNTIME_PATHS, LayerTarPipe, upper_dir_layer, write_layer_tar

pytestmark = pytest.mark.integration


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    if os.geteuid() != 0:
        pytest.skip("whiteouts (0/0 char devices) and trusted.* xattrs need root")
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for d in (lower / "etc", lower / "keep", lower / "gone", lower / "opaque/old", upper / "etc", upper / "keep",
              upper / "opaque", upper / "new/deep", upper / "proc"):
        d.mkdir(parents=True, exist_ok=True)
    (lower / "etc/passwd").write_text("root\n")
    (upper / "etc/hosts").write_text("")  # the runtime's mount point
    (upper / "etc/group").write_text("changed\n")
    os.mknod(upper / "gone", stat.S_IFCHR, os.makedev(0, 0))
    os.setxattr(upper / "opaque", "trusted.overlay.opaque", b"y")
    (upper / "opaque/fresh").write_text("f")
    (upper / "new/deep/file").write_text("d")
    os.link(upper / "new/deep/file", upper / "new/hard")
    os.symlink("/etc/group", upper / "new/link")
    return lower, upper


def _members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_layer_tar(dirs: tuple[Path, Path]) -> None:
    lower, upper = dirs
    with upper_dir_layer(upper, [lower]) as pipe:
        data = b"".join(iter(lambda: pipe.read(4096), b""))
    members = _members(data)
    assert sorted(members) == [".wh.gone", "etc", "etc/group", "new", "new/deep", "new/deep/file", "new/hard",
                               "new/link", "opaque", "opaque/.wh..wh..opq", "opaque/fresh"]
    assert members["new/hard"].islnk() and members["new/hard"].linkname == "new/deep/file"
    assert members["new/link"].issym() and members[".wh.gone"].isreg()
    # `keep` was only copied up (same owner and mode): not in the layer; nor is /etc/hosts or /proc.
    assert "keep" not in members and "etc/hosts" not in members and "proc" not in members


def test_without_lowers_every_directory_is_written(dirs: tuple[Path, Path]) -> None:
    _, upper = dirs
    buf = io.BytesIO()
    write_layer_tar(upper, buf, None, RUNTIME_PATHS)
    assert "keep" in _members(buf.getvalue())


def test_pipe_reports_the_producers_error() -> None:
    def fail(sink: object) -> None:
        raise OSError("disk on fire")

    with LayerTarPipe(fail) as pipe, pytest.raises(OSError, match="disk on fire"):
        pipe.read(10)
