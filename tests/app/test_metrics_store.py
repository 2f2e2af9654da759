"""The metrics store: seconds rolled up to minutes, retention, a bound on size, engines kept apart,
and everything still there when the file is opened again."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.models.metrics_events import ContainerEvent
from app.models.metrics_history import MetricPoint
from app.services.metrics_store import MetricsStore

pytestmark = pytest.mark.unit

NOW = 1_800_000_000  # a minute boundary


def point(t: float, cpu: float = 10.0, memory: int = 100, rx: int = 0) -> MetricPoint:
    return MetricPoint(t, cpu, memory, 1 << 30, rx, 0, 0, 0, 1)


def test_seconds_roll_up_into_minutes_and_survive_reopening(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path / "m.sqlite")
    store.note_container("unix:///a", "c1", "web", "shop")
    start = NOW - 7200
    for t in range(start, NOW, 1):
        store.add("unix:///a", [("c1", point(t, cpu=float(t % 60 < 30) * 50, memory=t - start, rx=t - start))])
    store.add_event("unix:///a", ContainerEvent(NOW - 100, "c1", "die", "137"))
    store.maintain(NOW)
    store.close()

    again = MetricsStore(tmp_path / "m.sqlite")
    (known,) = again.containers("unix:///a")
    assert (known.id, known.name, known.project) == ("c1", "web", "shop")
    # The last hour by the second; older seconds are gone.
    seconds = again.series("unix:///a", "c1", NOW - 300, NOW, now=NOW)
    assert len(seconds) == 300 and seconds[-1].t == NOW - 1
    assert again.series("unix:///a", "c1", NOW - 7200, NOW - 3700, now=NOW)[0].t == NOW - 7200  # from minutes
    minutes = again.series("unix:///a", "c1", NOW - 7200, NOW, now=NOW)
    assert len(minutes) == 120 and all(m.t % 60 == 0 for m in minutes)
    assert minutes[0].cpu == 25.0  # half the minute at 50 %
    assert minutes[0].memory == 59 and minutes[0].net_rx == 59  # the peak and the last counter
    assert [e.label() for e in again.events("unix:///a", "c1", NOW - 3600, NOW)] == ["exited 137"]
    assert again.containers("unix:///other") == []
    assert again.series("unix:///other", "c1", NOW - 300, NOW, now=NOW) == []


def test_retention_drops_a_week_old_minutes_and_events(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path / "m.sqlite")
    store.add_minutes("e", [("c", point(NOW - 8 * 86400)), ("c", point(NOW - 6 * 86400))])
    store.add_event("e", ContainerEvent(NOW - 8 * 86400, "c", "start"))
    store.add("e", [("c", point(NOW - 10))])
    store.maintain(NOW)
    assert [p.t for p in store.series("e", "c", NOW - 9 * 86400, NOW - 3600, now=NOW)] == [NOW - 6 * 86400]
    assert store.events("e", "c", 0, NOW) == []


def test_size_is_bounded_by_dropping_the_oldest(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path / "m.sqlite", max_bytes=400_000)
    for c in range(10):
        store.add_minutes("e", [(f"c{c}", point(NOW - 86400 + 60 * i, memory=i)) for i in range(1440)])
    assert store.used_bytes() > 400_000
    store.maintain(NOW)
    assert store.used_bytes() <= 400_000
    left = store.series("e", "c0", NOW - 86400, NOW, now=NOW)
    assert left and left[-1].t == NOW - 60  # the newest stay
    assert left[0].t > NOW - 86400
