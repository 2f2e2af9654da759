"""Metrics history as values: rollups, downsampling, rates across a restart, exports, project totals."""

from __future__ import annotations

import csv
import io
import json

import pytest

from app.models.metrics_history import (
    MetricPoint,
    Series,
    downsample,
    export_csv,
    export_json,
    moved,
    project_totals,
    rates,
    rollup,
)

pytestmark = pytest.mark.unit


def point(t: float, cpu: float = 10.0, memory: int = 100, rx: int = 0, **counters: int) -> MetricPoint:
    return MetricPoint(t, cpu, memory, 1000, rx, counters.get("tx", 0), counters.get("br", 0),
                       counters.get("bw", 0), counters.get("pids", 1))


def test_rollup_averages_cpu_keeps_memory_peak_and_last_counters() -> None:
    folded = rollup([point(60, 10, 100, rx=5, pids=2), point(61, 30, 300, rx=9, pids=1), point(62, 20, 200, rx=12)])
    assert folded == MetricPoint(60, 20.0, 300, 1000, 12, 0, 0, 0, 2)
    assert rollup([point(61)], t=60).t == 60


def test_downsample_keeps_span_and_bounds_points() -> None:
    points = [point(t, cpu=float(t % 2)) for t in range(1000)]
    out = downsample(points, 100)
    assert len(out) == 100
    assert out[0].t == 0 and out[-1].t >= 990
    assert all(abs(p.cpu - 0.5) < 0.01 for p in out)  # each bucket is the average of 0s and 1s
    assert downsample(points[:50], 100) == points[:50]


def test_rates_treat_a_counter_going_down_as_a_restart() -> None:
    assert rates([0, 1, 2, 4], [0, 100, 300, 50]) == [100.0, 200.0, 25.0]
    assert moved([0, 100, 300, 50, 80]) == 380
    assert rates([5, 5], [0, 10]) == [0.0]  # two readings in the same second


def test_export_csv_and_json_name_each_container() -> None:
    series = [Series("a" * 64, "web", "shop", [point(1, 12.345, 10), point(2, 1, 20)]),
              Series("b" * 64, "db", "", [point(1, 5, 30)])]
    rows = list(csv.DictReader(io.StringIO(export_csv(series))))
    assert [r["container"] for r in rows] == ["web", "web", "db"]
    assert rows[0]["cpu"] == "12.35" and rows[0]["project"] == "shop" and rows[2]["memory"] == "30"
    data = json.loads(export_json(series))
    assert [c["name"] for c in data["containers"]] == ["web", "db"]
    assert data["containers"][0]["points"][1] == {
        "t": 2, "cpu": 1, "memory": 20, "memory_limit": 1000, "net_rx": 0, "net_tx": 0, "block_read": 0,
        "block_write": 0, "pids": 1}


def test_project_totals_add_containers_up_per_minute() -> None:
    web = Series("w", "web", "shop", [point(0, 10, 100, rx=0), point(30, 30, 300, rx=50), point(60, 20, 200, rx=80)])
    db = Series("d", "db", "shop", [point(5, 50, 1000, bw=0), point(65, 50, 1000, bw=400)])
    lone = Series("x", "lone", "", [point(0, 99, 1)])
    (shop,) = project_totals([web, db, lone])
    assert shop.project == "shop" and shop.containers == 2
    # minute 0: web 20 % + db 50 %; minute 1: web 20 % + db 50 %
    assert shop.cpu_average == 70.0
    assert shop.memory_peak == 1300  # web's peak in minute 0 plus db's
    assert shop.net_bytes == 80 and shop.block_bytes == 400
