"""Create: a request's Config and HostConfig merged with the image's defaults and checked, as
dockerd's daemon/create.go, before anything is stored. Pure: no service state, no I/O."""

from __future__ import annotations

import os
from typing import Any

from engine.containers import hostconfig
from engine.containers.logs import LogSettings
from engine.containers.restart import restart_policy
from engine.errors import InvalidArgument


def merge_config(image: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
    """The container's Config: the request over the image's defaults, as Docker merges them."""
    cfg = {k: v for k, v in req.items() if k != "HostConfig" and k != "NetworkingConfig"}
    for key in ("Cmd", "Entrypoint", "Env"):
        value = cfg.get(key)
        if isinstance(value, str):
            cfg[key] = [value]
        elif value is not None and not (isinstance(value, list) and all(isinstance(x, str) for x in value)):
            raise InvalidArgument(f"{key} must be a list of strings")
    if cfg.get("Entrypoint") is None:
        cfg["Entrypoint"] = image.get("Entrypoint")
        if not cfg.get("Cmd"):
            cfg["Cmd"] = image.get("Cmd")
    cfg["Env"] = merge_env(list(cfg.get("Env") or []), list(image.get("Env") or [])) or None
    for key in ("WorkingDir", "User", "StopSignal"):
        if not cfg.get(key) and image.get(key):
            cfg[key] = image[key]
    if not cfg.get("Healthcheck") and image.get("Healthcheck"):
        cfg["Healthcheck"] = image["Healthcheck"]
    labels = dict(image.get("Labels") or {})
    labels.update(cfg.get("Labels") or {})
    cfg["Labels"] = labels
    exposed = dict(image.get("ExposedPorts") or {})
    exposed.update(cfg.get("ExposedPorts") or {})
    cfg["ExposedPorts"] = exposed or None
    cfg["Image"] = req.get("Image")
    return cfg


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


def merge_env(request: list[str], image: list[str]) -> list[str]:
    """As dockerd merges them: the request's entries as given (a bare `NAME` included, which
    unsets it), then the image's whose names the request does not mention."""
    named = {item.partition("=")[0] for item in request}
    return request + [item for item in image if item.partition("=")[0] not in named]


def process_env(config_env: list[str], *, home: str, hostname: str) -> list[str]:
    """The process's environment as dockerd builds it: HOSTNAME and HOME unless Config.Env sets
    them, then Config.Env, where a bare `NAME` (no `=`) removes the variable."""
    env = {"HOSTNAME": hostname, "HOME": home}
    for item in config_env:
        name, sep, value = item.partition("=")
        if sep:
            env[name] = value
        else:
            env.pop(name, None)
    return [f"{k}={v}" for k, v in env.items()]


def check_workdir(workdir: object) -> None:
    """Refuse a working directory the runtime would open on the host's side: /proc/<pid>/fd/<n>
    is a descriptor leaked into the container (CVE-2024-21626), never a directory of its own."""
    if workdir in (None, ""):
        return
    if not isinstance(workdir, str):
        raise InvalidArgument("WorkingDir must be a string (an absolute path)")
    if not workdir.startswith("/"):
        raise InvalidArgument(f"the working directory '{workdir}' is invalid, it needs to be an absolute path")
    parts = [p for p in os.path.normpath(workdir).split("/") if p]
    if len(parts) >= 3 and parts[0] == "proc" and parts[2] in ("fd", "fdinfo", "cwd", "root"):
        raise InvalidArgument(f"the working directory '{workdir}' is invalid: a path under /proc/<pid>/{parts[2]} "
                              "refers to the runtime's own descriptors, not a directory in the container")


def normalise_host_config(hc: dict[str, Any]) -> dict[str, Any]:
    out = dict(hc)
    out.setdefault("NetworkMode", "bridge" if hc.get("NetworkMode") in (None, "", "default") else hc["NetworkMode"])
    if out.get("NetworkMode") in ("", "default"):
        out["NetworkMode"] = "bridge"
    if not out.get("RestartPolicy"):
        out["RestartPolicy"] = {"Name": "no", "MaximumRetryCount": 0}
    return out


def check_host_config(hc: dict[str, Any], runtime_name: str) -> list[str]:
    """Refuse, at create, what a start would stumble on; the warnings dockerd gives."""
    policy = restart_policy(hc)
    if hc.get("AutoRemove") and policy.name != "no":
        raise InvalidArgument("conflicting options: cannot specify both --restart and --rm")
    LogSettings.from_host_config(hc)
    check_runtime(hc, runtime_name)
    for key in NAMESPACE_MODES:
        namespace_mode(hc, key)
    paths_or_none(hc.get("MaskedPaths"))
    paths_or_none(hc.get("ReadonlyPaths"))
    for key in ("Memory", "MemorySwap", "PidsLimit", "CpuShares", "NanoCpus"):  # int()-ed at every start
        value = hc.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidArgument(f"HostConfig.{key} must be an integer, not {value!r}")
    return hostconfig.parse(hc).warnings


def check_runtime(host_config: dict[str, Any], runtime_name: str) -> None:
    """HostConfig.Runtime names the OCI runtime: this engine runs one, chosen at its start."""
    asked = host_config.get("Runtime")
    if asked in (None, "", runtime_name):
        return
    raise InvalidArgument(f"Unknown runtime specified {asked}: this engine runs containers with "
                          f"{runtime_name} (berthd --runtime picks it)")
