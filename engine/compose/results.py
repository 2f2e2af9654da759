"""What compose's operations report: a step's progress, a project's containers as `ps` shows them,
projects found on an engine, log lines. Plain values with no I/O, so a reader of them (the desktop's
compose model) does not load the client and its HTTP stack."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.client.models import ContainerSummary
from engine.compose.model import LABEL_CONFIG_HASH, LABEL_NUMBER, LABEL_ONEOFF, LABEL_SERVICE


@dataclass(frozen=True)
class Progress:
    """One step of an operation: `Container web-1 Started`, `Network app_default Created`."""

    kind: str  # "container", "network", "volume", "image", "project"
    name: str
    action: str
    detail: str = ""

    def __str__(self) -> str:
        text = f"{self.kind.capitalize()} {self.name}  {self.action}"
        return f"{text}: {self.detail}" if self.detail else text


ProgressCallback = Callable[[Progress], None]

@dataclass(frozen=True)
class ContainerState:
    """A project's container as `ps` shows it."""

    id: str
    name: str
    service: str
    number: int
    image: str
    state: str  # running, exited, created, paused, restarting, dead
    status: str  # the engine's words: "Up 3 seconds (healthy)"
    ports: list[str]
    oneoff: bool
    config_hash: str
    labels: dict[str, str] = field(repr=False)

    @property
    def health(self) -> str:
        for word in ("healthy", "unhealthy", "starting"):
            if f"({word})" in self.status or f"(health: {word})" in self.status:
                return word
        return ""

    @classmethod
    def from_summary(cls, item: dict[str, Any]) -> ContainerState:
        summary = ContainerSummary.from_api(item)
        labels = dict(summary.labels)
        try:
            number = int(labels.get(LABEL_NUMBER, "0"))
        except ValueError:
            number = 0
        return cls(id=summary.id, name=summary.name, service=labels.get(LABEL_SERVICE, ""), number=number,
                   image=summary.image, state=summary.state, status=summary.status,
                   ports=sorted({str(port) for port in summary.ports}),
                   oneoff=labels.get(LABEL_ONEOFF, "False").lower() == "true",
                   config_hash=labels.get(LABEL_CONFIG_HASH, ""), labels=labels)


@dataclass(frozen=True)
class ProjectSummary:
    """A project found on an engine by its labels (made by Berth or by Docker Compose)."""

    name: str
    working_dir: str
    config_files: list[str]
    services: list[str]
    running: int
    total: int

@dataclass(frozen=True)
class LogLine:
    container: str
    service: str
    text: str
    stream: str = "stdout"
