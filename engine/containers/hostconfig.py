"""The sandbox parts of HostConfig that shape the OCI bundle (ulimits, security options, devices,
shm, --init, extra hosts, sysctls), parsed and checked once at create with errors that say what to fix,
and resolved against the host (device nodes, the init binary) at each start."""

from __future__ import annotations

import ipaddress
import os
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.errors import InvalidArgument
from engine.runtime import seccomp
from engine.runtime.rlimits import Ulimit, container_rlimits
from engine.runtime.spec import Device, Mount

INIT_IN_CONTAINER = "/sbin/berth-init"
INIT_CANDIDATES = ("tini-static", "tini")


@dataclass(frozen=True)
class DeviceRequest:
    """One HostConfig.Devices entry (`--device host[:container[:rwm]]`), checked at create; the
    host's node behind it is looked up at each start (`resolve`), as dockerd does."""

    path_on_host: str
    path_in_container: str
    permissions: str

    @classmethod
    def parse(cls, d: Any) -> DeviceRequest:
        if not isinstance(d, dict) or not d.get("PathOnHost"):
            raise InvalidArgument("each Devices entry needs PathOnHost (as in --device /dev/fuse)")
        host = str(d["PathOnHost"])
        perms = str(d.get("CgroupPermissions") or "rwm")
        if not perms or set(perms) - set("rwm"):
            raise InvalidArgument(f"invalid device permissions {perms!r} for {host}: use a mix of r, w and m")
        return cls(host, str(d.get("PathInContainer") or host), perms)

    def resolve(self) -> Device:
        host = self.path_on_host
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
        return Device(kind=kind, major=os.major(st.st_rdev), minor=os.minor(st.st_rdev),
                      path=self.path_in_container, access=self.permissions, file_mode=stat.S_IMODE(st.st_mode))


SHM_SIZE = 64 * 1024 * 1024


@dataclass(frozen=True)
class SandboxSpec:
    """HostConfig's sandbox options beyond capabilities and privilege (those are HostSpec's own):
    parsed at create, kept with the container, resolved against the host at each start."""

    ulimits: tuple[Ulimit, ...] = ()
    no_new_privileges: bool = False
    seccomp: Mapping[str, Any] | Literal["unconfined"] | None = None  # None: Docker's default
    devices: tuple[DeviceRequest, ...] = ()
    shm_size: int = SHM_SIZE
    init: bool = False  # --init: a tiny init runs as PID 1
    extra_hosts: tuple[tuple[str, str], ...] = ()  # (name, address or host-gateway)
    # As given: which of them the container's namespaces allow is decided at each start, as
    # dockerd leaves it to runc (engine/runtime/spec.py check_sysctl), since --network container:x
    # may name a container of the host's network by then.
    sysctls: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @classmethod
    def parse(cls, host_config: dict[str, Any]) -> SandboxSpec:
        """Checked without looking at the host's devices or binaries (`resolve` does)."""
        ulimits = _ulimits(host_config.get("Ulimits") or [])
        _, warnings = container_rlimits(ulimits)
        no_new_privileges, profile = False, None
        for opt in host_config.get("SecurityOpt") or []:
            no_new_privileges, profile = _security_opt(str(opt), no_new_privileges, profile, warnings)
        shm = host_config.get("ShmSize")
        if shm and (not isinstance(shm, int) or shm < 0):
            raise InvalidArgument("ShmSize must be a positive number of bytes")
        sysctls = host_config.get("Sysctls") or {}
        if not isinstance(sysctls, dict):
            raise InvalidArgument('HostConfig.Sysctls must be an object of names to values, as in '
                                  '{"net.ipv4.ip_forward": "1"}')
        return cls(
            ulimits=tuple(ulimits), no_new_privileges=no_new_privileges, seccomp=profile,
            devices=tuple(DeviceRequest.parse(d) for d in host_config.get("Devices") or []),
            shm_size=shm or SHM_SIZE, init=bool(host_config.get("Init")),
            extra_hosts=tuple(extra_hosts(host_config)),
            sysctls={str(k): str(v) for k, v in sysctls.items()},
            warnings=tuple(warnings))

    def resolve(self) -> Sandbox:
        """The host's side as it is now: device nodes and the init binary."""
        return Sandbox(devices=[d.resolve() for d in self.devices], init=find_init() if self.init else None)


@dataclass(frozen=True)
class Sandbox:
    """A SandboxSpec resolved on this host for one start."""

    devices: list[Device]
    init: str | None  # host path of the init binary run as PID 1 (--init)

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


def _security_opt(opt: str, no_new_privileges: bool, profile: Mapping[str, Any] | Literal["unconfined"] | None,
                  warnings: list[str]) -> tuple[bool, Mapping[str, Any] | Literal["unconfined"] | None]:
    key, sep, value = opt.partition("=")
    if not sep:
        key, sep, value = opt.partition(":")
    if key == "no-new-privileges":
        if value not in ("", "true", "false"):
            raise InvalidArgument(f"invalid --security-opt {opt!r}: no-new-privileges takes true or false")
        return value != "false", profile
    if key == "seccomp":
        parsed = seccomp.profile_from_security_opt(value)
        return no_new_privileges, "unconfined" if parsed is None else parsed
    if key in ("apparmor", "label", "systempaths"):
        warnings.append(f"--security-opt {key} is not supported by berthd and was ignored")
        return no_new_privileges, profile
    raise InvalidArgument(f"invalid --security-opt {opt!r}: use no-new-privileges or seccomp=<profile>")
