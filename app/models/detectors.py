"""Detectors of a container in trouble, fed by the stats reader's samples and the engine's events:
a restart loop, an OOM kill, memory climbing steadily, a health check turning unhealthy.

Pure and clocked by the data (event and sample times), so each is unit-tested with made-up input.
Each finding is a `Detection` said once (a detector re-arms when the trouble has passed).
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field

from app.display import human_size
from app.models.metrics_events import DIE, HEALTH, OOM, RESTART, START, ContainerEvent

RESTART_LOOP, OOM_KILL, MEMORY_CLIMB, UNHEALTHY = "restart-loop", "oom-kill", "memory-climb", "unhealthy"


@dataclass(frozen=True, slots=True)
class Detection:
    container: str
    kind: str
    t: float
    title: str
    message: str

    @property
    def key(self) -> str:
        """One notice per container and kind: a later one replaces it."""
        return f"detector:{self.kind}:{self.container}"

    def event(self) -> ContainerEvent:
        """The mark it leaves on the graphs."""
        words = {RESTART_LOOP: "restart loop", OOM_KILL: "OOM kill", MEMORY_CLIMB: "memory climbing",
                 UNHEALTHY: "unhealthy"}
        return ContainerEvent(self.t, self.container, "alert", words.get(self.kind, self.kind))


@dataclass
class RestartLoop:
    """`restarts` starts that follow an exit within `window` seconds. Said again only after a
    quiet `window`."""

    restarts: int = 3
    window: float = 300.0
    _starts: dict[str, deque[float]] = field(default_factory=dict)
    _died: set[str] = field(default_factory=set)
    _fired: dict[str, float] = field(default_factory=dict)

    def on_event(self, event: ContainerEvent) -> Detection | None:
        id = event.container
        if event.kind == DIE:
            self._died.add(id)
            return None
        if not (event.kind == RESTART or (event.kind == START and id in self._died)):
            return None
        self._died.discard(id)
        starts = self._starts.setdefault(id, deque())
        if starts and starts[-1] == event.t and event.kind == START:
            return None  # docker restart sends restart and start: one restart
        starts.append(event.t)
        while starts and starts[0] < event.t - self.window:
            starts.popleft()
        fired = self._fired.get(id)
        if len(starts) < self.restarts or (fired is not None and event.t - fired < self.window):
            return None
        self._fired[id] = event.t
        name = event.name or id[:12]
        minutes = self.window / 60
        return Detection(id, RESTART_LOOP, event.t, f"{name} is restarting in a loop",
                         f"It restarted {len(starts)} times in {minutes:g} minutes. Its logs say why it exits.")


@dataclass
class OomKill:
    """The kernel killed the container for memory (an `oom` event, or a die the engine reports as
    OOMKilled); one notice per kill even when both arrive."""

    dedupe: float = 30.0
    _last: dict[str, float] = field(default_factory=dict)

    def on_event(self, event: ContainerEvent, limit: int = 0) -> Detection | None:
        if event.kind != OOM:
            return None
        last = self._last.get(event.container)
        self._last[event.container] = event.t
        if last is not None and abs(event.t - last) < self.dedupe:
            return None
        name = event.name or event.container[:12]
        room = f" of its {human_size(limit)} limit" if limit else ""
        return Detection(event.container, OOM_KILL, event.t, f"{name} ran out of memory",
                         f"The kernel killed it for using all{room}. Raise its memory limit or find the leak.")


@dataclass
class Unhealthy:
    """A health check turning unhealthy (not one that stays so)."""

    _status: dict[str, str] = field(default_factory=dict)

    def on_event(self, event: ContainerEvent) -> Detection | None:
        if event.kind == START:
            self._status.pop(event.container, None)
        if event.kind != HEALTH:
            return None
        before = self._status.get(event.container)
        self._status[event.container] = event.detail
        if event.detail != "unhealthy" or before == "unhealthy":
            return None
        name = event.name or event.container[:12]
        return Detection(event.container, UNHEALTHY, event.t, f"{name} is unhealthy",
                         "Its health check is failing.")


@dataclass
class MemoryClimb:
    """Memory rising steadily over `window` seconds: the window cut in `steps` slices, each slice's
    average above the one before (one dip forgiven), ending at least `growth` (a fraction) and
    `minimum` bytes above where it began. A container's garbage collector makes a saw, not a climb.
    Re-armed once memory falls back below where the climb was seen."""

    window: float = 600.0
    steps: int = 10
    growth: float = 0.10
    minimum: int = 4 << 20
    every: float = 5.0  # keep one sample per this many seconds: a window is a few hundred points
    _samples: dict[str, deque[tuple[float, int]]] = field(default_factory=dict)
    _fired_at: dict[str, int] = field(default_factory=dict)

    def on_sample(self, id: str, t: float, memory: int, name: str = "") -> Detection | None:
        samples = self._samples.setdefault(id, deque())
        if samples and t - samples[-1][0] < self.every:
            return None
        samples.append((t, memory))
        while samples and samples[0][0] < t - self.window:
            samples.popleft()
        fired = self._fired_at.get(id)
        if fired is not None:
            if memory < fired:
                del self._fired_at[id]
            return None
        if samples[-1][0] - samples[0][0] < self.window - self.every:
            return None
        start = samples[0][0]
        width = (t - start) / self.steps
        slices: list[list[int]] = [[] for _ in range(self.steps)]
        for when, value in samples:
            slices[min(int((when - start) / width), self.steps - 1)].append(value)
        if any(not values for values in slices):
            return None  # a gap in the readings: no verdict
        means = [sum(values) / len(values) for values in slices]
        dips = sum(1 for a, b in itertools.pairwise(means) if b <= a)
        first, last = means[0], means[-1]
        if dips > 1 or last - first < max(self.minimum, first * self.growth):
            return None
        self._fired_at[id] = memory
        label = name or id[:12]
        return Detection(id, MEMORY_CLIMB, t, f"{label}'s memory keeps climbing",
                         f"From {human_size(int(first))} to {human_size(int(last))} in "
                         f"{self.window / 60:g} minutes without falling back: a leak?")

    def forget(self, id: str) -> None:
        self._samples.pop(id, None)
        self._fired_at.pop(id, None)


@dataclass
class Detectors:
    """All four, fed from one place (the stats reader)."""

    restart_loop: RestartLoop = field(default_factory=RestartLoop)
    oom: OomKill = field(default_factory=OomKill)
    unhealthy: Unhealthy = field(default_factory=Unhealthy)
    memory: MemoryClimb = field(default_factory=MemoryClimb)

    def on_event(self, event: ContainerEvent, limit: int = 0) -> list[Detection]:
        if event.kind in (START, DIE):
            self.memory.forget(event.container)  # a new run's memory starts over
        found = [self.restart_loop.on_event(event), self.oom.on_event(event, limit), self.unhealthy.on_event(event)]
        return [d for d in found if d is not None]

    def on_sample(self, id: str, t: float, memory: int, name: str = "") -> list[Detection]:
        found = self.memory.on_sample(id, t, memory, name)
        return [found] if found is not None else []
