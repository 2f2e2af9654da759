"""The engine's event bus: every state change is published here and fanned out to
`/events` subscribers, with a bounded history for `since` queries."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from engine.shapes import EventMessage

HISTORY = 1024


@dataclass(frozen=True)
class Event:
    type: str  # container, image, volume, network, daemon
    action: str  # create, start, die, destroy, ...
    actor_id: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    time_nano: int = field(default_factory=time.time_ns)

    def to_api(self) -> EventMessage:
        """The EventMessage shape, with the legacy top-level fields the CLI still reads."""
        body: EventMessage = {
            "Type": self.type,
            "Action": self.action,
            "Actor": {"ID": self.actor_id, "Attributes": dict(self.attributes)},
            "scope": "local",
            "time": self.time_nano // 1_000_000_000,
            "timeNano": self.time_nano,
        }
        if self.type == "container":
            body["status"] = self.action
            body["id"] = self.actor_id
            body["from"] = self.attributes.get("image", "")
        return body


class EventFilter:
    """Docker's event filters: type, container, image, event/action, label."""

    def __init__(self, filters: Mapping[str, list[str]]) -> None:
        self.filters = {k: set(v) for k, v in filters.items() if v}

    def matches(self, ev: Event) -> bool:
        f = self.filters
        if "type" in f and ev.type not in f["type"]:
            return False
        if "event" in f and ev.action not in f["event"] and ev.action.split(":")[0] not in f["event"]:
            return False
        if "container" in f:
            if ev.type != "container":
                return False
            name = ev.attributes.get("name", "")
            if not any(ev.actor_id.startswith(c) or c == name for c in f["container"]):
                return False
        if "image" in f:
            img = ev.attributes.get("image", "") if ev.type == "container" else ev.actor_id
            if img not in f["image"] and not any(img.startswith(i) for i in f["image"]):
                return False
        if "label" in f:
            for lab in f["label"]:
                key, _, val = lab.partition("=")
                if key not in ev.attributes or (val and ev.attributes[key] != val):
                    return False
        return True


class EventBus:
    def __init__(self) -> None:
        self._history: deque[Event] = deque(maxlen=HISTORY)
        self._subscribers: set[asyncio.Queue[Event]] = set()

    def publish(self, type_: str, action: str, actor_id: str, attributes: Mapping[str, str] | None = None) -> None:
        ev = Event(type_, action, actor_id, dict(attributes or {}))
        self._history.append(ev)
        for q in self._subscribers:
            q.put_nowait(ev)

    @property
    def listeners(self) -> int:
        """How many /events streams are open (dockerd's NEventsListener)."""
        return len(self._subscribers)

    def since(self, since_nano: int, until_nano: int | None = None) -> list[Event]:
        return [e for e in self._history
                if e.time_nano >= since_nano and (until_nano is None or e.time_nano <= until_nano)]

    async def subscribe(self) -> AsyncIterator[Event]:
        q: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.add(q)
        try:
            while True:
                yield await q.get()
        finally:
            self._subscribers.discard(q)
