"""Typed read models: an engine's answers parsed once, at the edge, into values, as docker-py's
models sit on its API mixins. `EngineClient`'s methods still return the API's dicts (the desktop's
Qt models take those as they come); callers that reason about the answer (compose) parse them here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class PortMapping:
    """One entry of a container's `Ports`: a container port, published on the host or not."""

    private: int
    protocol: str = "tcp"
    public: int | None = None
    ip: str = ""

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> PortMapping:
        public = item.get("PublicPort")
        return cls(private=_int(item.get("PrivatePort")), protocol=str(item.get("Type") or "tcp"),
                   public=_int(public) if public else None, ip=str(item.get("IP") or ""))

    def __str__(self) -> str:
        """As `docker ps` prints it: "0.0.0.0:8080->80/tcp", or "80/tcp" when not published."""
        inner = f"{self.private}/{self.protocol}"
        return f"{self.ip or '0.0.0.0'}:{self.public}->{inner}" if self.public else inner


@dataclass(frozen=True, slots=True)
class ContainerSummary:
    """One entry of `/containers/json`."""

    id: str
    name: str  # the first name, without its "/"
    image: str
    state: str  # created, running, paused, restarting, exited, dead
    status: str  # the engine's words: "Up 3 seconds (healthy)"
    ports: tuple[PortMapping, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> ContainerSummary:
        names = item.get("Names") or [""]
        labels = item.get("Labels") or {}
        return cls(id=str(item.get("Id", "")), name=str(names[0]).lstrip("/"), image=str(item.get("Image", "")),
                   state=str(item.get("State", "")), status=str(item.get("Status", "")),
                   ports=tuple(PortMapping.from_api(p) for p in item.get("Ports") or [] if isinstance(p, Mapping)),
                   labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {})


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
