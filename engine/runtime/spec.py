"""The OCI runtime config (config.json) for one container, built the way dockerd builds it.

`build_config` turns a `RuntimeSpec` (the container's settings, already resolved from
image config and HostConfig by the container service) into the dict that crun or runc
read from the bundle. Host facts it depends on (cgroup layout, berthd's capability
bounding set, architecture, kernel) come in a `HostFacts`, probed once, so tests can
build configs for any host.
"""

from __future__ import annotations

import functools
import platform
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.errors import InvalidArgument, RuntimeFailure
from engine.runtime import seccomp
from engine.runtime.detect import CgroupMode, cgroup_mode
from engine.runtime.rlimits import Ulimit, container_rlimits

OCI_VERSION = "1.0.2"
MIB = 1024 * 1024
DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CPU_PERIOD_US = 100_000
# dockerd refuses smaller limits: the runtime itself needs a few MiB to start the container.
MIN_MEMORY_LIMIT = 6 * MIB

# Capabilities by bit number: the order CapEff and friends use in /proc/<pid>/status.
ALL_CAPABILITIES: tuple[str, ...] = tuple(
    f"CAP_{name}"
    for name in [
        *("CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID"),
        *("SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW"),
        *("IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT"),
        *("SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD"),
        *("LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG"),
        *("WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"),
    ]
)
_CAP_BIT = {name: bit for bit, name in enumerate(ALL_CAPABILITIES)}

DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

DEFAULT_MASKED_PATHS: tuple[str, ...] = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
DEFAULT_READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

# Device nodes created in every container's /dev: (path, major, minor).
DEFAULT_DEVICES: tuple[tuple[str, int, int], ...] = (
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
)
# Device cgroup allowlist: (type, major, minor, access); None is "any".
# /dev/console (5:1) and /dev/ptmx (5:2) are not created from linux.devices: the runtime
# bind-mounts the terminal's pty on /dev/console and links /dev/ptmx to /dev/pts/ptmx,
# so they only need to be allowed here, as do the ptys themselves (136:*).
DEFAULT_DEVICE_RULES: tuple[tuple[str, int | None, int | None, str], ...] = (
    ("c", None, None, "m"),  # mknod of any device is allowed; using it is not
    ("b", None, None, "m"),
    *(("c", major, minor, "rwm") for _, major, minor in DEFAULT_DEVICES),
    ("c", 5, 1, "rwm"),  # /dev/console
    ("c", 5, 2, "rwm"),  # /dev/ptmx
    ("c", 136, None, "rwm"),  # /dev/pts/*
)

_CONTAINER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

# Sysctls a container may set, by the namespace that keeps them its own (as runc checks them):
# these IPC ones and fs.mqueue.* need an IPC namespace of its own, net.* a network namespace
# other than the host's, kernel.domainname a UTS namespace of its own.
IPC_SYSCTLS = frozenset({"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                         "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"})
# dockerd's own in a network namespace of the container's own (a request's Sysctls win): any user
# may bind ports below 1024 and open ICMP echo sockets, the capabilities given by default allow it.
DEFAULT_NETWORK_SYSCTLS = {"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647"}


@dataclass(frozen=True)
class Mount:
    """An extra mount (a bind mount unless `type` says otherwise)."""

    source: str
    destination: str
    type: str = "bind"
    options: Sequence[str] = ("rbind",)


@dataclass(frozen=True)
class Device:
    """A host device node given to the container (`--device host[:container[:rwm]]`)."""

    kind: str  # "c" or "b"
    major: int
    minor: int
    path: str  # inside the container
    access: str = "rwm"
    file_mode: int = 0o666


@dataclass(frozen=True)
class HostFacts:
    """What about the host changes a container's config."""

    cgroup_mode: CgroupMode
    bounding_capabilities: frozenset[str]  # berthd's own: a container cannot get more
    arch: str  # platform.machine()
    kernel: tuple[int, int]
    # DEFAULT_NETWORK_SYSCTLS that this kernel has (dockerd sets only those).
    default_sysctls: Mapping[str, str] = field(default_factory=dict)


@dataclass
class RuntimeSpec:
    container_id: str
    rootfs: Path
    args: list[str]
    env: list[str]
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)
    hostname: str = ""  # "" means the first 12 characters of the id, as dockerd does
    terminal: bool = False
    readonly_rootfs: bool = False
    netns_path: str | None = None  # None: a new private network namespace
    host_network: bool = False  # True: no network namespace, the host's network (--network host)
    # Whose network namespace the container has: its own (dockerd's default sysctls go there),
    # another container's (--network container:x), or the host's through such a container.
    netns_owner: Literal["own", "other", "host"] = "own"
    # PID, IPC and UTS namespaces: None a new private one, "host" the host's, a path one to join
    # (/proc/<pid>/ns/<kind> of another container: --pid container:x, --ipc container:x)
    pid_ns: str | None = None
    ipc_ns: str | None = None
    uts_ns: str | None = None
    cgroups_path: str = ""  # "" means /berth/<container_id>
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    no_new_privileges: bool = False
    # None: Docker's default profile; "unconfined": none; a mapping: a Docker-format profile.
    seccomp: Mapping[str, Any] | Literal["unconfined"] | None = None
    ulimits: list[Ulimit] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    memory_limit: int = 0  # bytes; 0 is no limit
    pids_limit: int = 0  # 0 (or -1, as the API allows) is no limit
    cpu_shares: int = 0  # relative weight; 0 keeps the runtime's default
    nano_cpus: int = 0  # CPUs times 10^9; 0 is no limit
    shm_size: int = 64 * MIB
    memory_swap: int = 0  # bytes of memory+swap; 0: the runtime's default, -1: unlimited
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    domainname: str = ""
    devices: list[Device] = field(default_factory=list)  # host devices made visible (--device)
    masked_paths: list[str] | None = None  # None: Docker's list (none when privileged)
    readonly_paths: list[str] | None = None  # None: Docker's list (none when privileged)
    sysctls: Mapping[str, str] = field(default_factory=dict)  # HostConfig.Sysctls


@functools.cache
def probe_host() -> HostFacts:
    """This host's facts, read once: none of them change while berthd runs."""
    return HostFacts(
        cgroup_mode=cgroup_mode(),
        bounding_capabilities=frozenset(_bounding_set(Path("/proc/self/status"))),
        arch=platform.machine(),
        kernel=seccomp.host_kernel(),
        default_sysctls={k: v for k, v in DEFAULT_NETWORK_SYSCTLS.items() if _sysctl_path(k).exists()},
    )


def build_config(spec: RuntimeSpec, host: HostFacts | None = None) -> tuple[dict[str, Any], list[str]]:
    """config.json for `spec`, and warnings for the person who created the container."""
    host = host if host is not None else probe_host()
    _check(spec)
    warnings: list[str] = []

    capabilities = _capabilities(spec, host, warnings)
    rlimits, rlimit_warnings = container_rlimits(spec.ulimits)
    warnings.extend(rlimit_warnings)
    # Docker's default: a non-root user starts with no effective capabilities; the
    # bounding set still lets setcap'd binaries gain theirs.
    granted = capabilities if spec.uid == 0 else []

    user: dict[str, Any] = {"uid": spec.uid, "gid": spec.gid}
    if spec.additional_gids:
        user["additionalGids"] = list(spec.additional_gids)
    process: dict[str, Any] = {
        "terminal": spec.terminal,
        "user": user,
        "args": list(spec.args),
        "env": _environment(spec),
        "cwd": spec.cwd,
        "capabilities": {
            "bounding": list(capabilities),
            "effective": list(granted),
            "permitted": list(granted),
        },
        "rlimits": rlimits,
        "noNewPrivileges": spec.no_new_privileges,
    }

    linux: dict[str, Any] = {
        "namespaces": _namespaces(spec, host),
        "cgroupsPath": spec.cgroups_path or f"/berth/{spec.container_id}",
        "resources": _resources(spec),
        "devices": [
            {"path": path, "type": "c", "major": major, "minor": minor, "fileMode": 0o666, "uid": 0, "gid": 0}
            for path, major, minor in DEFAULT_DEVICES
        ] + [
            {"path": d.path, "type": d.kind, "major": d.major, "minor": d.minor, "fileMode": d.file_mode,
             "uid": 0, "gid": 0}
            for d in spec.devices
        ],
        "maskedPaths": _paths(spec.masked_paths, DEFAULT_MASKED_PATHS, spec.privileged),
        "readonlyPaths": _paths(spec.readonly_paths, DEFAULT_READONLY_PATHS, spec.privileged),
    }
    profile = _seccomp(spec, capabilities, host)
    if profile is not None:
        linux["seccomp"] = profile
    sysctls = _sysctls(spec, host)
    if sysctls:
        linux["sysctl"] = sysctls

    config: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": str(spec.rootfs), "readonly": spec.readonly_rootfs},
        # the runtime sets these in the container's own UTS namespace only
        **({"hostname": spec.hostname or spec.container_id[:12]} if spec.uts_ns is None else {}),
        "mounts": _mounts(spec),
        **({"domainname": spec.domainname} if spec.domainname and spec.uts_ns is None else {}),
        "linux": linux,
    }
    return config, warnings


def capability_set(cap_add: Sequence[str], cap_drop: Sequence[str], privileged: bool) -> list[str]:
    """Docker's rules: ALL in cap_add means all but cap_drop; ALL in cap_drop means only cap_add."""
    if privileged:
        return list(ALL_CAPABILITIES)
    adds = [_capability(c) for c in cap_add]
    drops = [_capability(c) for c in cap_drop]
    if "ALL" in adds:
        chosen = {c for c in ALL_CAPABILITIES if c not in drops}
    elif "ALL" in drops:
        chosen = {c for c in adds if c != "ALL"}
    else:
        chosen = {c for c in DEFAULT_CAPABILITIES if c not in drops} | {c for c in adds if c not in drops}
    return sorted(chosen, key=_CAP_BIT.__getitem__)


def capability_mask(capabilities: Sequence[str]) -> int:
    """The bit mask /proc/<pid>/status shows for a capability set."""
    mask = 0
    for name in capabilities:
        mask |= 1 << _CAP_BIT[_capability(name)]
    return mask


def _capabilities(spec: RuntimeSpec, host: HostFacts, warnings: list[str]) -> list[str]:
    wanted = capability_set(spec.cap_add, spec.cap_drop, spec.privileged)
    # Asking the runtime for a capability berthd does not hold fails the container, so
    # such capabilities are left out; the user hears about the ones they named.
    missing = [c for c in wanted if c not in host.bounding_capabilities]
    named = {_capability(c) for c in spec.cap_add}
    for cap in missing:
        if cap in named:
            warnings.append(f"capability {cap} is not available on this host; the container runs without it")
    return [c for c in wanted if c in host.bounding_capabilities]


def _capability(name: str) -> str:
    upper = name.strip().upper()
    if upper == "ALL":
        return upper
    full = upper if upper.startswith("CAP_") else f"CAP_{upper}"
    if full not in _CAP_BIT:
        raise InvalidArgument(
            f"unknown capability: {name!r} (use a name like NET_ADMIN or CAP_NET_ADMIN, or ALL)"
        )
    return full


def _environment(spec: RuntimeSpec) -> list[str]:
    env = list(spec.env)
    names = {entry.partition("=")[0] for entry in env}
    # The runtime resolves args[0] through PATH from this list, as dockerd arranges too.
    if "PATH" not in names:
        env.append(DEFAULT_PATH_ENV)
    if spec.terminal and "TERM" not in names:
        env.append("TERM=xterm")
    return env


def _namespaces(spec: RuntimeSpec, host: HostFacts) -> list[dict[str, str]]:
    network: dict[str, str] = {"type": "network"}
    if spec.netns_path is not None:
        network["path"] = spec.netns_path
    namespaces: list[dict[str, str]] = []
    for kind, shared in (("pid", spec.pid_ns), ("ipc", spec.ipc_ns), ("uts", spec.uts_ns)):
        if shared is None:
            namespaces.append({"type": kind})
        elif shared != "host":
            namespaces.append({"type": kind, "path": shared})
    namespaces.append({"type": "mount"})
    if not spec.host_network:
        namespaces.append(network)
    # A cgroup namespace on v1 or hybrid hosts hides nothing useful and breaks tools that
    # expect the host's v1 layout; dockerd makes the same choice ("host" cgroupns on v1).
    if host.cgroup_mode == "v2":
        namespaces.append({"type": "cgroup"})
    return namespaces


def _resources(spec: RuntimeSpec) -> dict[str, Any]:
    if spec.privileged:
        devices: list[dict[str, Any]] = [{"allow": True, "access": "rwm"}]
    else:
        devices = [{"allow": False, "access": "rwm"}]
        for kind, major, minor, access in DEFAULT_DEVICE_RULES:
            rule: dict[str, Any] = {"allow": True, "type": kind, "access": access}
            if major is not None:
                rule["major"] = major
            if minor is not None:
                rule["minor"] = minor
            devices.append(rule)
    for d in spec.devices:
        devices.append({"allow": True, "type": d.kind, "major": d.major, "minor": d.minor, "access": d.access})
    resources: dict[str, Any] = {"devices": devices}
    if spec.memory_limit:
        resources["memory"] = {"limit": spec.memory_limit}
        if spec.memory_swap:
            resources["memory"]["swap"] = spec.memory_swap
    if spec.pids_limit > 0:
        resources["pids"] = {"limit": spec.pids_limit}
    cpu: dict[str, Any] = {}
    if spec.cpu_shares:
        cpu["shares"] = spec.cpu_shares
    if spec.nano_cpus:
        cpu["quota"] = spec.nano_cpus * CPU_PERIOD_US // 1_000_000_000
        cpu["period"] = CPU_PERIOD_US
    if spec.cpuset_cpus:
        cpu["cpus"] = spec.cpuset_cpus
    if spec.cpuset_mems:
        cpu["mems"] = spec.cpuset_mems
    if cpu:
        resources["cpu"] = cpu
    return resources


def _sysctls(spec: RuntimeSpec, host: HostFacts) -> dict[str, str]:
    """linux.sysctl as dockerd makes it: its defaults in a network namespace of the container's
    own, then HostConfig.Sysctls over them, each checked as runc checks it (so crun, which
    checks less, refuses the same): the same words, and dockerd's 500 at start."""
    host_net = spec.host_network or spec.netns_owner == "host"
    for name in spec.sysctls:
        check_sysctl(name, host_net=host_net, host_ipc=spec.ipc_ns == "host", own_uts=spec.uts_ns is None)
    private = not host_net and spec.netns_owner == "own"
    return {**(host.default_sysctls if private else {}), **spec.sysctls}


def check_sysctl(name: str, *, host_net: bool, host_ipc: bool, own_uts: bool) -> None:
    """Refuse a sysctl the container's namespaces do not keep to it, in runc's words (what dockerd
    answers) followed by what to change. Its value is the kernel's to check, at start."""
    if name in IPC_SYSCTLS or name.startswith("fs.mqueue."):
        if host_ipc:
            raise RuntimeFailure(f'sysctl "{name}" is not allowed in the hosts ipc namespace: it needs an IPC '
                                 "namespace of the container's own (drop --ipc host, or this --sysctl)")
        return
    if name.startswith("net."):
        if host_net:
            raise RuntimeFailure(f'sysctl "{name}" not allowed in host network namespace: a net.* sysctl '
                                 "needs a network namespace of the container's own (drop --network host, "
                                 "or this --sysctl)")
        return
    if own_uts and name == "kernel.domainname":
        return
    if own_uts and name == "kernel.hostname":
        raise RuntimeFailure('sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" '
                             'field: set the hostname with --hostname')
    raise RuntimeFailure(f'sysctl "{name}" is not in a separate kernel namespace: a container may set only '
                         "net.*, fs.mqueue.*, kernel.domainname and the IPC ones (kernel.msgmax, kernel.msgmnb, "
                         "kernel.msgmni, kernel.sem, kernel.shmall, kernel.shmmax, kernel.shmmni, "
                         "kernel.shm_rmid_forced); the others are the whole host's")


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def _paths(override: list[str] | None, default: tuple[str, ...], privileged: bool) -> list[str]:
    if override is not None:
        return list(override)
    return [] if privileged else list(default)


def _seccomp(spec: RuntimeSpec, capabilities: list[str], host: HostFacts) -> dict[str, Any] | None:
    setting = spec.seccomp
    if isinstance(setting, str):
        if setting != "unconfined":
            raise InvalidArgument(f'seccomp must be a profile or "unconfined", got {setting!r}')
        return None
    if setting is None:
        # dockerd runs privileged containers unconfined; an explicit profile still applies.
        if spec.privileged:
            return None
        setting = seccomp.default_profile()
    return seccomp.to_oci(setting, capabilities, arch=host.arch, kernel=host.kernel)


def _mounts(spec: RuntimeSpec) -> list[dict[str, Any]]:
    kernel_fs = "rw" if spec.privileged else "ro"
    defaults: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", kernel_fs],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", kernel_fs],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={spec.shm_size}"],
        },
    ]
    # A user's mount on a default destination (say a volume on /dev/shm) replaces it.
    taken = {_clean(m.destination) for m in spec.mounts}
    mounts = [m for m in defaults if m["destination"] not in taken]
    # Parents before children, so /data/logs is not hidden by a later mount on /data.
    for mount in sorted(spec.mounts, key=lambda m: _clean(m.destination).count("/")):
        options = list(mount.options)
        if mount.type == "bind" and not {"bind", "rbind"} & set(options):
            options.insert(0, "rbind")
        mounts.append(
            {
                "destination": _clean(mount.destination),
                "type": mount.type,
                "source": mount.source,
                "options": options,
            }
        )
    return mounts


def _clean(path: str) -> str:
    return "/" + "/".join(part for part in path.split("/") if part)


def _check(spec: RuntimeSpec) -> None:
    if not _CONTAINER_ID.match(spec.container_id):
        raise InvalidArgument(
            f"invalid container id {spec.container_id!r}: use letters, digits, '_', '.' and '-'"
        )
    if not spec.args:
        raise InvalidArgument("no command specified: give the container a command or an image with one")
    if not spec.cwd.startswith("/"):
        raise InvalidArgument(f"the working directory {spec.cwd!r} is invalid: it must be an absolute path")
    for name, value in (
        ("uid", spec.uid),
        ("gid", spec.gid),
        *(("additional gid", g) for g in spec.additional_gids),
    ):
        if not 0 <= value < 2**32 - 1:
            raise InvalidArgument(f"{name} {value} is out of range (0 to 4294967294)")
    if spec.memory_limit and spec.memory_limit < MIN_MEMORY_LIMIT:
        raise InvalidArgument("minimum memory limit allowed is 6MB")
    if spec.nano_cpus and spec.nano_cpus < 10_000_000:
        raise InvalidArgument("range of CPUs starts at 0.01: nano_cpus must be at least 10000000")
    for name, value in (
        ("memory limit", spec.memory_limit),
        ("pids limit", max(spec.pids_limit, 0)),
        ("cpu shares", spec.cpu_shares),
        ("nano cpus", spec.nano_cpus),
    ):
        if value < 0:
            raise InvalidArgument(f"{name} must not be negative (0 means no limit)")
    if spec.shm_size <= 0:
        raise InvalidArgument("shm size must be a positive number of bytes")
    for mount in spec.mounts:
        if not mount.destination.startswith("/") or _clean(mount.destination) == "/":
            raise InvalidArgument(
                f"mount destination {mount.destination!r} must be an absolute path other than /"
            )


def _bounding_set(status: Path) -> list[str]:
    """Capability names in CapBnd of a /proc/<pid>/status file."""
    for line in status.read_text(encoding="utf-8").splitlines():
        if line.startswith("CapBnd:"):
            mask = int(line.split()[1], 16)
            return [name for bit, name in enumerate(ALL_CAPABILITIES) if mask & (1 << bit)]
    return list(ALL_CAPABILITIES)
