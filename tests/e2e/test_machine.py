"""Whole machines: build the guest images (cached by recipe hash), publish them as a release served from
loopback, create machines from the downloaded, digest-checked archives, boot them under QEMU (TCG) and
use berthd in them through the SSH tunnel with the real docker CLI: the host's x86_64 guest, and the
aarch64 guest Apple silicon runs (emulated here). Slow the first time (image builds); each boot is short."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.api import RawApi
from tests.support.cli import docker
from tests.vmhost.release_server import release_server
from vmhost.arch import ARCHES
from vmhost.image import apt_mirror, build, cache_dir, missing_tools
from vmhost.machine import Machine
from vmhost.machines import Machines
from vmhost.procs import pid_alive
from vmhost.release import pack, write_manifest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

VERSION = "0.0.0-e2e"


def _needs(arch: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (debootstrap and chroot build the guest image)")
    qemu = ARCHES[arch].qemu
    missing = missing_tools(arch) + ([] if shutil.which(qemu) else [qemu])
    if missing:
        pytest.skip("needs " + ", ".join(missing) + " (scripts/berth.sh installs them)")


@contextmanager
def _machine_from_release(arch: str, base: Path, shares: list[str]) -> Iterator[tuple[Machines, Machine]]:
    """A machine made as first run makes it: the release's archive fetched from loopback, checked, unpacked."""
    image = build(guest_arch=arch)  # cached under /var/cache/berth/guest by recipe hash: quick when unchanged
    www = base / "www"
    _, entry = pack(image, www, VERSION)
    pin = base / "guest-image.json"
    write_manifest(pin, VERSION, {arch: entry}, "https://releases.invalid/berth")
    saved = {k: os.environ.get(k) for k in ("BERTH_GUEST_MANIFEST", "BERTH_GUEST_CACHE", "BERTH_MACHINE_ACCEL")}
    os.environ["BERTH_GUEST_MANIFEST"] = str(pin)
    os.environ["BERTH_GUEST_CACHE"] = str(base / "cache")
    # Stock guest kernels hang under this host's KVM; TCG is slow but sure.
    os.environ["BERTH_MACHINE_ACCEL"] = "tcg"
    machines = Machines(base / "machines")
    try:
        with release_server(www) as served:
            served.cut_next = 1  # the first answer stops half-way: the download resumes with a Range request
            created = machines.init("e2e", cpus=2, memory_mib=1536, disk_gib=4, shares=shares, arch=arch,
                                    image_url=served.base)
            assert served.ranges[0] == "" and served.ranges[1].startswith("bytes=")
        (www / entry["file"]).unlink()
        yield machines, created
    finally:
        if (machines.root / "e2e" / "machine.json").exists():
            status = machines.status("e2e")
            machines.stop("e2e", timeout=60)
            for pid in (status.agent_pid, status.qemu_pid):
                assert not pid_alive(pid), f"process {pid} outlived `machine stop`"
            machines.remove("e2e", force=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _start(machines: Machines, created: Machine) -> dict[str, str]:
    messages: list[str] = []
    started = time.monotonic()
    machines.start("e2e", messages.append, timeout=300)
    print(f"machine ready in {time.monotonic() - started:.1f} s: {messages}")
    env = dict(os.environ, DOCKER_HOST=created.docker_host, DOCKER_CONFIG=str(created.dir / "docker-config"))
    env.pop("DOCKER_CONTEXT", None)
    return env


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Machines, Machine, Path]]:
    _needs("x86_64")
    shared = tmp_path_factory.mktemp("shared")
    (shared / "index.html").write_text("served from the host\n")
    with _machine_from_release("x86_64", tmp_path_factory.mktemp("x86_64"), [str(shared)]) as (machines, created):
        yield machines, created, shared


@pytest.fixture(scope="module")
def env(machine: tuple[Machines, Machine, Path], busybox_tar: Path, docker_cli: str) -> dict[str, str]:
    machines, created, _ = machine
    env = _start(machines, created)
    out = docker(env, "import", str(busybox_tar), "busybox")
    assert out.returncode == 0, out.stderr
    return env


def test_docker_run_through_the_tunnel(env: dict[str, str]) -> None:
    out = docker(env, "run", "--rm", "busybox", "uname", "-m")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "x86_64\n"
    version = json.loads(docker(env, "version", "--format", "{{json .Server}}").stdout)
    assert version["Platform"]["Name"].startswith("Berth")


def test_shared_folder_bind_mount_and_published_port(machine: tuple[Machines, Machine, Path],
                                                     env: dict[str, str]) -> None:
    machines, _, shared = machine
    out = docker(env, "run", "--rm", "-v", f"{shared}:/data", "busybox", "cat", "/data/index.html")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "served from the host\n"

    port = 18000 + os.getpid() % 1000
    out = docker(env, "run", "-d", "--name", "web", "-p", f"{port}:80", "-v", f"{shared}:/www",
                 "busybox", "httpd", "-f", "-p", "80", "-h", "/www")
    assert out.returncode == 0, out.stderr
    try:
        body = b""
        for _ in range(100):  # bounded: 20 s for the event, the forward and httpd
            if port in machines.status("e2e").published:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5) as response:
                        body = response.read()
                    break
                except OSError:
                    pass
            time.sleep(0.2)
        assert body == b"served from the host\n"
    finally:
        docker(env, "rm", "-f", "web")
    for _ in range(100):
        if port not in machines.status("e2e").published:
            break
        time.sleep(0.2)
    assert port not in machines.status("e2e").published


def test_ssh_runs_in_the_guest(machine: tuple[Machines, Machine, Path], env: dict[str, str]) -> None:
    machines, _, _ = machine
    out = subprocess.run(machines.ssh_argv("e2e", ["uname", "-r"]), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("amd64")


def _arm64_busybox_tar(dest: Path) -> Path:
    """busybox for arm64 from Debian's busybox-static (unpacked, not run), as an image rootfs tar."""
    root = cache_dir() / "busybox-arm64"
    if not (root / "bin" / "busybox").is_file():
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run(["mmdebstrap", "--variant=extract", "--arch=arm64", "--include=busybox-static",
                        "bookworm", str(root), apt_mirror()], check=True, capture_output=True, timeout=600)
    with tarfile.open(dest, "w") as tar:
        for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(root / "bin" / "busybox", arcname="bin/busybox")
        for applet in ("sh", "uname", "echo", "cat", "true"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "/bin/busybox"
            tar.addfile(link)
        passwd = b"root:x:0:0:root:/root:/bin/sh\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(passwd)
        tar.addfile(info, io.BytesIO(passwd))
    return dest


def test_aarch64_guest_runs_a_container_through_the_tunnel(tmp_path: Path, docker_cli: str,
                                                           busybox_tar: Path) -> None:
    """The Apple silicon guest: downloaded, booted under qemu-system-aarch64 -machine virt (TCG here, hvf on
    a Mac), reached through the tunnel; the real docker CLI runs an arm64 busybox in it, and an amd64 one
    (most images people pull) under the guest's qemu-x86_64-static, which berthd registers after it serves."""
    _needs("aarch64")
    if not shutil.which("mmdebstrap"):
        pytest.skip("needs mmdebstrap for the arm64 busybox")
    busybox = _arm64_busybox_tar(tmp_path / "busybox-arm64.tar")
    with _machine_from_release("aarch64", tmp_path, []) as (machines, created):
        assert created.arch == "aarch64"
        assert machines.argv(created)[0].endswith("qemu-system-aarch64")
        env = _start(machines, created)
        out = docker(env, "import", str(busybox), "busybox")
        assert out.returncode == 0, out.stderr
        out = docker(env, "run", "--rm", "busybox", "uname", "-m", timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout == "aarch64\n"

        out = docker(env, "import", "--platform", "linux/amd64", str(busybox_tar), "busybox-amd64")
        assert out.returncode == 0, out.stderr
        started = time.monotonic()
        out = docker(env, "run", "--rm", "--platform", "linux/amd64", "busybox-amd64", "uname", "-m", timeout=300)
        assert out.returncode == 0, out.stderr
        assert out.stdout == "x86_64\n"
        print(f"amd64 busybox in the TCG aarch64 machine: run --rm uname -m {time.monotonic() - started:.1f} s")
        status, _, info = RawApi(created.engine_socket).request("GET", "/info")  # the CLI drops Berth's keys
        assert status == 200 and "linux/amd64" in json.loads(info)["BerthPlatforms"], info
