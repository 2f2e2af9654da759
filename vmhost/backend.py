"""Which kind of machine runs berthd on this host, and why: the one seam vmhost.machines chooses through.

On Windows a WSL2 distro (what Docker Desktop, Podman Desktop and Rancher Desktop use) when WSL2 is
there; QEMU with WHPX otherwise. Everywhere else QEMU. The reason is worded for the first-run flow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vmhost import localend
from vmhost.wsl import Wsl, WslError, find_wsl

BACKENDS = ("qemu", "wsl")


@dataclass(frozen=True)
class Choice:
    backend: str  # qemu or wsl
    reason: str  # one sentence for the person: what runs berthd and why this one


def wsl2_usable(exe: str) -> tuple[bool, str]:
    """Whether wsl.exe can run version-2 distros here: `wsl --status` fails, or is absent, where the WSL
    feature or virtualization is off. (ok, what it said)."""
    try:
        Wsl(exe).distros()
    except WslError as e:
        return False, str(e)
    return True, ""


def choose(requested: str = "auto", host_system: str | None = None, wsl_exe: Callable[[], str | None] = find_wsl,
           probe: Callable[[str], tuple[bool, str]] = wsl2_usable) -> Choice:
    """The backend for a new machine: `requested` (qemu, wsl) or, for auto, the host's best."""
    system = host_system or localend.system()
    if requested not in ("auto", *BACKENDS):
        raise ValueError(f"machine backend {requested!r}: use auto, qemu or wsl")
    if requested == "qemu":
        return Choice("qemu", "QEMU, as asked")
    exe = wsl_exe()
    if requested == "wsl":
        if exe is None:
            raise ValueError("WSL is not installed: run `wsl --install` (then restart), or use the QEMU backend")
        return Choice("wsl", "WSL2, as asked")
    if system != "Windows":
        accel = {"Darwin": "Hypervisor.framework", "Linux": "KVM"}.get(system, "its hypervisor")
        return Choice("qemu", f"a QEMU virtual machine using {accel}")
    if exe is None:
        return Choice("qemu", "QEMU with Windows Hypervisor Platform: WSL is not installed "
                              "(`wsl --install` enables it; Berth then uses WSL2, as Docker Desktop does)")
    ok, why = probe(exe)
    if not ok:
        return Choice("qemu", f"QEMU with Windows Hypervisor Platform: WSL2 does not work here ({why})")
    return Choice("wsl", "a WSL2 distro of Berth's own (berth-<machine>), as WSL2 is available")
