"""Which OCI runtime berthd uses, and why.

crun is preferred (it starts a container in about a third of runc's time), but it refuses
"hybrid" cgroup hosts, where cgroup v1 controllers are mounted next to a cgroup v2
hierarchy (at /sys/fs/cgroup/unified) that owns controllers of its own. On those hosts
berthd falls back to runc and says so; the reason is shown in /info.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from engine.errors import InvalidArgument, RuntimeFailure
from engine.mountinfo import entries as mountinfo_entries

MOUNTINFO = Path("/proc/self/mountinfo")
SUPPORTED = ("crun", "runc")

CgroupMode = Literal["v1", "v2", "hybrid"]


@dataclass(frozen=True)
class RuntimeChoice:
    name: str
    path: str
    reason: str


@dataclass(frozen=True)
class CgroupMount:
    mount_point: str
    fstype: str  # "cgroup" (v1) or "cgroup2"
    super_options: tuple[str, ...]


def cgroup_mounts(mountinfo: Path = MOUNTINFO) -> list[CgroupMount]:
    """The cgroup filesystems mounted in berthd's mount namespace."""
    return [CgroupMount(e.mount_point, e.fstype, e.super_options)
            for e in mountinfo_entries(mountinfo) if e.fstype in ("cgroup", "cgroup2")]


def cgroup_mode(mountinfo: Path = MOUNTINFO) -> CgroupMode:
    """v2 (unified only), v1 (legacy hierarchies only) or hybrid (both).

    A host with no cgroup filesystem at all reports v1, the answer that adds nothing
    (no cgroup namespace) to a container's spec.
    """
    mounts = cgroup_mounts(mountinfo)
    has_v2 = any(m.fstype == "cgroup2" for m in mounts)
    has_v1 = any(m.fstype == "cgroup" for m in mounts)
    if has_v2 and has_v1:
        return "hybrid"
    return "v2" if has_v2 else "v1"


def hybrid_v2_controllers(mountinfo: Path = MOUNTINFO, fs_root: Path = Path("/")) -> list[str]:
    """Controllers enabled in the v2 hierarchy of a hybrid host (what makes crun refuse).

    `fs_root` prefixes mount points, so tests can point it at a fake tree.
    """
    if cgroup_mode(mountinfo) != "hybrid":
        return []
    controllers: list[str] = []
    for mount in cgroup_mounts(mountinfo):
        if mount.fstype != "cgroup2":
            continue
        path = fs_root / mount.mount_point.lstrip("/") / "cgroup.controllers"
        try:
            controllers.extend(path.read_text(encoding="utf-8").split())
        except OSError:
            continue
    return controllers


def detect_runtime(
    preferred: str | None = None,
    *,
    search_path: str | None = None,
    mountinfo: Path = MOUNTINFO,
    fs_root: Path = Path("/"),
) -> RuntimeChoice:
    """Pick crun or runc; `preferred` (a name or a path) must be usable or this raises."""
    crun_blocker = _crun_blocker(mountinfo, fs_root)
    if preferred:
        return _preferred_runtime(preferred, search_path, crun_blocker)

    crun = shutil.which("crun", path=search_path)
    runc = shutil.which("runc", path=search_path)
    if crun and not crun_blocker:
        return RuntimeChoice("crun", crun, "crun is the preferred runtime")
    if runc:
        why = f"crun cannot run here: {crun_blocker}" if crun and crun_blocker else "crun is not installed"
        return RuntimeChoice("runc", runc, f"{why}; using runc")
    if crun:
        raise RuntimeFailure(
            f"no usable OCI runtime: crun cannot run here ({crun_blocker}) and runc is missing"
        )
    raise RuntimeFailure("no OCI runtime found: install crun or runc")


def _preferred_runtime(preferred: str, search_path: str | None, crun_blocker: str) -> RuntimeChoice:
    name = os.path.basename(preferred)
    if name not in SUPPORTED:
        raise InvalidArgument(f"unknown runtime {preferred!r}: berthd runs crun or runc")
    if os.sep in preferred:
        path = preferred if os.access(preferred, os.X_OK) and os.path.isfile(preferred) else None
    else:
        path = shutil.which(name, path=search_path)
    if path is None:
        raise InvalidArgument(
            f"runtime {preferred!r} was not found or is not executable; install it or pick another"
        )
    if name == "crun" and crun_blocker:
        raise InvalidArgument(f"runtime crun cannot run here: {crun_blocker}; use runc")
    return RuntimeChoice(name, path, f"{name} was asked for")


def _crun_blocker(mountinfo: Path, fs_root: Path) -> str:
    """Why crun would refuse this host, or "" if it would not."""
    try:
        controllers = hybrid_v2_controllers(mountinfo, fs_root)
    except OSError:
        return ""  # No mountinfo to read: let crun try and speak for itself.
    if not controllers:
        return ""
    return (
        "the host has hybrid cgroups (cgroup v1 controllers plus a cgroup v2 hierarchy with controllers: "
        f"{', '.join(controllers)}), which crun refuses"
    )


