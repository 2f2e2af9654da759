"""Detectors with made-up input: a restart loop, an OOM kill, memory climbing for ten minutes (and a
saw that is not a climb), a health check turning unhealthy; each said once."""

from __future__ import annotations

import random

import pytest

from app.models.detectors import MEMORY_CLIMB, OOM_KILL, RESTART_LOOP, UNHEALTHY, Detectors, MemoryClimb
from app.models.metrics_events import ContainerEvent, event_from_api

pytestmark = pytest.mark.unit

MB = 1 << 20


def ev(t: float, kind: str, detail: str = "") -> ContainerEvent:
    return ContainerEvent(t, "c1", kind, detail, "web")


def test_restart_loop_fires_once_at_the_third_restart_within_five_minutes() -> None:
    d = Detectors()
    found = []
    for i in range(6):
        found += d.on_event(ev(100 + i * 20, "die", "1"))
        found += d.on_event(ev(101 + i * 20, "start"))
    assert [f.kind for f in found] == [RESTART_LOOP]
    assert found[0].t == 141 and "restarting in a loop" in found[0].title
    assert found[0].event().kind == "alert" and found[0].event().label() == "restart loop"


def test_restarts_spread_over_more_than_the_window_are_no_loop() -> None:
    d = Detectors()
    found = []
    for i in range(6):
        found += d.on_event(ev(i * 200, "die", "1")) + d.on_event(ev(i * 200 + 1, "start"))
    assert found == []
    # A first start (no exit before it) is no restart either.
    assert Detectors().on_event(ev(0, "start")) == []


def test_oom_kill_once_even_when_event_and_state_both_say_it() -> None:
    d = Detectors()
    first = d.on_event(ev(10, "oom"), limit=32 * MB)
    assert [f.kind for f in first] == [OOM_KILL] and "33.6MB" in first[0].message
    assert d.on_event(ev(11, "oom")) == []
    assert [f.kind for f in d.on_event(ev(100, "oom"))] == [OOM_KILL]


def test_unhealthy_on_the_turn_only() -> None:
    d = Detectors()
    assert d.on_event(ev(1, "health", "healthy")) == []
    assert [f.kind for f in d.on_event(ev(2, "health", "unhealthy"))] == [UNHEALTHY]
    assert d.on_event(ev(3, "health", "unhealthy")) == []
    assert d.on_event(ev(4, "health", "healthy")) == []
    assert [f.kind for f in d.on_event(ev(5, "health", "unhealthy"))] == [UNHEALTHY]


def test_memory_climbing_for_ten_minutes_is_said_once() -> None:
    d = Detectors()
    rng = random.Random(7)
    found = []
    for t in range(0, 900):  # 50 MB climbing 40 kB a second, with noise
        found += d.on_sample("c1", 1000.0 + t, 50 * MB + t * 40_000 + rng.randint(0, 200_000), "web")
    assert [f.kind for f in found] == [MEMORY_CLIMB]
    assert 1000 + 590 <= found[0].t <= 1000 + 610  # as soon as ten minutes of climbing are seen
    assert "web's memory keeps climbing" in found[0].title


def test_a_saw_or_a_flat_line_is_no_climb() -> None:
    saw, flat, small = MemoryClimb(), MemoryClimb(), MemoryClimb()
    for t in range(0, 1800):
        assert saw.on_sample("c", t, 50 * MB + (t % 120) * 200_000) is None  # a GC saw
        assert flat.on_sample("c", t, 80 * MB) is None
        assert small.on_sample("c", t, 200 * MB + t * 1000) is None  # 1.8 MB over the window: under 10 %


def test_a_climb_rearms_after_memory_falls_back() -> None:
    climb = MemoryClimb()
    found = [climb.on_sample("c", t, 10 * MB + t * 20_000) for t in range(0, 700)]
    assert sum(f is not None for f in found) == 1
    assert climb.on_sample("c", 705, 5 * MB) is None  # fell back: re-armed
    found = [climb.on_sample("c", t, 5 * MB + (t - 700) * 20_000) for t in range(710, 1400)]
    assert sum(f is not None for f in found) == 1


def test_events_from_the_api() -> None:
    raw = {"Type": "container", "Action": "die", "timeNano": 1_700_000_000_500_000_000,
           "Actor": {"ID": "abc", "Attributes": {"name": "web", "exitCode": "137"}}}
    event = event_from_api(raw)
    assert event == ContainerEvent(1_700_000_000.5, "abc", "die", "137", "web")
    assert event.label() == "exited 137"
    health = event_from_api({"Action": "health_status: unhealthy", "time": 5, "Actor": {"ID": "abc"}})
    assert health is not None and (health.kind, health.detail, health.t) == ("health", "unhealthy", 5.0)
    assert event_from_api({"Action": "exec_create: sh", "Actor": {"ID": "abc"}}) is None
    assert event_from_api({"Action": "oom", "time": 1, "Actor": {"ID": "abc"}}) == ContainerEvent(1, "abc", "oom")
