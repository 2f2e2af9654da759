"""A whole machine: build the guest image, boot it under QEMU (TCG) and use berthd in it through the
SSH tunnel with the real docker CLI. Slow (a few minutes; the image is cached between runs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import docker
from vmhost.image import build, missing_tools
from vmhost.machines import Machine, Machines, pid_alive

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Machines, Machine, Path]]:
    if os.geteuid() != 0:
        pytest.skip("needs root (debootstrap and chroot build the guest image)")
    missing = missing_tools() + ([] if shutil.which("qemu-system-x86_64") else ["qemu-system-x86_64"])
    if missing:
        pytest.skip("needs " + ", ".join(missing) + ": install qemu-system-x86 qemu-utils debootstrap "
                    "(scripts/berth.sh installs them)")
    image = build()  # cached under /var/cache/berth/guest by recipe hash: quick when unchanged
    base = tmp_path_factory.mktemp("machines")
    shared = tmp_path_factory.mktemp("shared")
    (shared / "index.html").write_text("served from the host\n")
    # Stock guest kernels hang under this host's KVM; TCG is slow but sure.
    old_accel = os.environ.get("BERTH_MACHINE_ACCEL")
    os.environ["BERTH_MACHINE_ACCEL"] = "tcg"
    machines = Machines(base)
    created = machines.init("e2e", image.path, cpus=2, memory_mib=1536, disk_gib=4, shares=[str(shared)])
    try:
        yield machines, created, shared
    finally:
        status = machines.status("e2e")
        machines.stop("e2e", timeout=60)
        for pid in (status.agent_pid, status.qemu_pid):
            assert not pid_alive(pid), f"process {pid} outlived `machine stop`"
        machines.remove("e2e", force=True)
        if old_accel is None:
            os.environ.pop("BERTH_MACHINE_ACCEL", None)
        else:
            os.environ["BERTH_MACHINE_ACCEL"] = old_accel


@pytest.fixture(scope="module")
def env(machine: tuple[Machines, Machine, Path], busybox_tar: Path, docker_cli: str) -> dict[str, str]:
    machines, created, _ = machine
    messages: list[str] = []
    started = time.monotonic()
    machines.start("e2e", messages.append, timeout=420)
    print(f"machine ready in {time.monotonic() - started:.1f} s: {messages}")
    env = dict(os.environ, DOCKER_HOST=created.docker_host, DOCKER_CONFIG=str(created.dir / "docker-config"))
    env.pop("DOCKER_CONTEXT", None)
    out = docker(env, "import", str(busybox_tar), "busybox")
    assert out.returncode == 0, out.stderr
    return env


def test_docker_run_through_the_tunnel(env: dict[str, str]) -> None:
    out = docker(env, "run", "--rm", "busybox", "echo", "hi")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "hi\n"
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
