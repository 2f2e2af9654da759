"""Volumes, binds and tmpfs through the real `docker` CLI against a private berthd."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import docker
from tests.support.cli import ok as _ok

pytestmark = pytest.mark.e2e


def ok(env: dict[str, str], *args: str) -> str:
    return _ok(env, *args, strip=False)


@pytest.fixture
def name() -> str:
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def cleanup(docker_env: dict[str, str]) -> Iterator[list[tuple[str, str]]]:
    """Things to remove after the test: ("container"|"volume", name)."""
    items: list[tuple[str, str]] = []
    yield items
    for kind, ident in reversed(items):
        if kind == "container":
            docker(docker_env, "rm", "-f", "-v", ident)
        else:
            docker(docker_env, "volume", "rm", "-f", ident)


@pytest.fixture(scope="module")
def seeded_image(berthd, busybox_tar: Path, docker_cli: str) -> str:
    """busybox plus /data/seed.txt, declared `VOLUME /data`."""
    buf = io.BytesIO(busybox_tar.read_bytes())
    out = io.BytesIO()
    with tarfile.open(fileobj=buf) as src, tarfile.open(fileobj=out, mode="w") as dst:
        for member in src:
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        d = tarfile.TarInfo("data")
        d.type, d.mode, d.uid = tarfile.DIRTYPE, 0o750, 1000
        dst.addfile(d)
        seed = b"from the image\n"
        f = tarfile.TarInfo("data/seed.txt")
        f.size, f.uid = len(seed), 1000
        dst.addfile(f, io.BytesIO(seed))
    status, _, body = berthd.api.request(
        "POST", "/images/create?fromSrc=-&repo=seeded&tag=latest&changes=VOLUME%20%2Fdata", out.getvalue(),
        {"Content-Type": "application/x-tar"})
    assert status == 200, body
    return "seeded:latest"


def test_named_volume_survives_container_removal(busybox_image: str, docker_env: dict[str, str], name: str,
                                                 cleanup: list[tuple[str, str]]) -> None:
    cleanup.append(("volume", name))
    ok(docker_env, "run", "--rm", "-v", f"{name}:/data", busybox_image, "sh", "-c", "echo kept > /data/f")
    assert ok(docker_env, "run", "--rm", "-v", f"{name}:/data", busybox_image, "cat", "/data/f") == "kept\n"
    vol = json.loads(ok(docker_env, "volume", "inspect", name))[0]
    assert vol["Driver"] == "local" and vol["Scope"] == "local"
    assert name in ok(docker_env, "volume", "ls", "-q").split()


def test_empty_volume_is_filled_from_the_image(seeded_image: str, busybox_image: str, docker_env: dict[str, str],
                                               name: str, cleanup: list[tuple[str, str]]) -> None:
    cleanup.append(("volume", name))
    ok(docker_env, "run", "--rm", "-v", f"{name}:/data", seeded_image, "true")
    out = ok(docker_env, "run", "--rm", "-v", f"{name}:/v", busybox_image, "sh", "-c",
             "cat /v/seed.txt; stat -c '%u %a' /v")
    assert out == "from the image\n1000 750\n"
    # nocopy leaves a new volume empty
    other = name + "n"
    cleanup.append(("volume", other))
    out = ok(docker_env, "run", "--rm", "-v", f"{other}:/data:nocopy", seeded_image, "ls", "-A", "/data")
    assert out == ""


def test_image_volume_is_anonymous_and_rm_v_removes_it(seeded_image: str, docker_env: dict[str, str],
                                                       name: str, cleanup: list[tuple[str, str]]) -> None:
    cleanup.append(("container", name))
    ok(docker_env, "run", "--name", name, seeded_image, "cat", "/data/seed.txt")
    mounts = json.loads(ok(docker_env, "inspect", name))[0]["Mounts"]
    assert [(m["Type"], m["Destination"]) for m in mounts] == [("volume", "/data")]
    anon = mounts[0]["Name"]
    assert len(anon) == 64
    busy = docker(docker_env, "volume", "rm", anon)
    assert busy.returncode != 0 and "volume is in use" in busy.stderr
    ok(docker_env, "rm", "-v", name)
    assert anon not in ok(docker_env, "volume", "ls", "-q").split()


def test_bind_mount_read_only_is_enforced(busybox_image: str, docker_env: dict[str, str],
                                          tmp_path: Path) -> None:
    (tmp_path / "host.txt").write_text("from the host\n")
    out = docker(docker_env, "run", "--rm", "-v", f"{tmp_path}:/mnt:ro", busybox_image, "sh", "-c",
                 "cat /mnt/host.txt; echo x > /mnt/new")
    assert out.returncode != 0
    assert out.stdout == "from the host\n"
    assert "Read-only file system" in out.stderr
    assert not (tmp_path / "new").exists()
    # read-write by --mount, and the write lands on the host
    ok(docker_env, "run", "--rm", "--mount", f"type=bind,source={tmp_path},target=/mnt", busybox_image,
       "sh", "-c", "echo y > /mnt/new")
    assert (tmp_path / "new").read_text() == "y\n"
    out = docker(docker_env, "run", "--rm", "--mount", f"type=bind,source={tmp_path},target=/mnt,readonly",
                 busybox_image, "touch", "/mnt/z")
    assert out.returncode != 0 and not (tmp_path / "z").exists()


def test_tmpfs_mounts(busybox_image: str, docker_env: dict[str, str]) -> None:
    out = ok(docker_env, "run", "--rm", "--tmpfs", "/scratch:size=1m,mode=1770", "--mount",
             "type=tmpfs,target=/other,tmpfs-size=2097152", busybox_image, "sh", "-c",
             "grep -E ' /(scratch|other) ' /proc/mounts; stat -c %a /scratch")
    lines = out.splitlines()
    assert any(line.startswith("tmpfs /scratch tmpfs") and "size=1024k" in line for line in lines), out
    assert any(line.startswith("tmpfs /other tmpfs") and "size=2048k" in line for line in lines), out
    assert lines[-1] == "1770"


def test_volume_with_tmpfs_options(busybox_image: str, docker_env: dict[str, str], name: str,
                                   cleanup: list[tuple[str, str]]) -> None:
    cleanup.append(("volume", name))
    ok(docker_env, "volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=1m", name)
    out = ok(docker_env, "run", "--rm", "-v", f"{name}:/t", busybox_image, "sh", "-c", "grep ' /t ' /proc/mounts")
    assert out.startswith("tmpfs /t tmpfs") and "size=1024k" in out


@pytest.mark.parametrize(("args", "message"), [
    (["-v", "a:/b:/c:/d"], "too many colons"),
    (["-v", "vol:relative"], "must be absolute"),
    (["-v", "vol:/x:bogus"], "unknown option 'bogus'"),
    (["-v", "bad name!:/x"], "not a valid volume name"),
    (["--mount", "type=bind,source=/nonexistent-berth-path,target=/x"], "bind source path does not exist"),
    (["-v", "vol1:/x", "-v", "vol2:/x"], "Duplicate mount point: /x"),
    (["--tmpfs", "/x:size=big"], "is not a size"),
])
def test_malformed_mounts_are_explained(busybox_image: str, docker_env: dict[str, str], args: list[str],
                                        message: str) -> None:
    out = docker(docker_env, "create", *args, busybox_image, "true")
    assert out.returncode != 0
    assert message in out.stderr, out.stderr


def test_volume_rm_prune_and_labels(busybox_image: str, docker_env: dict[str, str], name: str,
                                    cleanup: list[tuple[str, str]]) -> None:
    cleanup.append(("container", name))
    cleanup.append(("volume", name + "a"))
    cleanup.append(("volume", name + "b"))
    ok(docker_env, "volume", "create", "--label", f"t={name}", name + "a")
    ok(docker_env, "volume", "create", "--label", f"t={name}", name + "b")
    ok(docker_env, "create", "--name", name, "-v", f"{name}a:/a", busybox_image, "true")
    listed = ok(docker_env, "volume", "ls", "-q", "--filter", f"label=t={name}").split()
    assert sorted(listed) == [name + "a", name + "b"]
    busy = docker(docker_env, "volume", "rm", name + "a")
    assert busy.returncode != 0 and "volume is in use" in busy.stderr
    # only this test's volumes: the session's berthd is shared
    pruned = ok(docker_env, "volume", "prune", "--all", "--force", "--filter", f"label=t={name}")
    assert name + "b" in pruned and name + "a" not in pruned
    ok(docker_env, "rm", name)
    ok(docker_env, "volume", "rm", name + "a")
    missing = docker(docker_env, "volume", "inspect", name + "a")
    assert missing.returncode != 0 and "no such volume" in missing.stderr.lower()


def _tar_files(data: bytes) -> dict[str, tuple[str, int, bytes]]:
    """name -> (type, mode, content) for every member of a tar."""
    out: dict[str, tuple[str, int, bytes]] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar:
            name = m.name.removeprefix("./")
            if not name or name == ".":
                continue
            content = tar.extractfile(m).read() if m.isfile() else m.linkname.encode()  # type: ignore[union-attr]
            out[name] = ("dir" if m.isdir() else "file" if m.isfile() else "link", m.mode, content)
    return out


def test_export_then_import_into_a_new_volume_gives_the_same_files(
        berthd, busybox_image: str, docker_env: dict[str, str], name: str, cleanup: list[tuple[str, str]]) -> None:
    cleanup.append(("volume", name))
    cleanup.append(("volume", name + "copy"))
    cleanup.append(("volume", name + "clone"))
    ok(docker_env, "run", "--rm", "-v", f"{name}:/v", busybox_image, "sh", "-c",
       "mkdir -p /v/sub/deeper && echo one > /v/a.txt && echo two > /v/sub/deeper/b.txt && "
       "chmod 600 /v/a.txt && ln -s a.txt /v/link && chown 1000:1000 /v/sub")
    status, headers, exported = berthd.api.request("GET", f"/berth/v1/volumes/{name}/export")
    assert status == 200 and headers["Content-Type"] == "application/x-tar"
    files = _tar_files(exported)
    assert files["a.txt"] == ("file", 0o600, b"one\n")
    assert files["sub/deeper/b.txt"][2] == b"two\n"
    assert files["link"] == ("link", 0o777, b"a.txt")

    status, _, body = berthd.api.request("PUT", f"/berth/v1/volumes/{name}copy/import?create=1", exported,
                                         {"Content-Type": "application/x-tar"})
    assert status == 200, body
    status, _, again = berthd.api.request("GET", f"/berth/v1/volumes/{name}copy/export")
    assert status == 200 and _tar_files(again) == files
    out = ok(docker_env, "run", "--rm", "-v", f"{name}copy:/v", busybox_image, "sh", "-c",
             "cat /v/sub/deeper/b.txt; stat -c '%u %a' /v/sub /v/a.txt; readlink /v/link")
    assert out == "two\n1000 755\n0 600\na.txt\n"

    listing = berthd.api.json("GET", f"/berth/v1/volumes/{name}copy/files?path=/sub")
    assert listing["Path"] == "/sub"
    assert [(e["Name"], e["Type"]) for e in listing["Entries"]] == [("deeper", "dir")]
    top = berthd.api.json("GET", f"/berth/v1/volumes/{name}copy/files")
    assert {e["Name"]: e["Type"] for e in top["Entries"]} == {"a.txt": "file", "link": "symlink", "sub": "dir"}
    assert next(e for e in top["Entries"] if e["Name"] == "link")["LinkTarget"] == "a.txt"
    status, _, _ = berthd.api.request("GET", f"/berth/v1/volumes/{name}copy/files?path=/link/..%2F..%2F..")
    assert status in (400, 404)  # a path never leaves the volume
    escape = berthd.api.json("GET", f"/berth/v1/volumes/{name}copy/files?path=/../../..")
    assert {e["Name"] for e in escape["Entries"]} == {"a.txt", "link", "sub"}

    clone = berthd.api.json("POST", f"/berth/v1/volumes/{name}/clone?name={name}clone")
    assert clone["Name"] == name + "clone"
    status, _, cloned = berthd.api.request("GET", f"/berth/v1/volumes/{name}clone/export")
    assert _tar_files(cloned) == files


def test_import_refuses_a_tar_that_escapes(berthd, name: str, cleanup: list[tuple[str, str]]) -> None:
    cleanup.append(("volume", name))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        evil = tarfile.TarInfo("../escaped.txt")
        evil.size = 1
        tar.addfile(evil, io.BytesIO(b"x"))
    status, _, body = berthd.api.request("PUT", f"/berth/v1/volumes/{name}/import?create=1", buf.getvalue())
    assert status == 400 and b"'..'" in body
    status, _, _ = berthd.api.request("GET", "/berth/v1/volumes/nosuchvolume-x/files")
    assert status == 404
