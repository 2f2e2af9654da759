"""docker cp's domain logic on a plain directory standing in for a container root."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.containers import archive
from engine.containers.archive import ExtractOptions, container_path, go_file_mode
from engine.errors import InvalidArgument, NotFound

pytestmark = pytest.mark.unit


@pytest.fixture
def host(tmp_path: Path) -> Path:
    h = tmp_path / "host"
    (h / "etc").mkdir(parents=True)
    (h / "etc" / "secret").write_text("host secret\n")
    return h


@pytest.fixture
def root(tmp_path: Path, host: Path) -> Path:
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "secret").write_text("container secret\n")
    (r / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nguest:x:1000:1000::/home:/bin/sh\n")
    (r / "etc" / "group").write_text("root:x:0:\nguest:x:1000:\n")
    (r / "tmp").mkdir()
    (r / "to-root").symlink_to("/")
    (r / "up").symlink_to("../../../../../../..")
    (r / "to-host").symlink_to(str(host))
    return r


@pytest.fixture
def root_fd(root: Path) -> Iterator[int]:
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def tar_of(root_fd: int, path: str) -> tarfile.TarFile:
    with archive.locate(root_fd, path, "c") as located:
        buf = io.BytesIO()
        located.write_tar(buf)
    buf.seek(0)
    return tarfile.open(fileobj=buf)


def tar_bytes(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def entry(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "", mode: int = 0o644,
          uid: int = 0, gid: int = 0, mtime: int = 1_600_000_000) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = mode
    info.uid, info.gid = uid, gid
    info.mtime = mtime
    return info


def extract(root_fd: int, path: str, data: bytes, **opts: object) -> None:
    with archive.extraction_dir(root_fd, path, "c") as dest:
        archive.extract(dest, io.BytesIO(data), ExtractOptions(**opts))  # type: ignore[arg-type]


# ---- paths and stat ---------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "expected"), [
    ("etc", "/etc"), ("/etc/", "/etc/"), ("/etc/.", "/etc/."), ("etc/./", "/etc/."), (".", "/."),
    ("/", "/"), ("//", "/"), ("../../etc", "/etc"), ("/a/../b/", "/b/"), ("a//b", "/a/b"),
])
def test_container_path_keeps_trailing_meaning(given: str, expected: str) -> None:
    assert container_path(given) == expected


def test_go_file_mode_sets_type_bits() -> None:
    assert go_file_mode(stat.S_IFDIR | 0o755) == (1 << 31) | 0o755
    assert go_file_mode(stat.S_IFLNK | 0o777) == (1 << 27) | 0o777
    assert go_file_mode(stat.S_IFREG | stat.S_ISUID | 0o755) == (1 << 23) | 0o755
    assert go_file_mode(stat.S_IFCHR | 0o600) == (1 << 26) | (1 << 21) | 0o600
    assert go_file_mode(stat.S_IFDIR | stat.S_ISVTX | 0o777) == (1 << 31) | (1 << 20) | 0o777


def test_stat_of_a_file_and_its_header(root_fd: int) -> None:
    with archive.locate(root_fd, "/etc/secret", "c") as located:
        st = located.path_stat()
    assert (st.name, st.size, st.mode, st.link_target) == ("secret", 17, 0o644, "")
    decoded = json.loads(base64.b64decode(st.header()))
    assert set(decoded) == {"name", "size", "mode", "mtime", "linkTarget"}
    assert decoded["mtime"].endswith("Z")


def test_stat_of_a_symlink_reports_its_target_inside_the_root(root_fd: int) -> None:
    with archive.locate(root_fd, "/up", "c") as located:
        st = located.path_stat()
    assert st.mode & (1 << 27)
    assert st.link_target == "/"
    with archive.locate(root_fd, "/to-root/", "c") as located:  # trailing slash: followed
        assert located.path_stat().mode & (1 << 31)
        assert located.path_stat().name == "to-root"


def test_missing_path_is_not_found(root_fd: int) -> None:
    with pytest.raises(NotFound, match="Could not find the file /etc/nope in container c"):
        archive.locate(root_fd, "/etc/nope", "c")
    with pytest.raises(NotFound):
        archive.locate(root_fd, "/etc/secret/below", "c")
    with pytest.raises(NotFound):
        archive.locate(root_fd, "/to-host/etc/secret", "c")  # the host path, inside the root: absent


# ---- tar out ----------------------------------------------------------------------------------


def test_tar_names_follow_dockerd(root_fd: int) -> None:
    assert tar_of(root_fd, "/etc/secret").getnames() == ["secret"]
    assert tar_of(root_fd, "/etc").getnames() == ["etc", "etc/group", "etc/passwd", "etc/secret"]
    assert tar_of(root_fd, "/etc/").getnames() == ["etc", "etc/group", "etc/passwd", "etc/secret"]
    assert tar_of(root_fd, "/etc/.").getnames() == [".", "./group", "./passwd", "./secret"]
    names = tar_of(root_fd, "/").getnames()
    assert names[0] == "" and "/etc/secret" in names  # the header says "/"; tarfile strips the slash


def test_tar_of_a_link_is_the_link(root_fd: int) -> None:
    tar = tar_of(root_fd, "/to-root")
    (member,) = tar.getmembers()
    assert member.issym() and member.linkname == "/"


def test_tar_through_hostile_links_reads_the_container(root_fd: int) -> None:
    for path in ("/up/etc/secret", "/to-root/etc/secret", "/up/up/../etc/secret"):
        tar = tar_of(root_fd, path)
        member = tar.next()
        assert member is not None
        f = tar.extractfile(member)
        assert f is not None and f.read() == b"container secret\n", path
    names = tar_of(root_fd, "/up/").getnames()
    assert "up/etc/secret" in names
    assert "up/to-host" in names and not any(n.startswith("up/to-host/") for n in names)  # a link, not followed


def test_tar_keeps_hardlinks_and_modes(root: Path, root_fd: int) -> None:
    os.link(root / "etc" / "secret", root / "etc" / "again")
    os.chmod(root / "etc" / "secret", 0o4750)
    tar = tar_of(root_fd, "/etc")
    members = {m.name: m for m in tar.getmembers()}
    assert members["etc/again"].isreg()
    assert members["etc/secret"].islnk() and members["etc/secret"].linkname == "etc/again"
    assert members["etc/again"].mode == 0o4750


# ---- tar in -----------------------------------------------------------------------------------


def test_extract_files_dirs_and_metadata(root: Path, root_fd: int) -> None:
    data = tar_bytes((entry("d", tarfile.DIRTYPE, mode=0o750, uid=1000, gid=1000, mtime=1_500_000_000), None),
                     (entry("d/f", mode=0o600, uid=1000, gid=100), b"hello\n"),
                     (entry("d/l", tarfile.SYMTYPE, linkname="f"), None),
                     (entry("d/h", tarfile.LNKTYPE, linkname="d/f"), None))
    extract(root_fd, "/tmp", data)
    d = root / "tmp" / "d"
    assert (d / "f").read_text() == "hello\n"
    st = (d / "f").stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o600, 1000, 100)
    assert os.readlink(d / "l") == "f"
    assert (d / "h").stat().st_ino == st.st_ino
    dst = d.stat()
    assert (stat.S_IMODE(dst.st_mode), dst.st_uid, int(dst.st_mtime)) == (0o750, 1000, 1_500_000_000)


def test_extract_with_owner_chowns_everything(root: Path, root_fd: int) -> None:
    owner = archive.container_owner(root_fd, "guest")
    assert owner == (1000, 1000)
    extract(root_fd, "/tmp", tar_bytes((entry("x", uid=5, gid=5), b"x")), owner=owner)
    st = (root / "tmp" / "x").stat()
    assert (st.st_uid, st.st_gid) == (1000, 1000)


def test_symlink_entry_then_file_through_it_stays_inside(root: Path, root_fd: int, host: Path) -> None:
    data = tar_bytes((entry("evil", tarfile.SYMTYPE, linkname="/"), None),
                     (entry("evil/etc/planted"), b"abs\n"),
                     (entry("rel", tarfile.SYMTYPE, linkname="../../../../../../../.."), None),
                     (entry("rel/planted2"), b"rel\n"),
                     (entry("tohost", tarfile.SYMTYPE, linkname=str(host / "etc")), None),
                     (entry("tohost/planted3"), b"host path\n"))
    extract(root_fd, "/tmp", data)
    assert (root / "etc" / "planted").read_text() == "abs\n"
    assert (root / "planted2").read_text() == "rel\n"
    inside = root / str(host / "etc").lstrip("/") / "planted3"
    assert inside.read_text() == "host path\n"
    assert sorted(p.name for p in (host / "etc").iterdir()) == ["secret"]


def test_existing_link_at_the_name_is_replaced_not_followed(root: Path, root_fd: int, host: Path) -> None:
    (root / "tmp" / "target").symlink_to(str(host / "etc" / "secret"))
    (root / "tmp" / "dirlink").symlink_to("../../../../../..")
    extract(root_fd, "/tmp", tar_bytes((entry("target"), b"new\n"), (entry("dirlink"), b"file\n")))
    assert (root / "tmp" / "target").read_text() == "new\n"
    assert not (root / "tmp" / "target").is_symlink()
    assert (root / "tmp" / "dirlink").read_text() == "file\n"
    assert (host / "etc" / "secret").read_text() == "host secret\n"


def test_dotdot_entries_and_hardlinks_out_are_refused(root: Path, root_fd: int) -> None:
    with pytest.raises(InvalidArgument, match="outside the destination"):
        extract(root_fd, "/tmp", tar_bytes((entry("../../etc/evil"), b"x")))
    with pytest.raises(InvalidArgument, match="outside the destination"):
        extract(root_fd, "/tmp", tar_bytes((entry("a/../../evil"), b"x")))
    with pytest.raises(InvalidArgument, match="outside the destination"):
        extract(root_fd, "/tmp", tar_bytes((entry("h", tarfile.LNKTYPE, linkname="../etc/secret"), None)))
    assert not (root / "etc" / "evil").exists()
    assert not (root / "evil").exists()


def test_hardlink_through_a_link_stays_inside(root: Path, root_fd: int) -> None:
    data = tar_bytes((entry("l", tarfile.SYMTYPE, linkname="/"), None),
                     (entry("h", tarfile.LNKTYPE, linkname="l/etc/secret"), None))
    extract(root_fd, "/tmp", data)
    assert (root / "tmp" / "h").stat().st_ino == (root / "etc" / "secret").stat().st_ino


def test_no_overwrite_dir_non_dir(root: Path, root_fd: int) -> None:
    (root / "tmp" / "adir").mkdir()
    (root / "tmp" / "afile").write_text("")
    with pytest.raises(InvalidArgument, match="cannot overwrite directory"):
        extract(root_fd, "/tmp", tar_bytes((entry("adir"), b"x")), no_overwrite_dir_non_dir=True)
    with pytest.raises(InvalidArgument, match="cannot overwrite non-directory"):
        extract(root_fd, "/tmp", tar_bytes((entry("afile", tarfile.DIRTYPE), None)), no_overwrite_dir_non_dir=True)
    extract(root_fd, "/tmp", tar_bytes((entry("adir"), b"x")))  # allowed without the flag
    assert (root / "tmp" / "adir").read_text() == "x"


def test_extraction_dir_rules(root_fd: int) -> None:
    with pytest.raises(InvalidArgument, match="extraction point is not a directory"):
        archive.extraction_dir(root_fd, "/etc/secret", "c")
    with pytest.raises(NotFound):
        archive.extraction_dir(root_fd, "/nope", "c")
    with archive.extraction_dir(root_fd, "/up/etc", "c") as d:
        assert d.path == "/etc"


def test_extract_takes_gzip(root: Path, root_fd: int) -> None:
    extract(root_fd, "/", gzip.compress(tar_bytes((entry("zipped"), b"z"))))
    assert (root / "zipped").read_text() == "z"


def test_garbage_is_a_clear_error(root_fd: int) -> None:
    with pytest.raises(InvalidArgument, match="invalid tar archive"):
        extract(root_fd, "/", b"this is not a tar" * 100)
