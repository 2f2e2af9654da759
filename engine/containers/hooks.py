"""What the container service asks of networking and of storage mounts.

The container service owns the lifecycle; these two collaborators own their resources
(network namespaces, veths, addresses and port rules; volumes, binds and tmpfs). Each
hook is called at a fixed point of the lifecycle, so the services stay testable apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from engine.containers.model import Container
from engine.runtime.spec import Mount
from engine.shapes import EndpointSettings, MountPoint


@dataclass
class NetworkAttachment:
    """How a starting container is networked."""

    netns_path: str | None = None  # join this namespace; None: a new, empty one (loopback only)
    host_network: bool = False  # share the host's namespace (no network namespace at all)
    hosts: list[tuple[str, str]] = field(default_factory=list)  # extra (address, names) /etc/hosts lines
    resolv_conf: str | None = None  # /etc/resolv.conf contents; None: a copy of the host's
    # The host as the container reaches it (its bridge's address): `host-gateway` in ExtraHosts, and
    # host.docker.internal, as Docker Desktop provides. "" when the container has no way to the host.
    host_gateway: str = ""


class ContainerNetworking(Protocol):
    def validate(self, c: Container, endpoints_config: dict[str, Any] | None = None) -> None:
        """At create: refuse bad network settings (unknown network, bad port spec) with a clear error.

        `endpoints_config` is the request's NetworkingConfig.EndpointsConfig (aliases, static addresses),
        which the stored Config does not keep."""

    async def attach(self, c: Container) -> NetworkAttachment:
        """Before the runtime creates the container: namespace, interfaces, addresses, ports."""

    async def detach(self, c: Container) -> None:
        """After the container exited: undo what attach did (idempotent)."""

    async def release(self, c: Container) -> None:
        """The container is being removed: forget its endpoints and reservations."""

    def settings(self, c: Container) -> dict[str, Any]:
        """NetworkSettings for inspect."""

    def ports(self, c: Container) -> list[dict[str, Any]]:
        """The Ports list of GET /containers/json."""

    def summaries(self, containers: list[Container]) -> dict[str, dict[str, EndpointSettings]]:
        """NetworkSettings.Networks for each container, in one go (GET /containers/json)."""


class ContainerMounts(Protocol):
    def validate(self, c: Container) -> None:
        """At create: refuse malformed Binds/Mounts/Tmpfs with a message that says what is wrong."""

    def prepare(self, c: Container, rootfs: Path) -> list[Mount]:
        """After the rootfs is mounted, before the bundle is written: the container's mounts."""

    def release(self, c: Container) -> None:
        """After the container exited."""

    def remove(self, c: Container, remove_anonymous: bool) -> None:
        """The container is being removed (`v=1` also removes its anonymous volumes)."""

    def inspect(self, c: Container) -> list[MountPoint]:
        """The Mounts list of inspect and of GET /containers/json."""

    def host_binds(self, c: Container) -> list[Mount]:
        """Binds and volumes as host directories at their targets (files of stopped containers)."""
