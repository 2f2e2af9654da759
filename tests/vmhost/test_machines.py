"""Machines kept on disk, their seed and QEMU command line, and the `berth machine` verbs (no VM booted)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from vmhost import cli
from vmhost.keys import fingerprint, public_key_from_line
from vmhost.machine import Machine, MachineError, parse_port
from vmhost.machines import Machines
from vmhost.qemu import KERNEL_CMDLINE, find_qemu, qemu_argv, resolve_accel
from vmhost.store import machines_dir

pytestmark = pytest.mark.unit


@pytest.fixture
def image(tmp_path: Path) -> Path:
    if not shutil.which("qemu-img"):
        pytest.skip("needs qemu-img (qemu-utils)")
    path = tmp_path / "image"
    path.mkdir()
    (path / "vmlinuz").write_bytes(b"kernel")
    (path / "initrd.img").write_bytes(b"initrd")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path / "rootfs.qcow2"), "1G"], check=True)
    (path / "manifest.json").write_text("{}")
    return path


@pytest.fixture
def fake_qemu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in qemu-system-x86_64 next to the real qemu-img, so no test depends on QEMU itself."""
    qemu = tmp_path / "bin" / "qemu-system-x86_64"
    qemu.parent.mkdir()
    qemu.write_text("#!/bin/sh\nexit 0\n")
    qemu.chmod(0o755)
    real = shutil.which("qemu-img")
    if real:
        (qemu.parent / "qemu-img").symlink_to(real)
    monkeypatch.setenv("BERTH_QEMU", str(qemu))
    monkeypatch.delenv("BERTH_MACHINE_ACCEL", raising=False)
    return qemu


@pytest.fixture
def machines(tmp_path: Path) -> Machines:
    return Machines(tmp_path / "machines")


def test_machines_dir_follows_xdg_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BERTH_MACHINES_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert machines_dir() == tmp_path / "xdg" / "berth" / "machines"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert machines_dir() == tmp_path / "home" / ".config" / "berth" / "machines"
    monkeypatch.setenv("BERTH_MACHINES_DIR", str(tmp_path / "mine"))
    assert machines_dir() == tmp_path / "mine"


def test_init_makes_keys_disk_and_seed(machines: Machines, image: Path, fake_qemu: Path, tmp_path: Path) -> None:
    shared = tmp_path / "home"
    shared.mkdir()
    machine = machines.init("dev", image, cpus=3, memory_mib=1024, disk_gib=8, ports=["8080:80"],
                            shares=[str(shared)])
    assert [m.name for m in machines.all()] == ["dev"]
    again = machines.get("dev")
    assert again == machine and again.cpus == 3 and again.ports == ["8080:80"]
    assert (machine.client_key.stat().st_mode & 0o777) == 0o600
    assert (machine.host_key_file.stat().st_mode & 0o777) == 0o600
    assert public_key_from_line(machine.host_key_line).get_name() == "ssh-ed25519"
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(machine.dir / "disk.qcow2")],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["virtual-size"] == 8 * 2**30
    assert info["backing-filename"] == str(image / "rootfs.qcow2")

    seed = (machine.dir / "seed.img").read_bytes()
    assert len(seed) % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(seed)) as tar:
        names = {m.name: m for m in tar.getmembers()}
        read = {name: tar.extractfile(m).read().decode() for name, m in names.items()}  # type: ignore[union-attr]
    assert names["ssh_host_ed25519_key"].mode == 0o600
    assert read["ssh_host_ed25519_key.pub"].strip() == machine.host_key_line
    assert read["authorized_keys"] == machine.client_key.with_name("id_ed25519.pub").read_text()
    assert read["shares"] == f"share0\t{shared}\n"
    assert read["hostname"] == "berth-dev\n"


def test_second_init_and_unknown_machine_are_refused(machines: Machines, image: Path, fake_qemu: Path) -> None:
    machines.init("dev", image, shares=[])
    with pytest.raises(MachineError, match="already exists"):
        machines.init("dev", image, shares=[])
    with pytest.raises(MachineError, match="no such machine: nope"):
        machines.get("nope")
    with pytest.raises(MachineError, match="no such machine"):
        machines.get("../etc")


def test_argv_boots_kernel_with_seed_and_shares(machines: Machines, image: Path, fake_qemu: Path,
                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    machine = machines.init("dev", image, shares=[str(tmp_path)])
    monkeypatch.setenv("BERTH_MACHINE_ACCEL", "tcg")
    argv = machines.argv(machine)
    assert argv[0] == str(fake_qemu)
    assert argv[argv.index("-accel") + 1] == "tcg"
    assert argv[argv.index("-kernel") + 1] == str(image / "vmlinuz")
    assert argv[argv.index("-append") + 1] == KERNEL_CMDLINE
    assert f"file={machine.dir}/seed.img,if=none,id=seed,format=raw,readonly=on" in argv
    assert "virtio-blk-pci,drive=seed,serial=berth-seed" in argv
    assert f"local,path={tmp_path},mount_tag=share0,security_model=none,id=share0" in argv
    assert "virtio-rng-pci" in argv


def test_qemu_argv_without_boot_is_unchanged(tmp_path: Path) -> None:
    machine = Machine("m", "/img", 50022, dir=tmp_path)
    argv = qemu_argv(machine.config(), "tcg")
    assert "-kernel" not in argv and "-virtfs" not in argv


def test_accel_override_order(machines: Machines, image: Path, fake_qemu: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    machine = machines.init("dev", image, shares=[], accel="tcg")
    assert resolve_accel(machine) == "tcg"
    monkeypatch.setenv("BERTH_MACHINE_ACCEL", "kvm")
    assert resolve_accel(machine) == "kvm"
    monkeypatch.setenv("BERTH_MACHINE_ACCEL", "xen")
    with pytest.raises(MachineError, match="accelerator 'xen'"):
        resolve_accel(machine)


def test_missing_qemu_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BERTH_QEMU", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MachineError, match=r"qemu-system-x86_64 not found on PATH: .*install"):
        find_qemu()
    monkeypatch.setenv("BERTH_QEMU", str(tmp_path / "nope"))
    with pytest.raises(MachineError, match="QEMU not found at"):
        find_qemu()


@pytest.mark.parametrize(("spec", "expected"), [("8080:80", (8080, 80)), ("5432", (5432, 5432))])
def test_parse_port(spec: str, expected: tuple[int, int]) -> None:
    assert parse_port(spec) == expected


@pytest.mark.parametrize("spec", ["", "a:b", "0:80", "1:2:3", "70000"])
def test_bad_ports_are_refused(spec: str) -> None:
    with pytest.raises(MachineError, match="HOST:GUEST"):
        parse_port(spec)


def test_update_only_grows_the_disk(machines: Machines, image: Path, fake_qemu: Path) -> None:
    machines.init("dev", image, shares=[], disk_gib=4)
    with pytest.raises(MachineError, match="only grow"):
        machines.update("dev", disk_gib=2)
    machine = machines.update("dev", disk_gib=6, cpus=4, ports=["9000"])
    assert (machine.disk_gib, machine.cpus, machine.ports) == (6, 4, ["9000"])
    assert machines.get("dev").disk_gib == 6


def test_status_of_a_stopped_machine(machines: Machines, image: Path, fake_qemu: Path) -> None:
    machines.init("dev", image, shares=[])
    status = machines.status("dev")
    assert status.state == "stopped" and status.agent_pid is None
    data = machines.inspect("dev")
    assert data["state"] == "stopped"
    assert data["docker_host"] == f"unix://{machines.root}/dev/berth.sock"
    assert data["boot_log"].endswith("serial.log")


def test_long_config_paths_put_the_socket_somewhere_short(tmp_path: Path) -> None:
    machine = Machine("m", "/img", 50022, dir=tmp_path / ("x" * 120))
    assert len(str(machine.engine_socket)) < 100


def test_ssh_argv_pins_the_host_key(machines: Machines, image: Path, fake_qemu: Path) -> None:
    machine = machines.init("dev", image, shares=[])
    argv = machines.ssh_argv("dev", ["uname"])
    assert "StrictHostKeyChecking=yes" in argv
    known = (machine.dir / "known_hosts").read_text()
    assert known == f"[127.0.0.1]:{machine.ssh_port} {machine.host_key_line}\n"
    assert fingerprint(machine.host_key_line).startswith("SHA256:")


def test_cli_init_ls_inspect_set_rm(machines: Machines, image: Path, fake_qemu: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(["init", "dev", "--image", str(image), "--no-share", "--cpus", "1"], machines=machines) == 0
    assert cli.run(["ls"], machines=machines) == 0
    out = capsys.readouterr().out
    assert "dev" in out and "stopped" in out
    assert cli.run(["inspect", "dev"], machines=machines) == 0
    assert json.loads(capsys.readouterr().out)["cpus"] == 1
    assert cli.run(["set", "dev", "--memory", "1024"], machines=machines) == 0
    assert machines.get("dev").memory_mib == 1024
    assert cli.run(["ls", "--format", "json"], machines=machines) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])[0]["memory_mib"] == 1024
    assert cli.run(["stop", "dev"], machines=machines) == 0
    assert cli.run(["rm", "dev"], machines=machines) == 0
    assert machines.all() == []
    assert cli.run(["inspect", "dev"], machines=machines) == 1
    assert "no such machine: dev" in capsys.readouterr().err


def test_cli_without_image_explains_how_to_build(machines: Machines, fake_qemu: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BERTH_GUEST_CACHE", str(tmp_path / "empty-cache"))
    assert cli.run(["init"], machines=machines) == 1
    assert "python -m vmhost.image build" in capsys.readouterr().err
    assert not os.path.exists(machines.root / "default")


def test_inspect_shows_the_disks_real_size(machines: Machines, image: Path, fake_qemu: Path) -> None:
    machine = machines.init("dev", image, shares=[], disk_gib=8)
    data = machines.inspect("dev")
    assert data["disk_bytes"] == (machine.dir / "disk.qcow2").stat().st_blocks * 512
    assert 0 < data["disk_bytes"] < 10 * 2**20  # copy-on-write over the image: small until written
    assert data["disk_virtual_bytes"] == 8 * 2**30


def test_reclaim_needs_a_running_machine(machines: Machines, image: Path, fake_qemu: Path) -> None:
    machines.init("dev", image, shares=[])
    with pytest.raises(MachineError, match="not running"):
        machines.reclaim("dev")
    assert cli.run(["reclaim", "dev"], io.StringIO(), machines) == 1


def test_resident_bytes_of_a_process() -> None:
    from vmhost.usage import resident_bytes

    own = resident_bytes(os.getpid())
    assert own is not None and own > 1_000_000
    assert resident_bytes(None) is None
