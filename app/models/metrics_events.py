"""What happened to a container, as the graphs mark it: an `/events` entry read once into a
`ContainerEvent` (start, die with its exit code, OOM, restart, health) or a detector's finding."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

START, DIE, OOM, RESTART, HEALTH, ALERT = "start", "die", "oom", "restart", "health", "alert"


@dataclass(frozen=True, slots=True)
class ContainerEvent:
    """`kind` is one of the names above; `detail` the exit code, the health status or the alert."""

    t: float
    container: str
    kind: str
    detail: str = ""
    name: str = ""

    def label(self) -> str:
        """The words a graph's mark carries."""
        if self.kind == DIE:
            return f"exited {self.detail}" if self.detail else "exited"
        if self.kind == HEALTH:
            return self.detail or "health"
        if self.kind == OOM:
            return "OOM killed"
        return self.detail if self.kind == ALERT else self.kind


def event_from_api(raw: Mapping[str, Any]) -> ContainerEvent | None:
    """A container `/events` entry as a `ContainerEvent`, None for actions the graphs do not mark."""
    action = str(raw.get("Action") or raw.get("status") or "")
    actor = raw.get("Actor") or {}
    id = str(actor.get("ID") or raw.get("id") or "")
    attributes = actor.get("Attributes") or {}
    if not id or not isinstance(attributes, Mapping):
        return None
    nanos = raw.get("timeNano")
    t = int(nanos) / 1e9 if isinstance(nanos, int) and nanos > 0 else float(raw.get("time") or 0)
    name = str(attributes.get("name", ""))
    if action in (START, OOM, RESTART):
        return ContainerEvent(t, id, action, "", name)
    if action == DIE:
        return ContainerEvent(t, id, DIE, str(attributes.get("exitCode", "")), name)
    if action.startswith("health_status"):
        status = action.partition(":")[2].strip()
        return ContainerEvent(t, id, HEALTH, status, name) if status else None
    return None
