"""`docker cp`, export, diff, top and stats with the real `docker` CLI against a private berthd."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api import UnixHTTPConnection
from tests.support.cli import docker_bytes as docker
from tests.support.cli import succeeded as ok
from tests.support.daemon import Berthd

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(docker_env: dict[str, str], busybox_image: str, docker_cli: str) -> dict[str, str]:
    return docker_env


# What the running container sets up for the tests before it sleeps: hostile links included.
SETUP = ("ln -s / /tmp/rootlink && ln -s ../../../../../../etc /tmp/uplink && echo mine > /etc/marker"
         " && touch /tmp/ready && exec sleep 300")


@pytest.fixture
def running(env: dict[str, str]) -> Iterator[str]:
    name = f"files-run-{uuid.uuid4().hex[:8]}"
    ok(docker(env, "run", "-d", "--name", name, "busybox", "sh", "-c", SETUP))
    try:
        deadline = time.monotonic() + 10
        while docker(env, "cp", f"{name}:/tmp/ready", "-").returncode != 0:
            assert time.monotonic() < deadline, "the container did not get ready"
            time.sleep(0.1)
        yield name
    finally:
        docker(env, "rm", "-f", name)


def cat(env: dict[str, str], container: str, path: str) -> bytes:
    """A file's content read out of a container with `docker cp` (a tar on stdout)."""
    out = docker(env, "cp", f"{container}:{path}", "-")
    ok(out)
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
        member = tar.next()
        assert member is not None and member.isfile(), member
        f = tar.extractfile(member)
        assert f is not None
        return f.read()


@pytest.fixture
def stopped(env: dict[str, str]) -> Iterator[str]:
    name = f"files-stop-{uuid.uuid4().hex[:8]}"
    ok(docker(env, "run", "--name", name, "busybox", "sh", "-c", "mkdir -p /data && echo inside > /data/f"))
    try:
        yield name
    finally:
        docker(env, "rm", "-f", name)


@pytest.fixture
def created(env: dict[str, str]) -> Iterator[str]:
    name = f"files-new-{uuid.uuid4().hex[:8]}"
    ok(docker(env, "create", "--name", name, "busybox", "cat", "/in/hello.txt"))
    try:
        yield name
    finally:
        docker(env, "rm", "-f", name)


def no_mounts_left(base: Path) -> bool:
    with open("/proc/self/mountinfo") as f:
        return not any(".view-" in line.split()[4] for line in f if str(base) in line)


def test_cp_into_and_out_of_running(env: dict[str, str], running: str, tmp_path: Path) -> None:
    src = tmp_path / "hello.txt"
    src.write_text("hello from the host\n")
    ok(docker(env, "cp", str(src), f"{running}:/tmp/"))
    out = tmp_path / "back.txt"
    ok(docker(env, "cp", f"{running}:/tmp/hello.txt", str(out)))
    assert out.read_text() == "hello from the host\n"
    # a directory, both ways
    d = tmp_path / "tree"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "a").write_text("a\n")
    ok(docker(env, "cp", str(d), f"{running}:/srv"))
    back = tmp_path / "tree-back"
    ok(docker(env, "cp", f"{running}:/srv", str(back)))
    assert (back / "sub" / "a").read_text() == "a\n"


def test_cp_into_created_then_start_reads_it(env: dict[str, str], created: str, tmp_path: Path,
                                             berthd: Berthd) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "hello.txt").write_text("copied before start\n")
    ok(docker(env, "cp", str(src), f"{created}:/"))
    ok(docker(env, "start", created))
    assert ok(docker(env, "wait", created)).strip() == "0"
    assert ok(docker(env, "logs", created)) == "copied before start\n"
    assert no_mounts_left(berthd.base)


def test_cp_out_of_and_into_stopped(env: dict[str, str], stopped: str, tmp_path: Path,
                                    berthd: Berthd) -> None:
    out = tmp_path / "f"
    ok(docker(env, "cp", f"{stopped}:/data/f", str(out)))
    assert out.read_text() == "inside\n"
    src = tmp_path / "g"
    src.write_text("later\n")
    ok(docker(env, "cp", str(src), f"{stopped}:/data/g"))
    back = tmp_path / "data"
    ok(docker(env, "cp", f"{stopped}:/data", str(back)))
    assert sorted(p.name for p in back.iterdir()) == ["f", "g"]
    assert (back / "g").read_text() == "later\n"
    assert no_mounts_left(berthd.base)


def test_cp_to_stdout_is_a_tar(env: dict[str, str], stopped: str) -> None:
    out = docker(env, "cp", f"{stopped}:/data/f", "-")
    ok(out)
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
        assert tar.getnames() == ["f"]


def test_cp_missing_path_is_a_clear_error(env: dict[str, str], stopped: str, tmp_path: Path) -> None:
    out = docker(env, "cp", f"{stopped}:/no/such/file", str(tmp_path / "x"))
    assert out.returncode != 0
    assert "Could not find the file /no/such/file" in out.stderr.decode()


def test_symlink_escape_out_stays_inside(env: dict[str, str], running: str, tmp_path: Path) -> None:
    """A link to / in the container copies the container's root, never the host's."""
    out = tmp_path / "etc"
    ok(docker(env, "cp", "-L", f"{running}:/tmp/uplink", str(out)))
    assert (out / "marker").read_text() == "mine\n"
    assert (out / "passwd").read_text().startswith("root:x:0:0:root:/root:/bin/sh\n")  # busybox's, not ours
    assert not (out / "os-release").exists()
    # through the link as a directory: the container's /etc again
    marker = tmp_path / "marker"
    ok(docker(env, "cp", f"{running}:/tmp/rootlink/etc/marker", str(marker)))
    assert marker.read_text() == "mine\n"
    # and without -L, the link itself
    link = tmp_path / "rootlink"
    ok(docker(env, "cp", f"{running}:/tmp/rootlink", str(link)))
    assert link.is_symlink() and str(link.readlink()) == "/"


def test_symlink_escape_in_stays_inside(env: dict[str, str], running: str, tmp_path: Path,
                                        berthd: Berthd) -> None:
    """A tar whose symlink entry is followed by a file through it writes inside the container."""
    victim = berthd.base / f"victim-{uuid.uuid4().hex[:6]}"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        link = tarfile.TarInfo("evil")
        link.type = tarfile.SYMTYPE
        link.linkname = str(victim.parent)  # an absolute host path, as the container sees it
        tar.addfile(link)
        data = b"pwned\n"
        f = tarfile.TarInfo(f"evil/{victim.name}")
        f.size = len(data)
        tar.addfile(f, io.BytesIO(data))
        up = tarfile.TarInfo("up")
        up.type = tarfile.SYMTYPE
        up.linkname = "../../../../../../../../.."
        tar.addfile(up)
        g = tarfile.TarInfo("up/escaped")
        g.size = len(data)
        tar.addfile(g, io.BytesIO(data))
    ok(docker(env, "cp", "-", f"{running}:/tmp", input=buf.getvalue()))
    assert not victim.exists()
    assert not Path("/escaped").exists()
    assert cat(env, running, str(victim)) == b"pwned\n"
    assert cat(env, running, "/escaped") == b"pwned\n"
    # A `..` entry is refused outright.
    bad = io.BytesIO()
    with tarfile.open(fileobj=bad, mode="w") as tar:
        e = tarfile.TarInfo("../../../../etc/evil")
        e.size = 0
        tar.addfile(e, io.BytesIO(b""))
    out = docker(env, "cp", "-", f"{running}:/tmp", input=bad.getvalue())
    assert out.returncode != 0
    assert "outside the destination" in out.stderr.decode()


def test_export_lists_the_filesystem(env: dict[str, str], stopped: str) -> None:
    out = docker(env, "export", stopped)
    ok(out)
    names = subprocess.run(["tar", "t"], input=out.stdout, capture_output=True, check=True).stdout.decode().split()
    assert "bin/busybox" in names
    assert "data/f" in names
    assert "etc/passwd" in names


def test_diff_shows_changes(env: dict[str, str], env_running_diff: str) -> None:
    out = ok(docker(env, "diff", env_running_diff)).splitlines()
    assert "A /data" in out
    assert "A /data/f" in out
    assert "C /etc" in out
    assert "C /etc/passwd" in out
    assert "D /etc/group" in out
    assert not any(line.endswith(("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")) for line in out)


@pytest.fixture
def env_running_diff(env: dict[str, str]) -> Iterator[str]:
    name = f"files-diff-{uuid.uuid4().hex[:8]}"
    ok(docker(env, "run", "--name", name, "busybox", "sh", "-c",
              "mkdir /data && echo x > /data/f && echo extra::1:1::/:/bin/sh >> /etc/passwd && rm /etc/group"))
    try:
        yield name
    finally:
        docker(env, "rm", "-f", name)


def test_top_lists_the_processes(env: dict[str, str], running: str) -> None:
    out = ok(docker(env, "top", running)).splitlines()
    assert out[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert any(line.endswith("sleep 300") for line in out[1:]), out
    custom = ok(docker(env, "top", running, "-o", "pid,comm")).splitlines()
    assert custom[0].split() == ["PID", "COMMAND"]
    assert [line.split()[1] for line in custom[1:]] == ["sleep"]


def test_top_of_a_stopped_container_is_refused(env: dict[str, str], stopped: str) -> None:
    out = docker(env, "top", stopped)
    assert out.returncode != 0
    assert "is not running" in out.stderr.decode()


def test_stats_no_stream(env: dict[str, str], running: str, stopped: str) -> None:
    out = ok(docker(env, "stats", "--no-stream", "--format", "{{json .}}", running, stopped))
    rows = {row["Name"]: row for row in map(json.loads, out.splitlines())}
    assert set(rows) == {running, stopped}
    live = rows[running]
    assert live["CPUPerc"].endswith("%")
    used, _, limit = live["MemUsage"].partition(" / ")
    assert used != "0B" and limit != "0B"
    assert live["PIDs"] == "1"
    assert rows[stopped]["MemUsage"] == "0B / 0B"
    plain = ok(docker(env, "stats", "--no-stream", running)).splitlines()
    assert plain[0].split()[:3] == ["CONTAINER", "ID", "NAME"]
    assert running in plain[1]


def test_stats_stream_sends_a_report_per_second(env: dict[str, str], running: str, berthd: Berthd) -> None:
    conn = UnixHTTPConnection(berthd.socket, timeout=10)
    try:
        conn.request("GET", f"/v1.45/containers/{running}/stats")
        resp = conn.getresponse()
        assert resp.status == 200
        started = time.monotonic()
        first = json.loads(resp.readline())
        second = json.loads(resp.readline())
        assert time.monotonic() - started >= 0.8
    finally:
        conn.close()
    assert first["name"] == "/" + running
    assert second["precpu_stats"]["cpu_usage"]["total_usage"] == first["cpu_stats"]["cpu_usage"]["total_usage"]
    assert second["memory_stats"]["usage"] > 0
    assert second["pids_stats"]["current"] == 1


def test_cp_into_a_read_only_rootfs_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    name = f"files-ro-{uuid.uuid4().hex[:8]}"
    ok(docker(env, "create", "--read-only", "--name", name, "busybox", "true"))
    try:
        src = tmp_path / "f"
        src.write_text("x")
        out = docker(env, "cp", str(src), f"{name}:/tmp/")
        assert out.returncode != 0
        assert "marked read-only" in out.stderr.decode()
    finally:
        docker(env, "rm", "-f", name)


def test_cp_archive_mode_chowns_to_the_container_user(env: dict[str, str], tmp_path: Path) -> None:
    name = f"files-user-{uuid.uuid4().hex[:8]}"
    ok(docker(env, "create", "--user", "guest", "--name", name, "busybox", "true"))
    try:
        src = tmp_path / "owned"
        src.write_text("mine")
        ok(docker(env, "cp", "-a", str(src), f"{name}:/tmp/"))
        out = docker(env, "cp", f"{name}:/tmp/owned", "-")
        ok(out)
        with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
            member = tar.next()
            assert member is not None and (member.uid, member.gid) == (1000, 1000)
    finally:
        docker(env, "rm", "-f", name)
