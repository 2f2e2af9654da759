from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vmhost.machine import MachineConfig
from vmhost.qemu import choose_accel, kvm_device_usable, qemu_argv

pytestmark = pytest.mark.unit


def machine(tmp_path: Path, **overrides: Any) -> MachineConfig:
    fields: dict[str, Any] = {
        "name": "default",
        "image": tmp_path / "disk.qcow2",
        "ssh_port": 50022,
        "data_dir": tmp_path / "machines" / "default",
        "cpus": 4,
        "memory_mib": 3072,
    }
    fields.update(overrides)
    return MachineConfig(**fields)


def option(argv: list[str], flag: str) -> str:
    values = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == flag]
    assert len(values) == 1, (flag, values)
    return values[0]


def test_argv_boots_headless_with_virtio_disk_and_loopback_ssh(tmp_path: Path) -> None:
    config = machine(tmp_path)
    argv = qemu_argv(config, "kvm")
    assert argv[0] == "qemu-system-x86_64"
    assert option(argv, "-name") == "default"
    assert option(argv, "-accel") == "kvm"
    assert option(argv, "-cpu") == "host"
    assert option(argv, "-smp") == "4"
    assert option(argv, "-m") == "3072M"
    drive = option(argv, "-drive").split(",")
    assert drive[0] == f"file={tmp_path}/disk.qcow2"
    assert {"if=virtio", "format=qcow2"} <= set(drive)
    assert option(argv, "-netdev") == "user,id=net0,hostfwd=tcp:127.0.0.1:50022-:22"
    devices = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-device"]
    assert devices == ["virtio-net-pci,netdev=net0,romfile=", "virtio-balloon-pci,free-page-reporting=on"]
    assert "-nographic" in argv
    assert option(argv, "-serial") == f"file:{config.data_dir}/serial.log"
    assert option(argv, "-monitor") == "none"
    assert option(argv, "-pidfile") == str(config.data_dir / "qemu.pid")


def test_ssh_is_never_forwarded_beyond_loopback(tmp_path: Path) -> None:
    for accel in ("kvm", "hvf", "whpx", "tcg"):
        netdev = option(qemu_argv(machine(tmp_path), accel), "-netdev")
        forwards = [part for part in netdev.split(",") if part.startswith("hostfwd=")]
        assert forwards == ["hostfwd=tcp:127.0.0.1:50022-:22"]


def test_tcg_emulates_an_x86_64_v2_cpu_without_avx(tmp_path: Path) -> None:
    argv = qemu_argv(machine(tmp_path), "tcg")
    assert option(argv, "-accel") == "tcg"
    assert option(argv, "-cpu") == "Nehalem"


def test_whpx_uses_userspace_irqchip(tmp_path: Path) -> None:
    assert option(qemu_argv(machine(tmp_path), "whpx"), "-accel") == "whpx,kernel-irqchip=off"


def test_raw_image_and_commas_in_paths(tmp_path: Path) -> None:
    argv = qemu_argv(machine(tmp_path, image=tmp_path / "a,b.img"), "tcg")
    drive = option(argv, "-drive")
    assert drive.startswith(f"file={tmp_path}/a,,b.img,")
    assert "format=raw" in drive


def test_unknown_accelerator_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown accelerator 'xen'"):
        qemu_argv(machine(tmp_path), "xen")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "../evil"}, "machine name"),
        ({"name": ""}, "machine name"),
        ({"ssh_port": 0}, "not a TCP port"),
        ({"ssh_port": 70000}, "not a TCP port"),
        ({"cpus": 0}, "at least one CPU"),
        ({"memory_mib": 128}, "at least 256 MiB"),
        ({"disk_gib": 0}, "at least 1 GiB"),
    ],
)
def test_bad_configs_are_refused(tmp_path: Path, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        machine(tmp_path, **overrides)


@pytest.mark.parametrize(
    ("system", "kvm", "expected"),
    [
        ("Darwin", False, "hvf"),
        ("Windows", False, "whpx"),
        ("Linux", True, "kvm"),
        ("Linux", False, "tcg"),
        ("FreeBSD", True, "tcg"),
    ],
)
def test_choose_accel(system: str, kvm: bool, expected: str) -> None:
    assert choose_accel(system, kvm_usable=kvm) == expected


def test_choose_accel_probes_kvm_on_linux_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    import vmhost.qemu as qemu_module

    monkeypatch.setattr(qemu_module, "kvm_device_usable", lambda: False)
    assert choose_accel("Linux") == "tcg"
    monkeypatch.setattr(qemu_module, "kvm_device_usable", lambda: True)
    assert choose_accel("Linux") == "kvm"


def test_kvm_device_usable(tmp_path: Path) -> None:
    assert kvm_device_usable(tmp_path / "no-kvm") is False
    device = tmp_path / "kvm"
    device.write_text("")
    device.chmod(0o600)
    assert kvm_device_usable(device) is True


def test_disk_gives_freed_blocks_back_and_memory_is_reported_free(tmp_path: Path) -> None:
    argv = qemu_argv(machine(tmp_path), "tcg")
    assert {"discard=unmap", "detect-zeroes=unmap"} <= set(option(argv, "-drive").split(","))
    assert "virtio-balloon-pci,free-page-reporting=on" in argv


def test_macos_apple_silicon_argv(tmp_path: Path) -> None:
    """What `berth machine start` runs on an arm64 Mac: the aarch64 guest under hvf, the host's CPU."""
    argv = qemu_argv(machine(tmp_path, arch="aarch64", memory_mib=4096), "hvf")
    assert argv[0] == "qemu-system-aarch64"
    assert option(argv, "-machine") == "virt,highmem=on"
    assert option(argv, "-accel") == "hvf"
    assert option(argv, "-cpu") == "host"
    assert option(argv, "-m") == "4096M"
    assert option(argv, "-netdev") == "user,id=net0,hostfwd=tcp:127.0.0.1:50022-:22"
    assert "virtio-net-pci,netdev=net0,romfile=" in argv


def test_intel_mac_argv(tmp_path: Path) -> None:
    argv = qemu_argv(machine(tmp_path), "hvf")
    assert argv[0] == "qemu-system-x86_64"
    assert (option(argv, "-machine"), option(argv, "-accel"), option(argv, "-cpu")) == ("q35", "hvf", "host")


def test_aarch64_under_tcg_emulates_a_cpu_without_pointer_auth(tmp_path: Path) -> None:
    argv = qemu_argv(machine(tmp_path, arch="aarch64"), "tcg")
    assert (option(argv, "-machine"), option(argv, "-cpu")) == ("virt", "cortex-a72")


def test_unknown_guest_arch_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="guest architecture 'riscv64'"):
        machine(tmp_path, arch="riscv64")
