"""How QEMU runs a machine: the binary, the accelerator and the command line.

`auto` picks the platform's hypervisor (choose_accel); one that refused this guest before is skipped
for TCG (vmhost.accel remembers refusals).
"""

from __future__ import annotations

import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

from vmhost import localend
from vmhost.accel import remembered
from vmhost.arch import ARCHES
from vmhost.image import GuestImage
from vmhost.machine import Machine, MachineConfig, MachineError
from vmhost.seed import share_tags, shares_supported

QEMU = "qemu-system-x86_64"
KVM_DEVICE = Path("/dev/kvm")
ACCELERATORS = ("kvm", "hvf", "whpx", "tcg")
# Direct kernel boot, for images from before their manifest named the command line (systemd as init).
# The root is found by label: virtio disks enumerate in PCI order, so the seed disk may come first.
KERNEL_CMDLINE = "root=LABEL=berth-root rw console=ttyS0 net.ifnames=0 quiet mitigations=off"


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
    if accel not in ACCELERATORS:
        raise ValueError(f"unknown accelerator {accel!r}: use one of {', '.join(ACCELERATORS)}")
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


def find_qemu(machine: Machine | None = None) -> str:
    """The QEMU binary to run, or a MachineError that says how to get one."""
    configured = (machine.qemu if machine else "") or os.environ.get("BERTH_QEMU", "")
    if configured:
        if shutil.which(configured):
            return configured
        raise MachineError(f"QEMU not found at {configured!r} (set by `berth machine set --qemu` or $BERTH_QEMU)")
    binary = ARCHES[machine.arch].qemu if machine else QEMU
    found = shutil.which(binary)
    if found:
        return found
    debian = "qemu-system-arm" if binary.endswith("aarch64") else "qemu-system-x86"
    hint = {
        "Darwin": "brew install qemu",
        "Windows": "install QEMU from qemu.org and add it to PATH",
    }.get(localend.system(), f"apt install {debian} qemu-utils")
    raise MachineError(f"{binary} not found on PATH: {hint}, or point $BERTH_QEMU at it")


def find_qemu_img(qemu: str) -> str:
    # qemu-img ships next to qemu-system-* in every QEMU distribution.
    sibling = Path(qemu).with_name("qemu-img" + (".exe" if qemu.endswith(".exe") else ""))
    if sibling.exists():
        return str(sibling)
    found = shutil.which("qemu-img")
    if found:
        return found
    raise MachineError("qemu-img not found: install qemu-utils (or QEMU's full package)")


def requested_accel(machine: Machine) -> str:
    """$BERTH_MACHINE_ACCEL, else the machine's setting: auto or an accelerator's name."""
    return check_accel(os.environ.get("BERTH_MACHINE_ACCEL") or machine.accel)


def resolve_accel(machine: Machine) -> str:
    """The accelerator to start with: what was asked for, and for auto the host's hypervisor (see
    choose_accel) unless it refused this guest before (vmhost.accel), then TCG."""
    accel = requested_accel(machine)
    if accel != "auto":
        return accel
    chosen = choose_accel()
    refused = remembered(machine.dir)
    return "tcg" if refused is not None and refused.accel == chosen else chosen


def may_fall_back(machine: Machine, accel: str) -> bool:
    """Whether a refusal of `accel` should be met by trying TCG: only what Berth chose, never what was forced."""
    return accel != "tcg" and requested_accel(machine) == "auto"


def check_accel(accel: str) -> str:
    """`accel` if it is auto or an accelerator's name, else a MachineError naming the choices."""
    if accel != "auto" and accel not in ACCELERATORS:
        raise MachineError(f"accelerator {accel!r}: use auto or one of {', '.join(ACCELERATORS)}")
    return accel


def machine_argv(machine: Machine, accel: str | None = None) -> list[str]:
    """QEMU's command line for `machine` (also what `inspect` shows); `accel` overrides resolve_accel."""
    guest = GuestImage(Path(machine.image))
    shares = tuple((tag, Path(path)) for tag, path in share_tags(machine)) if shares_supported() else ()
    boot = Boot(guest.boot_kernel(), guest.initrd, guest.cmdline or KERNEL_CMDLINE, machine.dir / "seed.img", shares)
    return qemu_argv(machine.config(), accel or resolve_accel(machine), boot, find_qemu(machine))
