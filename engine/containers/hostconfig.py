"""The parts of HostConfig that shape the OCI bundle, parsed and checked once at create,
with errors that say what to fix."""

from __future__ import annotations

import ipaddress
import os
import shutil
import stat
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.errors import InvalidArgument
from engine.runtime import seccomp
from engine.runtime.rlimits import Ulimit, container_rlimits
from engine.runtime.spec import Device, Mount

INIT_IN_CONTAINER = "/sbin/berth-init"
INIT_CANDIDATES = ("tini-static", "tini")


@dataclass
class Sandbox:
    ulimits: list[Ulimit] = field(default_factory=list)
    no_new_privileges: bool = False
    seccomp: dict[str, Any] | Literal["unconfined"] | None = None  # None: Docker's default
    devices: list[Device] = field(default_factory=list)
    shm_size: int = 64 * 1024 * 1024
    init: str | None = None  # host path of the init binary run as PID 1 (--init)
    warnings: list[str] = field(default_factory=list)

    def init_mount(self) -> list[Mount]:
        if self.init is None:
            return []
        return [Mount(source=self.init, destination=INIT_IN_CONTAINER, type="bind", options=["bind", "ro"])]


# The ExtraHosts address that means "the host" (docker's --add-host name:host-gateway), and the name
# Docker Desktop gives the host in every container.
HOST_GATEWAY = "host-gateway"
HOST_DOCKER_INTERNAL = "host.docker.internal"


def extra_hosts(host_config: dict[str, Any]) -> list[tuple[str, str]]:
    """ExtraHosts ("name:address", as --add-host takes them) as (name, address) pairs; the address
    is an IP or host-gateway. InvalidArgument says which entry is wrong and how to write it."""
    pairs = []
    for entry in host_config.get("ExtraHosts") or []:
        name, sep, addr = str(entry).partition(":")
        if not sep or not name or any(ch.isspace() for ch in name):
            raise InvalidArgument(f"invalid extra host {entry!r}: write name:address, e.g. db:10.0.0.5 "
                                  f"or host.docker.internal:{HOST_GATEWAY}")
        if addr != HOST_GATEWAY:
            try:
                ipaddress.ip_address(addr.strip("[]"))
            except ValueError:
                raise InvalidArgument(f"invalid extra host {entry!r}: {addr!r} is not an IP address "
                                      f"(or {HOST_GATEWAY})") from None
        elif str(host_config.get("NetworkMode") or "") == "none":
            raise InvalidArgument(f"extra host {entry!r}: a container with network none has no way to the host")
        pairs.append((name, addr.strip("[]")))
    return pairs


def parse(host_config: dict[str, Any]) -> Sandbox:
    box = Sandbox()
    extra_hosts(host_config)  # refused at create, not at start
    box.ulimits = _ulimits(host_config.get("Ulimits") or [])
    _, box.warnings = container_rlimits(box.ulimits)
    for opt in host_config.get("SecurityOpt") or []:
        _security_opt(box, str(opt))
    box.devices = [_device(d) for d in host_config.get("Devices") or []]
    shm = host_config.get("ShmSize")
    if shm:
        if not isinstance(shm, int) or shm < 0:
            raise InvalidArgument("ShmSize must be a positive number of bytes")
        box.shm_size = shm
    if host_config.get("Init"):
        box.init = find_init()
    return box


def find_init() -> str:
    for name in INIT_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    raise InvalidArgument("--init needs tini on the host: install the tini package")


def _ulimits(items: list[Any]) -> list[Ulimit]:
    out = []
    for item in items:
        if not isinstance(item, dict) or "Name" not in item:
            raise InvalidArgument("each Ulimits entry needs Name, Soft and Hard, as in nofile=1024:2048")
        try:
            out.append(Ulimit(str(item["Name"]), int(item.get("Soft", 0)), int(item.get("Hard", 0))))
        except (TypeError, ValueError):
            raise InvalidArgument(f"invalid ulimit {item!r}: Soft and Hard must be integers") from None
    container_rlimits(out)  # unknown names and soft > hard are refused here
    return out


def _security_opt(box: Sandbox, opt: str) -> None:
    key, sep, value = opt.partition("=")
    if not sep:
        key, sep, value = opt.partition(":")
    if key == "no-new-privileges":
        if value not in ("", "true", "false"):
            raise InvalidArgument(f"invalid --security-opt {opt!r}: no-new-privileges takes true or false")
        box.no_new_privileges = value != "false"
    elif key == "seccomp":
        profile = seccomp.profile_from_security_opt(value)
        box.seccomp = "unconfined" if profile is None else profile
    elif key in ("apparmor", "label", "systempaths"):
        box.warnings.append(f"--security-opt {key} is not supported by berthd and was ignored")
    else:
        raise InvalidArgument(f"invalid --security-opt {opt!r}: use no-new-privileges or seccomp=<profile>")


def _device(d: Any) -> Device:
    if not isinstance(d, dict) or not d.get("PathOnHost"):
        raise InvalidArgument("each Devices entry needs PathOnHost (as in --device /dev/fuse)")
    host = str(d["PathOnHost"])
    try:
        st = os.stat(host)
    except OSError as e:
        raise InvalidArgument(f"error gathering device information while adding device {host!r}: "
                              f"{e.strerror}") from None
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        raise InvalidArgument(f"{host} is not a device node")
    perms = str(d.get("CgroupPermissions") or "rwm")
    if not perms or set(perms) - set("rwm"):
        raise InvalidArgument(f"invalid device permissions {perms!r} for {host}: use a mix of r, w and m")
    return Device(kind=kind, major=os.major(st.st_rdev), minor=os.minor(st.st_rdev),
                  path=str(d.get("PathInContainer") or host), access=perms, file_mode=stat.S_IMODE(st.st_mode))
