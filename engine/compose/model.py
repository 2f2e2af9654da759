"""A loaded compose project: services, networks and volumes in one normal form, ready to run.

Each service's configuration is kept as a plain dict in the normal form `loader.normalize_service`
gives it (lists of ports and volumes as dicts, environment and labels as mappings, and so on), so
that it can be hashed, printed by `config` and compared.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.compose.errors import ConfigError

# Labels Docker Compose puts on what it creates; the same names let either tool recognise a project.
LABEL_PROJECT = "com.docker.compose.project"
LABEL_SERVICE = "com.docker.compose.service"
LABEL_NUMBER = "com.docker.compose.container-number"
LABEL_ONEOFF = "com.docker.compose.oneoff"
LABEL_CONFIG_HASH = "com.docker.compose.config-hash"
LABEL_WORKING_DIR = "com.docker.compose.project.working_dir"
LABEL_CONFIG_FILES = "com.docker.compose.project.config_files"
LABEL_VERSION = "com.docker.compose.version"
LABEL_NETWORK = "com.docker.compose.network"
LABEL_VOLUME = "com.docker.compose.volume"
LABEL_DEPENDS_ON = "com.docker.compose.depends_on"
LABEL_IMAGE = "com.docker.compose.image"
# The Compose version whose behaviour this implements; tools read the label as a semantic version.
COMPOSE_VERSION = "2.27.0"

# Keys that change how many containers run, not what each one is: changing them recreates nothing.
_NOT_HASHED = {"scale", "deploy", "profiles", "depends_on", "build", "pull_policy", "container_name"}


@dataclass
class Service:
    name: str
    config: dict[str, Any]

    @property
    def image(self) -> str:
        """The image the service runs: its `image`, or `<project>-<service>` for a built one."""
        return str(self.config["image"])

    @property
    def build(self) -> dict[str, Any] | None:
        build = self.config.get("build")
        return dict(build) if isinstance(build, dict) else None

    @property
    def depends_on(self) -> dict[str, dict[str, Any]]:
        return dict(self.config.get("depends_on") or {})

    @property
    def replicas(self) -> int:
        if "scale" in self.config:
            return int(self.config["scale"])
        deploy = self.config.get("deploy") or {}
        return int(deploy.get("replicas", 1) if isinstance(deploy, dict) else 1)

    @property
    def profiles(self) -> list[str]:
        return list(self.config.get("profiles") or [])

    @property
    def networks(self) -> dict[str, dict[str, Any]]:
        return dict(self.config.get("networks") or {})

    def config_hash(self) -> str:
        """What `up` compares with a container's `com.docker.compose.config-hash` label."""
        deploy = self.config.get("deploy")
        hashed = {key: value for key, value in self.config.items() if key not in _NOT_HASHED}
        if isinstance(deploy, dict):
            # Resource limits make a different container; the replica count does not.
            rest = {key: value for key, value in deploy.items() if key != "replicas"}
            if rest:
                hashed["deploy"] = rest
        encoded = json.dumps(hashed, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(encoded.encode()).hexdigest()


@dataclass
class Project:
    name: str
    working_dir: Path
    config_files: list[Path]
    services: dict[str, Service]
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Services left out because none of their profiles is active: still known, so `down` finds them.
    disabled: dict[str, Service] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def service(self, name: str) -> Service:
        try:
            return self.services[name]
        except KeyError:
            if name in self.disabled:
                raise ConfigError(f"service {name!r} is not enabled by any active profile") from None
            raise ConfigError(f"no such service: {name}") from None

    def all_service_names(self) -> set[str]:
        return set(self.services) | set(self.disabled)

    def network_name(self, key: str) -> str:
        """The engine's name of the project's network `key` (`<project>_<key>` unless it says otherwise)."""
        return str(self.networks.get(key, {}).get("name") or f"{self.name}_{key}")

    def volume_name(self, key: str) -> str:
        return str(self.volumes.get(key, {}).get("name") or f"{self.name}_{key}")

    def with_dependencies(self, names: list[str] | None) -> list[str]:
        """`names` (all services when None or empty) and everything they depend on, in start order."""
        wanted = names or list(self.services)
        seen: set[str] = set()
        order: list[str] = []

        def visit(name: str, chain: tuple[str, ...]) -> None:
            if name in chain:
                raise ConfigError(f"dependency cycle: {' -> '.join((*chain, name))}")
            if name in seen:
                return
            for dep in self.service(name).depends_on:
                visit(dep, (*chain, name))
            seen.add(name)
            order.append(name)

        for name in wanted:
            visit(name, ())
        return order

    def start_order(self, names: list[str] | None = None) -> list[str]:
        """The services named (all when None), dependencies first, without adding unnamed ones."""
        full = self.with_dependencies(names)
        keep = set(names) if names else set(full)
        return [name for name in full if name in keep]

    def to_dict(self) -> dict[str, Any]:
        """The resolved project as a compose file (what `config` prints)."""
        data: dict[str, Any] = {"name": self.name,
                                "services": {name: svc.config for name, svc in sorted(self.services.items())}}
        if self.networks:
            data["networks"] = self.networks
        if self.volumes:
            data["volumes"] = self.volumes
        return data
