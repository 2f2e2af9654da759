"""The `berth` docker context: the user's own docker CLI reaching Berth's engine.

The docker CLI keeps contexts in its config directory ($DOCKER_CONFIG, else ~/.docker):
`contexts/meta/<sha256 of the name>/meta.json` holds the endpoint, and `config.json`'s
`currentContext` names the one used when neither --context, DOCKER_CONTEXT nor DOCKER_HOST is set.
Berth writes that store directly, so no docker binary is needed to set it up.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CONTEXT = "berth"
DESCRIPTION = "Berth"


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """The docker CLI's config directory: $DOCKER_CONFIG, else ~/.docker (as the CLI itself decides)."""
    env = os.environ if env is None else env
    configured = env.get("DOCKER_CONFIG")
    return Path(configured) if configured else Path.home() / ".docker"


def meta_dir(name: str = CONTEXT, config: Path | None = None) -> Path:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return (config or config_dir()) / "contexts" / "meta" / digest


def _write_json(path: Path, data: dict[str, Any], mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".berth-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent="\t")
    tmp.replace(path)


def _read_config(config: Path) -> dict[str, Any]:
    try:
        data = json.loads((config / "config.json").read_text())
    except FileNotFoundError:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{config / 'config.json'} is not a JSON object")
    return data


def ensure(docker_host: str, name: str = CONTEXT, config: Path | None = None) -> Path:
    """Create or update context `name` pointing at `docker_host` (unix://, npipe:// or tcp://); its meta.json."""
    meta = {
        "Name": name,
        "Metadata": {"Description": DESCRIPTION},
        "Endpoints": {"docker": {"Host": docker_host, "SkipTLSVerify": False}},
    }
    path = meta_dir(name, config) / "meta.json"
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()) == meta:
            return path  # already right: leave the file (and its mtime) alone
    _write_json(path, meta)
    return path


def endpoint(name: str = CONTEXT, config: Path | None = None) -> str | None:
    """The docker host context `name` points at, or None when there is no such context."""
    try:
        data = json.loads((meta_dir(name, config) / "meta.json").read_text())
        host = data["Endpoints"]["docker"]["Host"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return host if isinstance(host, str) else None


def current(config: Path | None = None) -> str:
    """The CLI's current context ("default" when config.json names none)."""
    value = _read_config(config or config_dir()).get("currentContext")
    return value if isinstance(value, str) and value else "default"


def use(name: str = CONTEXT, config: Path | None = None) -> None:
    """Make `name` the CLI's current context, keeping every other setting in config.json."""
    config = config or config_dir()
    data = _read_config(config)
    if data.get("currentContext") == name:
        return
    data["currentContext"] = name
    # config.json may hold registry credentials: owner-only, like the CLI writes it.
    _write_json(config / "config.json", data, mode=0o600)


def remove(name: str = CONTEXT, config: Path | None = None) -> bool:
    """Delete context `name` (and its TLS material); if it was current, the CLI falls back to default.
    Whether there was one to delete."""
    config = config or config_dir()
    meta = meta_dir(name, config)
    existed = meta.is_dir()
    shutil.rmtree(meta, ignore_errors=True)
    shutil.rmtree(config / "contexts" / "tls" / meta.name, ignore_errors=True)
    data = _read_config(config)
    if data.get("currentContext") == name:
        del data["currentContext"]
        _write_json(config / "config.json", data, mode=0o600)
    return existed


def remove_ours(name: str = CONTEXT, config: Path | None = None) -> bool:
    """Delete context `name` if Berth made it (its description says so): what uninstalling Berth does. A
    context of that name the user made is left alone. Whether one was removed."""
    try:
        data = json.loads((meta_dir(name, config) / "meta.json").read_text())
        ours = data["Metadata"]["Description"] == DESCRIPTION
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return remove(name, config) if ours else False


def forget_context(docker_host: str, name: str = CONTEXT, config: Path | None = None) -> bool:
    """Remove context `name` if it points at `docker_host` (a machine being removed); leave it otherwise."""
    if endpoint(name, config) != docker_host:
        return False
    return remove(name, config)
