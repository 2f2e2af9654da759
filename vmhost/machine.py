"""A Berth machine: the QEMU VM that runs berthd on hosts that are not Linux.

This module knows what a machine is made of and how QEMU is asked to run it; starting,
stopping and watching the process live elsewhere.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

from vmhost.arch import ARCHES

QEMU = "qemu-system-x86_64"
KVM_DEVICE = Path("/dev/kvm")

# Machine names become file and directory names.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_ACCELERATORS = ("kvm", "hvf", "whpx", "tcg")


@dataclass
class MachineConfig:
    name: str
    image: Path  # the machine's boot disk (qcow2, or raw for any other suffix)
    ssh_port: int  # host port on 127.0.0.1 forwarded to the guest's sshd
    data_dir: Path  # logs, pid file and sockets of this machine
    cpus: int = 2
    memory_mib: int = 2048
    disk_gib: int = 20
    arch: str = "x86_64"  # the guest's: always the host's own in a release, so the hypervisor can run it

    def __post_init__(self) -> None:
        if self.arch not in ARCHES:
            raise ValueError(f"guest architecture {self.arch!r}: use one of {', '.join(ARCHES)}")
        if not _NAME.match(self.name):
            raise ValueError(f"machine name {self.name!r}: use up to 63 letters, digits, '_', '.' or '-'")
        if not 1 <= self.ssh_port <= 65535:
            raise ValueError(f"ssh port {self.ssh_port} is not a TCP port (1-65535)")
        if self.cpus < 1:
            raise ValueError("a machine needs at least one CPU")
        if self.memory_mib < 256:
            raise ValueError("a machine needs at least 256 MiB of memory")
        if self.disk_gib < 1:
            raise ValueError("a machine needs a disk of at least 1 GiB")

    @property
    def serial_log(self) -> Path:
        return self.data_dir / "serial.log"

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "qemu.pid"


def kvm_device_usable(device: Path = KVM_DEVICE) -> bool:
    """Whether this user may open /dev/kvm (it exists on hosts where we may not use it)."""
    return device.exists() and os.access(device, os.R_OK | os.W_OK)


def choose_accel(system: str | None = None, kvm_usable: bool | None = None) -> str:
    """The hypervisor QEMU should use: the platform's own, else TCG (emulation, slow but sure).

    `system` is a platform.system() name; `kvm_usable` defaults to probing /dev/kvm.
    """
    system = system if system is not None else platform.system()
    if system == "Darwin":
        return "hvf"
    if system == "Windows":
        return "whpx"
    if system == "Linux":
        usable = kvm_usable if kvm_usable is not None else kvm_device_usable()
        return "kvm" if usable else "tcg"
    return "tcg"


@dataclass(frozen=True)
class Boot:
    """What a Berth guest image needs beyond a disk: a direct kernel boot, its seed and shared folders."""

    kernel: Path
    initrd: Path
    cmdline: str
    seed: Path | None = None  # raw disk holding the seed archive; the guest finds it by its serial
    shares: tuple[tuple[str, Path], ...] = ()  # (9p mount tag, host directory)


SEED_SERIAL = "berth-seed"


def _board(arch: str, accel: str) -> tuple[str, str]:
    """QEMU's -machine and -cpu for a guest architecture under an accelerator."""
    if arch == "aarch64":
        if accel == "tcg":
            # A Cortex-A72 has no pointer authentication, which "max" has and TCG emulates slowly.
            return "virt", "cortex-a72"
        # hvf on Apple silicon: highmem puts RAM and PCIe windows above 4 GiB, as a machine with more than
        # 3 GiB needs (QEMU fits the layout to the host's IPA size).
        return "virt,highmem=on", "host"
    # Hardware acceleration passes the host CPU through. Under TCG, Nehalem: x86-64-v2 (what RHEL 9 based
    # images require) without AVX, whose emulation makes glibc's string functions slower than SSE's.
    return "q35", "Nehalem" if accel == "tcg" else "host"


def qemu_argv(config: MachineConfig, accel: str, boot: Boot | None = None, qemu: str | None = None) -> list[str]:
    """The qemu-system-<arch> command line that boots `config` headless."""
    if accel not in _ACCELERATORS:
        raise ValueError(f"unknown accelerator {accel!r}: use one of {', '.join(_ACCELERATORS)}")
    disk_format = "qcow2" if config.image.suffix == ".qcow2" else "raw"
    board, cpu = _board(config.arch, accel)
    # QEMU's WHPX irqchip is unreliable on many Windows builds; the userspace one works.
    accel_option = "whpx,kernel-irqchip=off" if accel == "whpx" else accel
    argv = [
        qemu or ARCHES[config.arch].qemu,
        "-name",
        config.name,
        "-machine",
        board,
        "-accel",
        accel_option,
        "-cpu",
        cpu,
        "-smp",
        str(config.cpus),
        "-m",
        f"{config.memory_mib}M",
        "-drive",
        # discard=unmap: blocks the guest frees (fstrim, ext4's discard) are punched out of the disk file,
        # so removing images gives the host its disk back.
        f"file={_qemu_path(config.image)},if=virtio,format={disk_format},cache=writeback,discard=unmap,"
        "detect-zeroes=unmap",
        # User-mode networking: no host privileges needed. Only loopback can reach the guest's sshd.
        "-netdev",
        f"user,id=net0,hostfwd=tcp:127.0.0.1:{config.ssh_port}-:22",
        "-device",
        # romfile=: no iPXE option ROM for SeaBIOS to run; the kernel is booted directly.
        "virtio-net-pci,netdev=net0,romfile=",
        # The guest reports the pages it frees, and QEMU hands them back to the host at once.
        "-device",
        "virtio-balloon-pci,free-page-reporting=on",
        "-nographic",
        "-serial",
        f"file:{config.serial_log}",
        # -nographic would otherwise put the monitor on stdio, where nobody reads it.
        "-monitor",
        "none",
        "-pidfile",
        str(config.pidfile),
    ]
    if boot is not None:
        argv += ["-kernel", str(boot.kernel), "-initrd", str(boot.initrd), "-append", boot.cmdline]
        # Entropy from the host: sshd and Python block on an empty pool otherwise, slowly under TCG.
        argv += ["-device", "virtio-rng-pci"]
        if boot.seed is not None:
            argv += [
                "-drive", f"file={_qemu_path(boot.seed)},if=none,id=seed,format=raw,readonly=on",
                "-device", f"virtio-blk-pci,drive=seed,serial={SEED_SERIAL}",
            ]
        for tag, path in boot.shares:
            # security_model=none: files keep the host user's ownership, which bind mounts expect.
            argv += ["-virtfs", f"local,path={_qemu_path(path)},mount_tag={tag},security_model=none,id={tag}"]
    return argv


def _qemu_path(path: Path) -> str:
    # Inside a -drive option string a comma separates options; QEMU reads ",," as a literal comma.
    return str(path).replace(",", ",,")
