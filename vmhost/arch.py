"""The guest architectures Berth ships: a machine runs the host's own, so hvf/kvm/whpx can run it."""

from __future__ import annotations

import platform
from dataclasses import dataclass


@dataclass(frozen=True)
class Arch:
    name: str  # what uname -m says in the guest: x86_64, aarch64
    debian: str  # Debian's name: amd64, arm64
    qemu: str  # the QEMU system emulator
    console: str  # the serial console's device in the guest
    wheel_platforms: tuple[str, ...]  # pip platform tags of the guest's wheels


ARCHES = {
    "x86_64": Arch("x86_64", "amd64", "qemu-system-x86_64", "ttyS0",
                   ("manylinux_2_28_x86_64", "manylinux2014_x86_64")),
    # QEMU's "virt" board: PL011 serial, PCIe for the virtio devices.
    "aarch64": Arch("aarch64", "arm64", "qemu-system-aarch64", "ttyAMA0",
                    ("manylinux_2_28_aarch64", "manylinux2014_aarch64")),
}
_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}


def arch(name: str) -> Arch:
    """The Arch for a name as uname, Debian, macOS or Windows spell it; ValueError if Berth has no guest for it."""
    key = name.lower()
    key = _ALIASES.get(key, key)
    if key not in ARCHES:
        raise ValueError(f"no Berth guest for the {name!r} architecture (there are {', '.join(ARCHES)})")
    return ARCHES[key]


def host_arch() -> Arch:
    return arch(platform.machine())
