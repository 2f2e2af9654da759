from __future__ import annotations

import bz2
import hashlib
import io
import lzma
import os
import stat
import tarfile
import tracemalloc
import uuid
from pathlib import Path

import pytest

from engine.errors import InvalidArgument
from engine.storage.tarsafe import OVERLAY_OPAQUE_XATTR, UnsafeArchive, clean_name, extract_layer
from tests.engine.storage.tarbuild import TarBuilder, gzipped, requires_root, sha256_digest


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, Path]:
    """(root to extract into, an outside dir next to it that must stay untouched)."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("original")
    return root, outside


def extract(data: bytes, root: Path) -> object:
    return extract_layer(io.BytesIO(data), root)


def outside_untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_text() == "original"


# -- names --------------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("name", "parts"),
    [("a/b", ("a", "b")), ("./a//b/", ("a", "b")), (".", ()), ("./", ()), ("a/./b", ("a", "b"))],
)
def test_clean_name_splits(name: str, parts: tuple[str, ...]) -> None:
    assert clean_name(name) == parts


@pytest.mark.unit
@pytest.mark.parametrize("name", ["/etc/passwd", "../x", "a/../../x", "a/.."])
def test_clean_name_refuses_escapes(name: str) -> None:
    with pytest.raises(UnsafeArchive):
        clean_name(name)


# -- digests and compression --------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("compress", [None, gzipped, bz2.compress, lzma.compress])
def test_diff_id_is_sha256_of_uncompressed_stream(sandbox: tuple[Path, Path], compress: object) -> None:
    root, _ = sandbox
    plain = TarBuilder().dir("d").file("d/f", b"hello").file("g", b"x" * 3000).bytes()
    body = compress(plain) if callable(compress) else plain
    result = extract_layer(io.BytesIO(body), root)
    assert result.diff_id == sha256_digest(plain)
    assert result.tar_size == len(plain)
    assert result.content_size == 5 + 3000
    assert (root / "d" / "f").read_bytes() == b"hello"


@pytest.mark.unit
def test_diff_id_covers_trailing_padding(sandbox: tuple[Path, Path]) -> None:
    root, _ = sandbox
    plain = TarBuilder().file("f").bytes() + b"\0" * 10240  # extra zero blocks after the end marker
    assert extract(plain, root).diff_id == sha256_digest(plain)  # type: ignore[attr-defined]


@pytest.mark.unit
def test_source_read_in_small_chunks(sandbox: tuple[Path, Path]) -> None:
    """A source that returns 1-7 bytes per read (like a trickling socket) still works."""
    root, _ = sandbox
    plain = TarBuilder().file("f", os.urandom(100_000)).bytes()
    body = gzipped(plain)

    class Trickle:
        def __init__(self) -> None:
            self.pos = 0
            self.max_read = 0

        def read(self, size: int = -1, /) -> bytes:
            n = min(size if size >= 0 else len(body), 1 + self.pos % 7)
            self.max_read = max(self.max_read, n)
            chunk = body[self.pos : self.pos + n]
            self.pos += len(chunk)
            return chunk

    src = Trickle()
    assert extract_layer(src, root).diff_id == sha256_digest(plain)
    assert src.pos == len(body)


@pytest.mark.unit
def test_zstd_is_refused_clearly(sandbox: tuple[Path, Path]) -> None:
    with pytest.raises(InvalidArgument, match="zstd"):
        extract(b"\x28\xb5\x2f\xfd" + b"\0" * 100, sandbox[0])


@pytest.mark.unit
@pytest.mark.parametrize(
    "body",
    [b"not a tar at all" * 100, gzipped(TarBuilder().file("f", b"z" * 5000).bytes())[:-40], b"\x1f\x8bjunk"],
)
def test_garbage_is_refused(sandbox: tuple[Path, Path], body: bytes) -> None:
    with pytest.raises(UnsafeArchive):
        extract(body, sandbox[0])


# -- metadata -----------------------------------------------------------------------------------


@pytest.mark.unit
def test_modes_times_links_and_fifos_are_kept(sandbox: tuple[Path, Path]) -> None:
    root, _ = sandbox
    tb = TarBuilder(mtime=1_600_000_000)
    tb.dir("ro", mode=0o555).file("ro/child", mode=0o640).file("suid", mode=0o4755)
    tb.symlink("link", "/bin/does-not-exist").hardlink("hard", "ro/child").fifo("pipe", mode=0o620)
    extract(tb.bytes(), root)
    assert stat.S_IMODE(os.stat(root / "ro").st_mode) == 0o555
    assert os.stat(root / "ro").st_mtime == 1_600_000_000  # set after its child was written
    assert stat.S_IMODE(os.stat(root / "ro" / "child").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(root / "suid").st_mode) == 0o4755
    assert os.stat(root / "suid").st_mtime == 1_600_000_000
    assert os.readlink(root / "link") == "/bin/does-not-exist"
    assert os.lstat(root / "link").st_mtime == 1_600_000_000
    assert os.stat(root / "hard").st_ino == os.stat(root / "ro" / "child").st_ino
    assert stat.S_ISFIFO(os.stat(root / "pipe").st_mode)
    assert stat.S_IMODE(os.stat(root / "pipe").st_mode) == 0o620


@pytest.mark.unit
def test_missing_parents_are_created(sandbox: tuple[Path, Path]) -> None:
    root, _ = sandbox
    extract(TarBuilder().file("a/b/c/f", b"deep").bytes(), root)
    assert (root / "a" / "b" / "c" / "f").read_bytes() == b"deep"
    assert stat.S_IMODE(os.stat(root / "a" / "b").st_mode) == 0o755


@pytest.mark.unit
def test_later_entries_replace_earlier_ones(sandbox: tuple[Path, Path]) -> None:
    root, _ = sandbox
    tb = TarBuilder().dir("x").file("x/inner").file("x", b"now a file").file("y", b"1").dir("y")
    extract(tb.bytes(), root)
    assert (root / "x").read_bytes() == b"now a file"
    assert (root / "y").is_dir()


@pytest.mark.unit
def test_user_xattrs_restored_overlay_xattrs_dropped(sandbox: tuple[Path, Path]) -> None:
    root, _ = sandbox
    tb = TarBuilder()
    info = tarfile.TarInfo("f")
    info.size = 1
    info.pax_headers = {
        "SCHILY.xattr.user.colour": "blue",
        "SCHILY.xattr.trusted.overlay.redirect": "/etc",
    }
    tb.tar.addfile(info, io.BytesIO(b"x"))
    extract(tb.bytes(), root)
    assert os.getxattr(root / "f", "user.colour") == b"blue"
    assert "trusted.overlay.redirect" not in os.listxattr(root / "f")


@requires_root
@pytest.mark.integration
def test_owners_and_devices_as_root(sandbox: tuple[Path, Path]) -> None:
    root, _ = sandbox
    tb = TarBuilder().file("owned", uid=1234, gid=4321, mode=0o2755).chardev("null", 1, 3)
    tb.dir("home", uid=1000, gid=1000, mode=0o700)
    extract(tb.bytes(), root)
    st = os.stat(root / "owned")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 4321, 0o2755)
    dev = os.stat(root / "null")
    assert stat.S_ISCHR(dev.st_mode) and os.major(dev.st_rdev) == 1 and os.minor(dev.st_rdev) == 3
    home = os.stat(root / "home")
    assert (home.st_uid, home.st_gid, stat.S_IMODE(home.st_mode)) == (1000, 1000, 0o700)


@requires_root
@pytest.mark.integration
def test_whiteouts_become_overlay_markers(sandbox: tuple[Path, Path]) -> None:
    root, _ = sandbox
    tb = TarBuilder().dir("etc").file("etc/.wh.motd", b"").dir("opt").file("opt/.wh..wh..opq", b"")
    tb.file("opt/new").file(".wh..wh.plnk", b"")
    extract(tb.bytes(), root)
    wh = os.lstat(root / "etc" / "motd")
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == os.makedev(0, 0)
    assert os.getxattr(root / "opt", OVERLAY_OPAQUE_XATTR) == b"y"
    assert (root / "opt" / "new").exists()
    assert not (root / "etc" / ".wh.motd").exists()
    assert not (root / "opt" / ".wh..wh..opq").exists()
    assert not (root / ".wh..wh.plnk").exists() and not (root / "plnk").exists()


# -- malicious tars -------------------------------------------------------------------------------


@pytest.mark.unit
def test_dotdot_escape_refused(sandbox: tuple[Path, Path]) -> None:
    root, outside = sandbox
    with pytest.raises(UnsafeArchive, match=r"\.\."):
        extract(TarBuilder().file("../outside/pwned").file("../escape").bytes(), root)
    outside_untouched(outside)
    assert not (root.parent / "escape").exists()


@pytest.mark.unit
def test_absolute_name_refused(sandbox: tuple[Path, Path]) -> None:
    root, outside = sandbox
    target = Path("/tmp") / f"berth-tarsafe-{uuid.uuid4().hex}"
    with pytest.raises(UnsafeArchive, match="absolute"):
        extract(TarBuilder().file(str(target)).file(f"{outside}/pwned").bytes(), root)
    assert not target.exists()
    outside_untouched(outside)
    assert list(root.iterdir()) == []


@pytest.mark.unit
def test_write_through_symlink_dir_refused(sandbox: tuple[Path, Path]) -> None:
    root, outside = sandbox
    with pytest.raises(UnsafeArchive, match="symlink"):
        extract(TarBuilder().symlink("evil", str(outside)).file("evil/pwned").bytes(), root)
    outside_untouched(outside)


@pytest.mark.unit
def test_write_through_relative_symlink_refused(sandbox: tuple[Path, Path]) -> None:
    root, outside = sandbox
    tb = TarBuilder().symlink("evil", "../outside").file("evil/secret", b"overwritten")
    with pytest.raises(UnsafeArchive):
        extract(tb.bytes(), root)
    outside_untouched(outside)


@pytest.mark.unit
def test_symlink_swapped_for_a_dir_between_entries(sandbox: tuple[Path, Path]) -> None:
    root, outside = sandbox
    tb = TarBuilder().dir("d").file("d/a").symlink("d", str(outside)).file("d/b").file("d/secret", b"no")
    with pytest.raises(UnsafeArchive):
        extract(tb.bytes(), root)
    outside_untouched(outside)


@pytest.mark.unit
def test_file_over_symlink_replaces_the_symlink(sandbox: tuple[Path, Path]) -> None:
    root, outside = sandbox
    tb = TarBuilder().symlink("evil", str(outside / "secret")).file("evil", b"overwritten")
    extract(tb.bytes(), root)
    outside_untouched(outside)
    assert not (root / "evil").is_symlink()
    assert (root / "evil").read_bytes() == b"overwritten"


@pytest.mark.unit
@pytest.mark.parametrize("target", ["/etc/passwd", "../outside/secret", "missing"])
def test_hardlink_outside_root_refused(sandbox: tuple[Path, Path], target: str) -> None:
    root, outside = sandbox
    with pytest.raises(UnsafeArchive):
        extract(TarBuilder().hardlink("pw", target).bytes(), root)
    assert not (root / "pw").exists()
    outside_untouched(outside)


@pytest.mark.unit
def test_hardlink_through_symlinked_dir_refused(sandbox: tuple[Path, Path]) -> None:
    root, outside = sandbox
    tb = TarBuilder().symlink("out", str(outside)).hardlink("stolen", "out/secret")
    with pytest.raises(UnsafeArchive):
        extract(tb.bytes(), root)
    assert not (root / "stolen").exists()
    outside_untouched(outside)


@pytest.mark.unit
def test_hardlink_to_symlink_links_the_symlink_not_its_target(sandbox: tuple[Path, Path]) -> None:
    root, outside = sandbox
    tb = TarBuilder().symlink("s", str(outside / "secret")).hardlink("h", "s").file("h", b"overwritten")
    extract(tb.bytes(), root)
    outside_untouched(outside)
    assert os.readlink(root / "s") == str(outside / "secret")
    assert (root / "h").read_bytes() == b"overwritten"


@pytest.mark.unit
def test_in_root_symlinked_parent_is_refused_too(sandbox: tuple[Path, Path]) -> None:
    # Policy: no write goes through any symlink, even one that stays inside the root.
    root, _ = sandbox
    with pytest.raises(UnsafeArchive):
        extract(TarBuilder().dir("usr/lib").symlink("lib", "usr/lib").file("lib/x").bytes(), root)
    assert not (root / "usr" / "lib" / "x").exists()


@pytest.mark.unit
@pytest.mark.parametrize("name", ["d/.wh..", "d/.wh.", "d/.wh.."])
def test_bad_whiteout_names_refused(sandbox: tuple[Path, Path], name: str) -> None:
    with pytest.raises(UnsafeArchive):
        extract(TarBuilder().dir("d").file(name, b"").bytes(), sandbox[0])


@pytest.mark.unit
def test_large_layer_streams_without_buffering(sandbox: tuple[Path, Path]) -> None:
    """A 64 MiB file goes through in bounded memory: the layer is never held whole."""
    root, _ = sandbox
    size = 64 << 20
    info = tarfile.TarInfo("big")
    info.size = size
    header = info.tobuf(format=tarfile.PAX_FORMAT)
    trailer = b"\0" * (-size % 512) + b"\0" * 1024

    class Generated:
        """Produces the tar on the fly, hashing what it hands out."""

        def __init__(self) -> None:
            self.parts = iter([header, *([b"\0" * (1 << 20)] * (size >> 20)), trailer])
            self.pending = b""
            self.digest = hashlib.sha256()

        def read(self, n: int = -1, /) -> bytes:
            while not self.pending:
                self.pending = next(self.parts, b"")
                if not self.pending:
                    return b""
            out, self.pending = self.pending[:n], self.pending[n:]
            self.digest.update(out)
            return out

    src = Generated()
    tracemalloc.start()
    try:
        result = extract_layer(src, root)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.diff_id == "sha256:" + src.digest.hexdigest()
    assert result.content_size == size and (root / "big").stat().st_size == size
    assert peak < 16 << 20, f"peak {peak} bytes"
