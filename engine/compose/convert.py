"""A service's normal form turned into the Engine API's container create body (Config + HostConfig)."""

from __future__ import annotations

import re
from typing import Any

from engine.compose.errors import ConfigError
from engine.compose.model import (
    COMPOSE_VERSION,
    LABEL_CONFIG_FILES,
    LABEL_CONFIG_HASH,
    LABEL_DEPENDS_ON,
    LABEL_IMAGE,
    LABEL_NUMBER,
    LABEL_ONEOFF,
    LABEL_PROJECT,
    LABEL_SERVICE,
    LABEL_VERSION,
    LABEL_WORKING_DIR,
    Project,
    Service,
)

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
             "h": 3_600_000_000_000}
_BYTES = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)b?$", re.IGNORECASE)


def duration_ns(value: Any) -> int:
    """`1m30s`, `500ms`, `10s` (Go durations, as compose files write them) in nanoseconds."""
    if isinstance(value, int | float):
        return int(value * 1_000_000_000)
    text = str(value).strip()
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS_NS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ConfigError(f"invalid duration {value!r} (write e.g. 10s, 1m30s, 500ms)")
    return int(total)


def size_bytes(value: Any) -> int:
    """`512m`, `1g`, `1024` (bytes, binary units as Docker reads them)."""
    if isinstance(value, int):
        return value
    match = _BYTES.match(str(value).strip())
    if match is None:
        raise ConfigError(f"invalid size {value!r} (write e.g. 512m, 1g)")
    power = " kmgtp".index(match.group(2).lower() or " ")
    return int(float(match.group(1)) * 1024**power)


def container_name(project: Project, service: Service, number: int) -> str:
    return str(service.config.get("container_name") or f"{project.name}-{service.name}-{number}")


def compose_labels(project: Project, service: Service, number: int, *, oneoff: bool = False) -> dict[str, str]:
    deps = ",".join(f"{name}:{cond.get('condition', 'service_started')}:{str(cond.get('restart', False)).lower()}"
                    for name, cond in service.depends_on.items())
    return {
        LABEL_PROJECT: project.name,
        LABEL_SERVICE: service.name,
        LABEL_NUMBER: str(number),
        LABEL_ONEOFF: "True" if oneoff else "False",
        LABEL_CONFIG_HASH: service.config_hash(),
        LABEL_WORKING_DIR: str(project.working_dir),
        LABEL_CONFIG_FILES: ",".join(str(p) for p in project.config_files),
        LABEL_VERSION: COMPOSE_VERSION,
        LABEL_DEPENDS_ON: deps,
        LABEL_IMAGE: service.image,
    }


def create_body(project: Project, service: Service, number: int, *, oneoff: bool = False,
                command: list[str] | None = None, entrypoint: list[str] | None = None,
                extra_env: dict[str, str] | None = None, publish: bool = True, aliases: bool = True
                ) -> dict[str, Any]:
    """The `POST /containers/create` body for container `number` of `service`."""
    cfg = service.config
    env = {**(cfg.get("environment") or {}), **(extra_env or {})}
    labels = {**(cfg.get("labels") or {}), **compose_labels(project, service, number, oneoff=oneoff)}
    body: dict[str, Any] = {
        "Image": service.image,
        "Labels": labels,
        "Env": [f"{key}={value}" for key, value in env.items()],
        "Tty": bool(cfg.get("tty", False)),
        "OpenStdin": bool(cfg.get("stdin_open", False)),
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
    }
    cmd = command if command is not None else cfg.get("command")
    if cmd is not None:
        body["Cmd"] = cmd
    ep = entrypoint if entrypoint is not None else cfg.get("entrypoint")
    if ep is not None:
        body["Entrypoint"] = ep
    for key, field in (("working_dir", "WorkingDir"), ("user", "User"), ("hostname", "Hostname"),
                       ("domainname", "Domainname"), ("stop_signal", "StopSignal"), ("mac_address", "MacAddress")):
        if cfg.get(key):
            body[field] = str(cfg[key])
    if cfg.get("stop_grace_period"):
        body["StopTimeout"] = duration_ns(cfg["stop_grace_period"]) // 1_000_000_000
    if cfg.get("healthcheck"):
        body["Healthcheck"] = _healthcheck(cfg["healthcheck"])
    ports = cfg.get("ports") or []
    exposed: dict[str, dict[str, Any]] = {f"{p['target']}/{p.get('protocol', 'tcp')}": {} for p in ports}
    for item in cfg.get("expose") or []:
        port, _, proto = str(item).partition("/")
        exposed[f"{port}/{proto or 'tcp'}"] = {}
    if exposed:
        body["ExposedPorts"] = exposed
    host = _host_config(project, service, publish=publish)
    body["HostConfig"] = host
    networks = service.networks
    if networks and "network_mode" not in cfg:
        # API versions before 1.44 take one endpoint at create; the others are connected before start.
        first = next(iter(networks))
        body["NetworkingConfig"] = {"EndpointsConfig": {
            project.network_name(first): endpoint_config(service, first, number, aliases=aliases)}}
    return body


def endpoint_config(service: Service, network: str, number: int, *, aliases: bool = True) -> dict[str, Any]:
    cfg = service.networks.get(network) or {}
    names = [service.name, *cfg.get("aliases", [])] if aliases else list(cfg.get("aliases", []))
    endpoint: dict[str, Any] = {"Aliases": names}
    ipam: dict[str, str] = {}
    if cfg.get("ipv4_address"):
        ipam["IPv4Address"] = str(cfg["ipv4_address"])
    if cfg.get("ipv6_address"):
        ipam["IPv6Address"] = str(cfg["ipv6_address"])
    if ipam:
        endpoint["IPAMConfig"] = ipam
    return endpoint


def _healthcheck(hc: dict[str, Any]) -> dict[str, Any]:
    if hc.get("disable"):
        return {"Test": ["NONE"]}
    out: dict[str, Any] = {}
    if hc.get("test"):
        out["Test"] = list(hc["test"])
    for key, field in (("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod"),
                       ("start_interval", "StartInterval")):
        if hc.get(key) is not None:
            out[field] = duration_ns(hc[key])
    if hc.get("retries") is not None:
        out["Retries"] = int(hc["retries"])
    return out


def _restart_policy(value: str) -> dict[str, Any]:
    name, _, count = value.partition(":")
    if name not in ("no", "always", "on-failure", "unless-stopped"):
        raise ConfigError(f"invalid restart policy {value!r}")
    return {"Name": "" if name == "no" else name, "MaximumRetryCount": int(count or 0)}


def _host_config(project: Project, service: Service, *, publish: bool) -> dict[str, Any]:
    cfg = service.config
    host: dict[str, Any] = {}
    binds, mounts = [], []
    for vol in cfg.get("volumes") or []:
        kind = vol.get("type", "volume")
        mode = "ro" if vol.get("read_only") else "rw"
        if kind == "bind":
            binds.append(f"{vol['source']}:{vol['target']}:{mode}")
        elif kind == "volume" and vol.get("source"):
            nocopy = ",nocopy" if (vol.get("volume") or {}).get("nocopy") else ""
            binds.append(f"{project.volume_name(vol['source'])}:{vol['target']}:{mode}{nocopy}")
        elif kind == "volume":
            mounts.append({"Type": "volume", "Target": vol["target"], "ReadOnly": bool(vol.get("read_only"))})
        elif kind == "tmpfs":
            host.setdefault("Tmpfs", {})[vol["target"]] = ""
        else:
            raise ConfigError(f"service {service.name!r}: volume type {kind!r} is not supported")
    if binds:
        host["Binds"] = binds
    if mounts:
        host["Mounts"] = mounts
    for item in cfg.get("tmpfs") or []:
        target, _, options = str(item).partition(":")
        host.setdefault("Tmpfs", {})[target] = options
    if publish and cfg.get("ports"):
        bindings: dict[str, list[dict[str, str]]] = {}
        for port in cfg["ports"]:
            key = f"{port['target']}/{port.get('protocol', 'tcp')}"
            bindings.setdefault(key, []).append({"HostIp": port.get("host_ip", ""),
                                                 "HostPort": port.get("published", "")})
        host["PortBindings"] = bindings
    if cfg.get("restart"):
        host["RestartPolicy"] = _restart_policy(str(cfg["restart"]))
    deploy = cfg.get("deploy") or {}
    limits = ((deploy.get("resources") or {}).get("limits") or {}) if isinstance(deploy, dict) else {}
    reservations = ((deploy.get("resources") or {}).get("reservations") or {}) if isinstance(deploy, dict) else {}
    memory = limits.get("memory") or cfg.get("mem_limit")
    if memory:
        host["Memory"] = size_bytes(memory)
    if cfg.get("memswap_limit"):
        host["MemorySwap"] = size_bytes(cfg["memswap_limit"])
    if reservations.get("memory") or cfg.get("mem_reservation"):
        host["MemoryReservation"] = size_bytes(reservations.get("memory") or cfg["mem_reservation"])
    cpus = limits.get("cpus") or cfg.get("cpus")
    if cpus:
        host["NanoCpus"] = int(float(cpus) * 1_000_000_000)
    pids = limits.get("pids") or cfg.get("pids_limit")
    if pids:
        host["PidsLimit"] = int(pids)
    simple = {"cpu_shares": "CpuShares", "cpuset": "CpusetCpus", "privileged": "Privileged", "init": "Init",
              "read_only": "ReadonlyRootfs", "cap_add": "CapAdd", "cap_drop": "CapDrop", "dns": "Dns",
              "dns_search": "DnsSearch", "dns_opt": "DnsOptions", "extra_hosts": "ExtraHosts",
              "security_opt": "SecurityOpt", "group_add": "GroupAdd", "ipc": "IpcMode", "pid": "PidMode",
              "sysctls": "Sysctls", "oom_score_adj": "OomScoreAdj", "userns_mode": "UsernsMode"}
    for key, field in simple.items():
        if cfg.get(key) is not None:
            host[field] = cfg[key]
    if cfg.get("shm_size"):
        host["ShmSize"] = size_bytes(cfg["shm_size"])
    if cfg.get("ulimits"):
        host["Ulimits"] = [
            {"Name": name, "Soft": int(v), "Hard": int(v)} if isinstance(v, int | str)
            else {"Name": name, "Soft": int(v["soft"]), "Hard": int(v["hard"])}
            for name, v in cfg["ulimits"].items()]
    if cfg.get("logging"):
        log = cfg["logging"]
        host["LogConfig"] = {"Type": log.get("driver", ""),
                             "Config": {k: str(v) for k, v in (log.get("options") or {}).items()}}
    if cfg.get("network_mode"):
        mode = str(cfg["network_mode"])
        if mode.startswith("service:"):
            raise ConfigError(f"service {service.name!r}: network_mode service: is resolved by up, not here")
        host["NetworkMode"] = mode
    elif service.networks:
        host["NetworkMode"] = project.network_name(next(iter(service.networks)))
    if cfg.get("devices"):
        host["Devices"] = [_device(d) for d in cfg["devices"]]
    return host


def _device(spec: Any) -> dict[str, str]:
    if isinstance(spec, dict):
        return {"PathOnHost": spec["source"], "PathInContainer": spec.get("target", spec["source"]),
                "CgroupPermissions": spec.get("permissions", "rwm")}
    parts = str(spec).split(":")
    return {"PathOnHost": parts[0], "PathInContainer": parts[1] if len(parts) > 1 else parts[0],
            "CgroupPermissions": parts[2] if len(parts) > 2 else "rwm"}
