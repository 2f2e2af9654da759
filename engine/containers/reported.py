"""A container's HostConfig and Config as dockerd reports them in inspect.

Clients read these back and compare (docker-compose's recreate checks, docker-py's `run()`
picking whether to read logs by `LogConfig.Type`, test suites asserting defaults), so every
field dockerd lists is present, with dockerd's default where the request left it out, and
what the request did give is returned as given. The stored settings stay what the client
sent: defaults are filled in here, on the way out, so changing one never rewrites rows.
"""

from __future__ import annotations

import copy
from typing import Any

from engine.runtime.spec import DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS

DEFAULT_SHM_SIZE = 64 * 1024 * 1024
DEFAULT_LOG_DRIVER = "json-file"

# dockerd 20.10's HostConfig for a request that set nothing (dockerd lists these keys always).
_HOST_CONFIG_DEFAULTS: dict[str, Any] = {
    "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": DEFAULT_LOG_DRIVER, "Config": {}},
    "NetworkMode": "bridge", "PortBindings": None, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
    "AutoRemove": False, "VolumeDriver": "", "VolumesFrom": None, "ConsoleSize": [0, 0],
    "CapAdd": None, "CapDrop": None, "CgroupnsMode": "host", "Dns": None, "DnsOptions": None,
    "DnsSearch": None, "ExtraHosts": None, "GroupAdd": None, "IpcMode": "private", "Cgroup": "",
    "Links": None, "OomScoreAdj": 0, "PidMode": "", "Privileged": False, "PublishAllPorts": False,
    "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "", "UsernsMode": "", "ShmSize": DEFAULT_SHM_SIZE,
    "Runtime": "runc", "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "",
    "BlkioWeight": 0, "BlkioWeightDevice": None, "BlkioDeviceReadBps": None, "BlkioDeviceWriteBps": None,
    "BlkioDeviceReadIOps": None, "BlkioDeviceWriteIOps": None, "CpuPeriod": 0, "CpuQuota": 0,
    "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": None,
    "DeviceCgroupRules": None, "DeviceRequests": None, "KernelMemory": 0, "KernelMemoryTCP": 0,
    "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": None, "OomKillDisable": False,
    "PidsLimit": None, "Ulimits": None, "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0,
    "IOMaximumBandwidth": 0, "MaskedPaths": None, "ReadonlyPaths": None,
}

# Config keys dockerd always lists; the others (ExposedPorts, Healthcheck, MacAddress, StopSignal,
# StopTimeout, NetworkDisabled, ArgsEscaped, Shell) only when set.
_CONFIG_DEFAULTS: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None, "Cmd": None,
    "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": {},
}
_CONFIG_OMITTED_WHEN_EMPTY = ("ExposedPorts", "Healthcheck", "MacAddress", "StopSignal", "StopTimeout",
                              "NetworkDisabled", "ArgsEscaped", "Shell")


def log_driver(host_config: dict[str, Any]) -> str:
    """The logging driver's name as dockerd names it: json-file when none was asked for."""
    cfg = host_config.get("LogConfig")
    driver = cfg.get("Type") if isinstance(cfg, dict) else None
    return str(driver) if driver else DEFAULT_LOG_DRIVER


def host_config(stored: dict[str, Any], *, runtime: str, cgroupns: str) -> dict[str, Any]:
    """HostConfig with every key dockerd lists; `runtime` and `cgroupns` are this engine's."""
    out = copy.deepcopy(_HOST_CONFIG_DEFAULTS)
    out["Runtime"] = runtime
    out["CgroupnsMode"] = cgroupns
    privileged = bool(stored.get("Privileged"))
    if not privileged:
        out["MaskedPaths"] = list(DEFAULT_MASKED_PATHS)
        out["ReadonlyPaths"] = list(DEFAULT_READONLY_PATHS)
    for key, value in stored.items():
        if value is None and key in out and out[key] is not None:
            continue  # null in the request means "the default", as dockerd reads it
        out[key] = copy.deepcopy(value)
    raw_log = out.get("LogConfig")
    log_cfg: dict[str, Any] = raw_log if isinstance(raw_log, dict) else {}
    out["LogConfig"] = {"Type": log_driver(stored), "Config": dict(log_cfg.get("Config") or {})}
    if not out.get("IpcMode"):
        out["IpcMode"] = "private"
    if not out.get("ShmSize"):
        out["ShmSize"] = DEFAULT_SHM_SIZE
    if not out.get("Runtime"):
        out["Runtime"] = runtime
    if not out.get("CgroupnsMode"):
        out["CgroupnsMode"] = cgroupns
    if out.get("NetworkMode") in ("", "default"):
        out["NetworkMode"] = "bridge"
    raw_policy = out.get("RestartPolicy")
    policy: dict[str, Any] = raw_policy if isinstance(raw_policy, dict) else {}
    out["RestartPolicy"] = {"Name": policy.get("Name") or "no",
                            "MaximumRetryCount": int(policy.get("MaximumRetryCount") or 0)}
    return out


def config(stored: dict[str, Any]) -> dict[str, Any]:
    """Config with every key dockerd lists, and the optional ones only when they hold something."""
    out = copy.deepcopy(_CONFIG_DEFAULTS)
    for key, value in stored.items():
        if key in _CONFIG_OMITTED_WHEN_EMPTY and value in (None, "", {}, [], False, 0):
            continue
        if value is None and key in out and out[key] is not None:
            continue
        out[key] = copy.deepcopy(value)
    health = out.get("Healthcheck")
    if isinstance(health, dict):
        # dockerd's HealthConfig fields are all omitempty: what was sent, nulls and zeros left out
        out["Healthcheck"] = {k: v for k, v in health.items() if v not in (None, 0, [], "")}
    return out


# Every key a create request may carry, as dockerd spells them (bodies are matched to these
# without regard to case, as Go's JSON decoding does).
CONFIG_KEYS = (*_CONFIG_DEFAULTS, *_CONFIG_OMITTED_WHEN_EMPTY, "HostConfig", "NetworkingConfig", "Platform")
HOST_CONFIG_KEYS = (*_HOST_CONFIG_DEFAULTS, "Mounts", "Tmpfs", "Init", "Sysctls", "StorageOpt", "Annotations",
                    "OomScoreAdj", "PidsLimit", "ExtraHosts")
