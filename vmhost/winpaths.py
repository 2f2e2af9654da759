"""Windows paths as a WSL distro sees them: the client translates bind mounts before berthd sees them.

WSL mounts each fixed drive at /mnt/<letter> (its default automount root), so C:\\Users\\me\\app is
/mnt/c/Users/me/app inside Berth's distro. One translation serves both clients: Berth's own (the CLI and
the desktop, through `for_engine`, when the engine they talk to is a Berth WSL machine) and the named-pipe
relay that the user's docker CLI reaches (vmhost.npipe, through `translate_create`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_DRIVE = re.compile(r"^([A-Za-z]):(?:[\\/]|$)")
_WSL_SHARE = re.compile(r"^[\\/]{2}(?:wsl\$|wsl\.localhost)[\\/][^\\/]+(?P<rest>(?:[\\/].*)?)$", re.IGNORECASE)


def is_windows_path(path: str) -> bool:
    return bool(_DRIVE.match(path) or _WSL_SHARE.match(path))


def to_wsl(path: str, mount_root: str = "/mnt") -> str:
    """C:\\Users\\me\\app -> /mnt/c/Users/me/app; \\\\wsl$\\distro\\x -> /x; a POSIX path is returned as is."""
    share = _WSL_SHARE.match(path)
    if share:
        return share.group("rest").replace("\\", "/") or "/"
    drive = _DRIVE.match(path)
    if not drive:
        if path.startswith("\\\\"):
            raise ValueError(f"{path}: network shares are not visible in WSL; copy the files to a drive")
        return path
    rest = path[2:].replace("\\", "/").strip("/")
    parts = [p for p in rest.split("/") if p not in ("", ".")]
    return "/".join([mount_root.rstrip("/"), drive.group(1).lower(), *parts])


def translate_bind(spec: str) -> str:
    """A `-v`/Binds entry "SRC:DST[:OPTS]" with a Windows SRC rewritten for WSL; others unchanged.

    A drive letter's colon is not a separator: "C:\\app:/app:ro" is SRC C:\\app, DST /app, OPTS ro.
    """
    drive = _DRIVE.match(spec)
    head_len = 2 if drive else 0
    sep = spec.find(":", head_len)
    if sep < 0:
        return spec  # a volume-only spec ("/data"): nothing on the host
    source, rest = spec[:sep], spec[sep:]
    return (to_wsl(source) if is_windows_path(source) else source) + rest


def translate_binds(binds: list[str]) -> list[str]:
    return [translate_bind(b) for b in binds]


def _bind_sources(host: dict[str, Any]) -> list[str]:
    binds = [b for b in host.get("Binds") or [] if isinstance(b, str)]
    mounts = [str(m["Source"]) for m in host.get("Mounts") or []
              if isinstance(m, dict) and m.get("Type") == "bind" and isinstance(m.get("Source"), str)]
    return [*binds, *mounts]


def has_windows_binds(config: dict[str, Any]) -> bool:
    """Whether a create body binds a Windows path (C:\\..., \\\\wsl$\\...): what there is to translate."""
    host = config.get("HostConfig")
    if not isinstance(host, dict):
        return False
    return any(is_windows_path(spec) for spec in _bind_sources(host))


def translate_create(config: dict[str, Any]) -> dict[str, Any]:
    """A `POST /containers/create` body with its Windows bind sources as the WSL distro sees them:
    HostConfig.Binds and bind Mounts (C:\\src -> /mnt/c/src). `config` itself when nothing changes; else
    a copy (the caller's body is left as it was). A path WSL cannot see is left for berthd to answer."""
    host = config.get("HostConfig")
    if not isinstance(host, dict) or not has_windows_binds(config):
        return config
    host = dict(host)
    binds = host.get("Binds") or []
    if binds:
        host["Binds"] = [translate_bind(b) if isinstance(b, str) else b for b in binds]
    mounts = host.get("Mounts") or []
    if mounts:
        host["Mounts"] = [_translate_mount(m) for m in mounts]
    return {**config, "HostConfig": host}


def _translate_mount(mount: Any) -> Any:
    if not isinstance(mount, dict) or mount.get("Type") != "bind":
        return mount
    source = mount.get("Source")
    if not isinstance(source, str) or not is_windows_path(source):
        return mount
    return {**mount, "Source": to_wsl(source)}


def is_wsl_machine_engine(url: str, machines_root: Path | None = None) -> bool:
    """Whether `url` is the engine of a Berth machine on the WSL backend (its tunnel's end, or a pipe its
    supervisor serves): dockerd, Docker Desktop and QEMU machines see the host's paths as they are."""
    from vmhost.localend import LocalEnd
    from vmhost.machine import MachineError
    from vmhost.machines import Machines

    wanted = url.rstrip("/")
    machines = Machines(machines_root)
    try:
        for machine in machines.all():
            if machine.backend != "wsl":
                continue
            if wanted == machine.docker_host:
                return True
            # Pipes are asked about only for a pipe URL: the status reads the supervisor's pid.
            if wanted.startswith("npipe:") and wanted in (
                    LocalEnd("npipe", pipe).docker_host for pipe in machines.status(machine.name).pipes):
                return True
    except (OSError, ValueError, MachineError):  # an unreadable machine is not this engine
        return False
    return False


def for_engine(config: dict[str, Any], url: str, machines_root: Path | None = None) -> dict[str, Any]:
    """The create body Berth's own client sends to the engine at `url`: Windows bind paths translated when
    that engine is a Berth WSL machine, else `config` unchanged. Machines are looked up only when there is
    a Windows path to translate, so other creates cost nothing."""
    if not has_windows_binds(config) or not is_wsl_machine_engine(url, machines_root):
        return config
    return translate_create(config)
