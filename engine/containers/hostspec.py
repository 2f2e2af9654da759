"""HostConfig as typed values: parsed and checked once (at create, and when a stored container is
first loaded, by the same function), so a start reads fields instead of re-parsing JSON, and so do
networking (the network mode, published ports) and mounts (binds, mounts, tmpfs, volumes-from). The raw
HostConfig stays beside it in the container's row, for inspect, which reports it as it was sent.

The sandbox options (ulimits, security options, devices, --init...) are hostconfig.py's
SandboxSpec; the parts of them that depend on the host as it is at start (device nodes, the init
binary) are resolved at each start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.containers.hostconfig import SandboxSpec
from engine.containers.links import Link
from engine.containers.links import parse as parse_links
from engine.containers.logs import LogSettings
from engine.containers.restart import RestartPolicy, restart_policy
from engine.errors import InvalidArgument
from engine.networks.ports import PublishSpec
from engine.networks.resolvconf import DnsSpec
from engine.volumes.specs import MountSpec, VolumesFrom, explicit_mounts, parse_volumes_from

NAMESPACE_MODES = {
    "PidMode": ("", "host"),
    "IpcMode": ("", "none", "private", "shareable", "host"),
    "UTSMode": ("", "host"),
    "UsernsMode": ("", "host"),
}


def namespace_mode(host_config: dict[str, Any], key: str) -> str:
    """PidMode, IpcMode, UTSMode or UsernsMode, checked: one of dockerd's words, or (for the
    PID and IPC namespaces) `container:<name or id>`."""
    mode = host_config.get(key) or ""
    if not isinstance(mode, str):
        raise InvalidArgument(f"HostConfig.{key} must be a string")
    if mode in NAMESPACE_MODES[key]:
        return mode
    if key in ("PidMode", "IpcMode") and mode.startswith("container:") and mode.partition(":")[2]:
        return mode
    words = ", ".join(repr(w) for w in NAMESPACE_MODES[key] if w)
    extra = " or container:<name|id>" if key in ("PidMode", "IpcMode") else ""
    raise InvalidArgument(f"invalid {key} {mode!r}: use {words}{extra}")


def paths_or_none(value: object) -> list[str] | None:
    """HostConfig.MaskedPaths / ReadonlyPaths: a list replaces Docker's, absent keeps it."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(p, str) and p.startswith("/") for p in value):
        raise InvalidArgument("MaskedPaths and ReadonlyPaths must be lists of absolute paths")
    return list(value)


# NetworkMode, a sum type: what each mode means is decided here, once.
@dataclass(frozen=True)
class DefaultBridge:
    name = "bridge"


@dataclass(frozen=True)
class HostNetwork:
    name = "host"


@dataclass(frozen=True)
class NoNetwork:
    name = "none"


@dataclass(frozen=True)
class JoinContainer:
    """`container:<name|id>`: the namespace, hostname and /etc files of another container."""

    ref: str

    @property
    def name(self) -> str:
        return f"container:{self.ref}"


@dataclass(frozen=True)
class UserNetwork:
    name: str


NetworkMode = DefaultBridge | HostNetwork | NoNetwork | JoinContainer | UserNetwork


def network_mode(raw: object) -> NetworkMode:
    """HostConfig.NetworkMode: empty and `default` are the default bridge, as in dockerd."""
    if raw is None:
        return DefaultBridge()
    if not isinstance(raw, str):
        raise InvalidArgument("HostConfig.NetworkMode must be a string")
    if raw in ("", "default", "bridge"):
        return DefaultBridge()
    if raw == "host":
        return HostNetwork()
    if raw == "none":
        return NoNetwork()
    if raw.startswith("container:"):
        return JoinContainer(raw.partition(":")[2])  # an empty one: networking refuses it in its words
    return UserNetwork(raw)


_INT_RESOURCES = ("Memory", "MemorySwap", "PidsLimit", "CpuShares", "NanoCpus")


@dataclass(frozen=True)
class Resources:
    """The cgroup limits of HostConfig (0 / "" = none), as docker update may change them."""

    memory: int = 0
    memory_swap: int = 0
    pids_limit: int = 0
    cpu_shares: int = 0
    nano_cpus: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""

    @classmethod
    def parse(cls, hc: dict[str, Any]) -> Resources:
        for key in _INT_RESOURCES:
            value = hc.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise InvalidArgument(f"HostConfig.{key} must be an integer, not {value!r}")
        return cls(memory=int(hc.get("Memory") or 0), memory_swap=int(hc.get("MemorySwap") or 0),
                   pids_limit=int(hc.get("PidsLimit") or 0), cpu_shares=int(hc.get("CpuShares") or 0),
                   nano_cpus=int(hc.get("NanoCpus") or 0), cpuset_cpus=str(hc.get("CpusetCpus") or ""),
                   cpuset_mems=str(hc.get("CpusetMems") or ""))


@dataclass(frozen=True)
class HostSpec:
    network: NetworkMode
    restart: RestartPolicy
    resources: Resources
    log: LogSettings
    auto_remove: bool
    privileged: bool
    readonly_rootfs: bool
    cap_add: tuple[str, ...]
    cap_drop: tuple[str, ...]
    group_add: tuple[str, ...]
    pid_mode: str  # "", host, or container:<ref>
    ipc_mode: str
    uts_mode: str
    masked_paths: tuple[str, ...] | None  # None: Docker's defaults
    readonly_paths: tuple[str, ...] | None
    sandbox: SandboxSpec
    links: tuple[Link, ...]  # legacy --link
    publish: PublishSpec  # PortBindings, PublishAllPorts
    mounts: tuple[MountSpec, ...]  # Binds, Mounts and Tmpfs (Config.Volumes is ConfigSpec's)
    volumes_from: tuple[VolumesFrom, ...]
    dns: DnsSpec  # Dns, DnsSearch, DnsOptions: resolv.conf and the embedded DNS's forwarders

    @classmethod
    def parse(cls, hc: dict[str, Any]) -> HostSpec:
        """Checked as dockerd checks a create; InvalidArgument says what to fix."""
        restart = restart_policy(hc)
        if hc.get("AutoRemove") and restart.name != "no":
            raise InvalidArgument("conflicting options: cannot specify both --restart and --rm")
        modes = {key: namespace_mode(hc, key) for key in NAMESPACE_MODES}
        masked, readonly = paths_or_none(hc.get("MaskedPaths")), paths_or_none(hc.get("ReadonlyPaths"))
        network, dns = network_mode(hc.get("NetworkMode")), DnsSpec.parse(hc)
        if isinstance(network, JoinContainer) and dns.servers:
            # The other container's resolv.conf is this one's (DnsSearch and DnsOptions are ignored).
            raise InvalidArgument("conflicting options: dns and the network mode")
        return cls(
            network=network, restart=restart, resources=Resources.parse(hc),
            log=LogSettings.from_host_config(hc), auto_remove=bool(hc.get("AutoRemove")),
            privileged=bool(hc.get("Privileged")), readonly_rootfs=bool(hc.get("ReadonlyRootfs")),
            cap_add=_strings(hc, "CapAdd"), cap_drop=_strings(hc, "CapDrop"), group_add=_strings(hc, "GroupAdd"),
            pid_mode=modes["PidMode"], ipc_mode=modes["IpcMode"], uts_mode=modes["UTSMode"],
            masked_paths=None if masked is None else tuple(masked),
            readonly_paths=None if readonly is None else tuple(readonly),
            sandbox=SandboxSpec.parse(hc), links=tuple(parse_links(hc.get("Links"))),
            publish=PublishSpec.parse(hc), mounts=explicit_mounts(hc),
            volumes_from=parse_volumes_from(hc.get("VolumesFrom")), dns=dns,
        )


def _strings(hc: dict[str, Any], key: str) -> tuple[str, ...]:
    value = hc.get(key) or []
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list):
        raise InvalidArgument(f"HostConfig.{key} must be a list of strings")
    return tuple(str(v) for v in value)
