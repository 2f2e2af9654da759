"""A WSL machine's whole flow, on Linux, against the stand-in wsl.exe (tests/support/wsl_standin.py): the
guest's root file system, packed and pinned as the release packs it (`berth-wsl-<version>-<arch>.tar.gz`),
fetched and verified by `berth machine init` and imported as a distro, berthd and sshd started in it, the
pinned-key SSH tunnel, the real docker CLI running a container through the `berth` context, then stop (the
distro is terminated) and rm (it is unregistered). What differs from Windows is only wsl.exe itself."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import wsl_standin
from tests.support.cli import docker
from vmhost import cli, dockercontext
from vmhost.image import GuestImage, build, find_image, missing_tools
from vmhost.machines import Machines
from vmhost.procs import pid_alive
from vmhost.release import load_manifest, manifest_name, pack_rootfs, write_manifest
from vmhost.wsl import Wsl, distro_name
from vmhost.wslmachine import export_rootfs

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def guest_image() -> Path:
    """A guest image directory holding rootfs.tar (vmhost.wslmachine.export_rootfs): the cached guest image
    for the host's architecture (the one built from this tree if there is one), built only when none is."""
    if os.geteuid() != 0:
        pytest.skip("needs root (namespaces, chroot and a loop mount of the guest's disk)")
    missing = [tool for tool in ("qemu-img", "nsenter", "unshare") if shutil.which(tool) is None]
    image = find_image()
    if image is None:
        missing += missing_tools()
    if missing:
        pytest.skip("needs " + ", ".join(missing) + " (scripts/berth.sh installs them)")
    image = image or build()
    export_rootfs(image.path)
    return image.path


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Wsl]:
    """wsl.exe's stand-in on BERTH_WSL, with its own state; every distro it ran is ended afterwards."""
    state = tmp_path / "wsl-state"
    exe = wsl_standin.write_shim(tmp_path / "wsl", state)
    monkeypatch.setenv("BERTH_WSL", str(exe))
    monkeypatch.setenv("BERTH_WSL_STANDIN", str(state))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    try:
        yield Wsl(str(exe))
    finally:
        subprocess.run([str(exe), "--shutdown"], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def release_dir(guest_image: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A release location (a directory) holding the guest's WSL root file system as the release packs it, and
    its manifest: what `berth machine init` on Windows fetches when no guest image is there."""
    out = tmp_path_factory.mktemp("release")
    image = GuestImage(guest_image)
    version = str(image.manifest.get("berthd") or "0.1.0")
    _, entry = pack_rootfs(image, guest_image / "rootfs.tar", out, version)
    write_manifest(out / manifest_name(version), version, {}, out.as_uri(), rootfs={image.arch: entry})
    return out


def berth_machine(machines: Machines, *args: str) -> str:
    out = io.StringIO()
    assert cli.run(list(args), out=out, machines=machines) == 0, out.getvalue()
    return out.getvalue()


def test_wsl_machine_from_import_to_unregister(release_dir: Path, standin: Wsl, tmp_path: Path,
                                               busybox_tar: Path, docker_cli: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    machines = Machines(tmp_path / "machines")
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    name = distro_name("e2e")
    (pin,) = release_dir.glob("berth-guest-*.json")
    monkeypatch.setenv("BERTH_GUEST_MANIFEST", str(pin))
    monkeypatch.setenv("BERTH_GUEST_CACHE", str(tmp_path / "cache"))  # no guest image here: the release's

    berth_machine(machines, "init", "e2e", "--backend", "wsl", "--image-url", release_dir.as_uri())
    machine = machines.get("e2e")
    (entry,) = load_manifest(pin)["rootfs"].values()
    # Fetched, verified and kept as packed: wsl --import reads the gzip'd tar.
    assert machine.backend == "wsl" and Path(machine.image).name == entry["file"]
    assert Path(machine.image).parent.parent == tmp_path / "cache"
    distro = standin.get(name)
    assert distro is not None and (distro.state, distro.version) == ("Stopped", 2)

    try:
        started = berth_machine(machines, "start", "e2e")
        assert f"docker context berth -> {machine.docker_host}" in started
        assert standin.get(name).state == "Running"  # type: ignore[union-attr]
        assert dockercontext.endpoint() == machine.docker_host

        # The user's own docker CLI, through the context Berth keeps, to berthd in the distro.
        imported = docker(env, "--context", "berth", "import", str(busybox_tar), "busybox:latest")
        assert imported.returncode == 0, imported.stderr
        run = docker(env, "--context", "berth", "run", "--rm", "busybox", "sh", "-c", "echo hello from $(hostname)")
        assert run.returncode == 0, run.stderr
        assert run.stdout.startswith("hello from ")
        version = docker(env, "--context", "berth", "version", "--format", "{{.Server.Os}}/{{.Server.Platform.Name}}")
        assert version.returncode == 0 and "Berth" in version.stdout, version.stderr
        inspected = machines.inspect("e2e")
        assert inspected["state"] == "running" and inspected["distro"]["state"] == "Running"
        agent = inspected["agent_pid"]

        berth_machine(machines, "stop", "e2e")
        assert not pid_alive(agent)
        assert standin.get(name).state == "Stopped"  # type: ignore[union-attr]
        assert machines.status("e2e").state == "stopped"
        # The distro's berthd went with it: the tunnel's socket answers no more.
        gone = docker(env, "--context", "berth", "version")
        assert gone.returncode != 0
    finally:
        if machines.status("e2e").state != "stopped":
            machines.stop("e2e")

    berth_machine(machines, "rm", "e2e")
    assert standin.get(name) is None
    assert not (tmp_path / "machines" / "e2e").exists()
    assert dockercontext.endpoint() is None
