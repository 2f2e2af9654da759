"""x86 <-> ARM with the real docker CLI: an arm64 busybox (Debian's busybox-static:arm64) runs on this
amd64 host under QEMU user mode, is pulled by platform from a two-platform index on a loopback
docker-registry, and is built for with `docker build --platform`.

Running arm64 needs a binfmt_misc handler for aarch64: berthd registers the ones the host lacks in the
background once it serves (engine.daemon.register_emulators), or the host has its own (Debian's
qemu-user-static under systemd registers them).
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.emulation import HANDLER_PREFIX, Binfmt
from engine.images.platform import host_platform
from tests.support.busybox import busybox_rootfs_tar, foreign_busybox
from tests.support.cli import docker_bytes as docker
from tests.support.cli import succeeded as ok
from tests.support.daemon import Berthd
from tests.support.registry import Registry, running_registry

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(host_platform().architecture != "amd64", reason="written for an amd64 host"),
    pytest.mark.skipif("arm64" not in Binfmt().architectures(),
                       reason="no binfmt_misc handler for aarch64 (apt-get install qemu-user-static)"),
]

ARM64 = "e2e/busybox-arm64:1"
LIST_TYPE = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture(scope="module")
def arm64_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = foreign_busybox("arm64")
    if binary is None:
        pytest.skip("apt could not fetch busybox-static:arm64")
    return busybox_rootfs_tar(tmp_path_factory.mktemp("arm64") / "rootfs.tar", str(binary))


@pytest.fixture(scope="module")
def armhf_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = foreign_busybox("arm")
    if binary is None:
        pytest.skip("apt could not fetch busybox-static:armhf")
    return busybox_rootfs_tar(tmp_path_factory.mktemp("armhf") / "rootfs.tar", str(binary))


@pytest.fixture
def arm64_image(arm64_tar: Path, docker_env: dict[str, str], docker_cli: str, berthd: Berthd) -> str:
    ok(docker(docker_env, "import", "--platform", "linux/arm64", str(arm64_tar), ARM64))
    return ARM64


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running_registry(tmp_path_factory.mktemp("platforms-registry")) as reg:
        yield reg


def _text(env: dict[str, str], *args: str) -> str:
    return ok(docker(env, *args))


def test_berthd_registers_missing_handlers_after_it_serves(tmp_path: Path) -> None:
    """Takes away berthd's riscv64 handler (handlers outlive berthd; the host's own are never touched),
    starts a berthd and sees it registered again, with the fix-binary flag, and listed in /info."""
    binfmt = Binfmt()
    assert binfmt.emulator("riscv64") is not None, "qemu-user-static is installed (the README's commands)"
    had = binfmt.handled("riscv64")
    assert had is None or had.name.startswith(HANDLER_PREFIX), "the host registers riscv64 itself"
    if had is not None:
        binfmt.unregister(had.name)
    daemon = Berthd(tmp_path / "berthd")
    try:
        daemon.start()
        deadline = time.monotonic() + 10
        while "binfmt_misc: " not in daemon.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        handler = binfmt.handled("riscv64")
        assert handler is not None and handler.name == HANDLER_PREFIX + "riscv64" and "F" in handler.flags
        status, _, body = daemon.api.request("GET", "/info")
        assert status == 200 and "linux/riscv64" in json.loads(body)["BerthPlatforms"]
        log = daemon.log.read_text()
        served = log.index("serving the Docker Engine API")
        registered = log.index("binfmt_misc: ")
        assert served < registered, "registered after serving, not on the start's path"
        print("\n" + log[registered:log.index("\n", registered)])
    finally:
        daemon.cleanup()


def test_image_reports_variant(arm64_tar: Path, docker_env: dict[str, str], docker_cli: str, berthd: Berthd) -> None:
    name = "e2e/armv7:1"
    ok(docker(docker_env, "import", "--platform", "linux/arm/v7", str(arm64_tar), name))
    try:
        assert _text(docker_env, "image", "inspect", "-f", "{{.Os}}/{{.Architecture}}/{{.Variant}}", name) \
            == "linux/arm/v7\n"
    finally:
        ok(docker(docker_env, "rmi", name))


def test_arm_v7_runs_and_keeps_argv0(armhf_tar: Path, docker_env: dict[str, str], docker_cli: str,
                                     berthd: Berthd) -> None:
    """32-bit ARM (a Raspberry Pi's images) under berthd's handler, which keeps argv[0] (QEMU's P mode):
    busybox picks its applet by it, so `exec -a echo busybox` must run echo, as it does natively."""
    name = "e2e/armv7-busybox:1"
    ok(docker(docker_env, "import", "--platform", "linux/arm/v7", str(armhf_tar), name))
    try:
        out = _text(docker_env, "run", "--rm", "--platform", "linux/arm/v7", name,
                    "sh", "-c", "uname -m; exec -a echo /bin/busybox argv0 kept")
        assert out == "armv7l\nargv0 kept\n"
    finally:
        ok(docker(docker_env, "rmi", name))


def test_run_arm64_image_under_emulation(arm64_image: str, docker_env: dict[str, str]) -> None:
    assert _text(docker_env, "image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", arm64_image) == "linux/arm64\n"
    assert _text(docker_env, "run", "--rm", "--platform", "linux/arm64", arm64_image, "uname", "-m") == "aarch64\n"
    # the binary really is arm64: the host's kernel hands it to QEMU
    assert _text(docker_env, "run", "--rm", arm64_image, "sh", "-c", "uname -m; echo $((6*7))") == "aarch64\n42\n"


def _manifest(registry: Registry, repo: str, tag: str) -> tuple[str, int]:
    req = urllib.request.Request(f"{registry.url}/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_TYPE})
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = resp.read()
    return "sha256:" + hashlib.sha256(body).hexdigest(), len(body)


def _push_index(registry: Registry, repo: str, tag: str, platforms: dict[str, str]) -> None:
    """PUT a manifest list naming the already pushed `platforms` (architecture -> tag)."""
    manifests = []
    for arch, source in platforms.items():
        digest, size = _manifest(registry, repo, source)
        manifests.append({"mediaType": MANIFEST_TYPE, "digest": digest, "size": size,
                          "platform": {"architecture": arch, "os": "linux"}})
    body = json.dumps({"schemaVersion": 2, "mediaType": LIST_TYPE, "manifests": manifests}).encode()
    req = urllib.request.Request(f"{registry.url}/v2/{repo}/manifests/{tag}", data=body, method="PUT",
                                 headers={"Content-Type": LIST_TYPE})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 201


@pytest.fixture
def two_platform_index(registry: Registry, arm64_image: str, busybox_image: str, docker_env: dict[str, str]) -> str:
    repo = "e2e/multi"
    for arch, image in (("amd64", busybox_image), ("arm64", arm64_image)):
        name = f"{registry.host}/{repo}:{arch}"
        ok(docker(docker_env, "tag", image, name))
        ok(docker(docker_env, "push", name))
        ok(docker(docker_env, "rmi", name))
    _push_index(registry, repo, "1", {"amd64": "amd64", "arm64": "arm64"})
    return f"{registry.host}/{repo}:1"


def test_pull_two_platform_index_by_platform(two_platform_index: str, docker_env: dict[str, str]) -> None:
    name = two_platform_index
    repo, _, _ = name.rpartition(":")
    out = ok(docker(docker_env, "pull", "--platform", "linux/arm64", name))
    index_digest = next(line.split()[1] for line in out.splitlines() if line.startswith("Digest: "))
    assert _text(docker_env, "image", "inspect", "-f", "{{.Architecture}}", name) == "arm64\n"
    assert _text(docker_env, "run", "--rm", name, "uname", "-m") == "aarch64\n"
    arm64_id = _text(docker_env, "image", "inspect", "-f", "{{.Id}}", name).strip()
    # One image per name, as dockerd 20.10's store here (not the containerd store's index): the second
    # platform takes the name, and the pull says so.
    out = ok(docker(docker_env, "pull", "--platform", "linux/amd64", name))
    assert f"{name} now names its linux/amd64 image in place of the linux/arm64 one" in out, out
    assert _text(docker_env, "image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", name) == "linux/amd64\n"
    assert _text(docker_env, "run", "--rm", name, "uname", "-m") == "x86_64\n"
    # As dockerd: the index's digest keeps naming the first platform pulled, which stays listed under the
    # repository (tag <none>) rather than dangling
    by_index = f"{repo}@{index_digest}"
    assert _text(docker_env, "image", "inspect", "-f", "{{.Id}} {{.Architecture}}", by_index) == f"{arm64_id} arm64\n"
    listed = _text(docker_env, "image", "ls", "--no-trunc", "--format", "{{.Repository}} {{.Tag}} {{.ID}}", repo)
    assert f"{repo} <none> {arm64_id}" in listed.splitlines(), listed
    ok(docker(docker_env, "rmi", name, by_index))


def test_run_platform_other_than_local_pulls_it(two_platform_index: str, docker_env: dict[str, str]) -> None:
    name = two_platform_index
    ok(docker(docker_env, "pull", "--platform", "linux/amd64", name))
    # dockerd answers create with 404 "does not match the specified platform"; the CLI then pulls it
    assert _text(docker_env, "run", "--rm", "--platform", "linux/arm64", name, "uname", "-m") == "aarch64\n"
    assert _text(docker_env, "image", "inspect", "-f", "{{.Architecture}}", name) == "arm64\n"
    # and back: the name now holds arm64, so --platform linux/amd64 pulls amd64 again
    assert _text(docker_env, "run", "--rm", "--platform", "linux/amd64", name, "uname", "-m") == "x86_64\n"
    ok(docker(docker_env, "rmi", name))


def test_run_an_architecture_nothing_emulates_is_refused_in_words(docker_env: dict[str, str], arm64_tar: Path,
                                                                  docker_cli: str, berthd: Berthd) -> None:
    # QEMU's user mode has no WebAssembly: the refusal names the platforms, not "exec format error"
    name = "e2e/wasm:1"
    ok(docker(docker_env, "import", "--platform", "linux/wasm", str(arm64_tar), name))
    try:
        result = docker(docker_env, "run", "--rm", name, "true")
        err = result.stderr.decode()
        assert result.returncode != 0 and "exec format error" not in err, err
        assert "image platform linux/wasm cannot run on this linux/amd64 host" in err, err
        assert "no emulator for that architecture exists" in err, err
    finally:
        ok(docker(docker_env, "rmi", name))


def test_build_for_arm64(arm64_image: str, busybox_image: str, docker_env: dict[str, str], tmp_path: Path) -> None:
    # The arm64 base under the name the Dockerfile uses; the build stage is the host's busybox.
    ok(docker(docker_env, "tag", arm64_image, "e2e/base:arm64"))
    (tmp_path / "Dockerfile").write_text(
        f"FROM --platform=$BUILDPLATFORM {busybox_image} AS tools\n"
        "ARG TARGETARCH\nARG BUILDARCH\n"
        "RUN echo \"$BUILDARCH->$TARGETARCH $(uname -m)\" > /cross\n"
        "FROM e2e/base:arm64\n"
        "ARG TARGETPLATFORM\nARG TARGETOS\nARG TARGETVARIANT\n"
        "COPY --from=tools /cross /cross\n"
        "RUN uname -m > /arch && echo \"$TARGETPLATFORM $TARGETOS [$TARGETVARIANT]\" > /target\n")
    env = dict(docker_env, DOCKER_BUILDKIT="0")
    ok(docker(env, "build", "--platform", "linux/arm64", "-t", "e2e/built:arm64", str(tmp_path)))
    assert _text(docker_env, "image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", "e2e/built:arm64") \
        == "linux/arm64\n"
    out = _text(docker_env, "run", "--rm", "e2e/built:arm64", "cat", "/arch", "/target", "/cross")
    assert out == "aarch64\nlinux/arm64 linux []\namd64->arm64 x86_64\n"
    ok(docker(docker_env, "rmi", "e2e/built:arm64", "e2e/base:arm64"))


def test_benchmark_run_true_native_vs_emulated(arm64_image: str, busybox_image: str,
                                               docker_env: dict[str, str]) -> None:
    """Not a gate: measures what emulation costs a short container, for the docs (run with -s)."""
    def median(image: str) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            ok(docker(docker_env, "run", "--rm", "--network", "none", image, "true"))
            times.append(time.perf_counter() - start)
        return sorted(times)[2]

    median(busybox_image)  # warm
    native, emulated = median(busybox_image), median(arm64_image)
    print(f"\nrun --rm true: native {native * 1000:.0f} ms, arm64 under QEMU {emulated * 1000:.0f} ms")
    assert emulated < native + 5
