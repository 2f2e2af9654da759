"""`python -m app.services.metrics_bench [--containers 50]`: the metrics history's figures.

- disk: a week of history for N containers (a week of minutes, the last hour of seconds, an event
  every ten minutes each) written through `MetricsStore` with made-up but plausible values, then
  rolled up and pruned as the app does; the file's size is printed.
- CPU: the stats reader's per-second work for N containers (decoding each reading's JSON as it comes
  off the stream, `StatsSample.from_api`, the detectors, the store's write and its minutely rollup),
  run over simulated seconds and timed in process CPU, with history on and off. The HTTP streams
  themselves (aiohttp) are not in it.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from app.models.detectors import Detectors
from app.models.metrics_events import ContainerEvent
from app.models.metrics_history import MINUTE_RETENTION, SECOND_RETENTION, MetricPoint
from app.services.metrics_store import MetricsStore
from app.services.stats import point_of
from engine.client import StatsSample

ENGINE = "unix:///run/berth/berth.sock"


def _raw(rng: random.Random, second: int, index: int) -> str:
    """One `/containers/{id}/stats` document as the engine streams it."""
    usage = second * 20_000_000 + index
    return json.dumps({
        "read": "2026-12-05T08:00:00.000000000Z", "preread": "2026-12-05T07:59:59.000000000Z",
        "pids_stats": {"current": 5}, "num_procs": 0,
        "cpu_stats": {"cpu_usage": {"total_usage": usage, "usage_in_kernelmode": usage // 3,
                                    "usage_in_usermode": usage // 2},
                      "system_cpu_usage": second * 2_000_000_000, "online_cpus": 2, "throttling_data": {}},
        "precpu_stats": {"cpu_usage": {"total_usage": usage - 20_000_000},
                         "system_cpu_usage": (second - 1) * 2_000_000_000, "online_cpus": 2},
        "memory_stats": {"usage": 80_000_000 + rng.randrange(1_000_000), "limit": 2_000_000_000,
                         "stats": {"inactive_file": 4_000_000, "active_anon": 60_000_000}},
        "networks": {"eth0": {"rx_bytes": second * 1500, "tx_bytes": second * 700, "rx_packets": second,
                              "tx_packets": second, "rx_errors": 0, "tx_errors": 0, "rx_dropped": 0, "tx_dropped": 0}},
        "blkio_stats": {"io_service_bytes_recursive": [
            {"major": 8, "minor": 0, "op": "read", "value": second * 4096},
            {"major": 8, "minor": 0, "op": "write", "value": second * 8192}]},
        "name": f"/bench-{index}", "id": f"{index:064x}",
    })


def _point(rng: random.Random, t: float, i: int, elapsed: int) -> MetricPoint:
    return MetricPoint(t, rng.uniform(0, 150), 50_000_000 + rng.randrange(200_000_000), 2_000_000_000,
                       elapsed * 1500 + i, elapsed * 700, elapsed * 4096, elapsed * 8192, 5 + i % 7)


def disk_week(containers: int, directory: Path) -> tuple[int, int, int]:
    """(file bytes, minute rows, second rows) of a week of history for `containers`."""
    rng = random.Random(1)
    store = MetricsStore(directory / "metrics.sqlite")
    now = int(time.time()) // 60 * 60
    ids = [f"{i:064x}" for i in range(containers)]
    for i, id in enumerate(ids):
        store.note_container(ENGINE, id, f"bench-{i}", f"project-{i % 5}")
    start = now - MINUTE_RETENTION + 60
    for i, id in enumerate(ids):
        minutes = range(start, now - SECOND_RETENTION, 60)
        store.add_minutes(ENGINE, [(id, _point(rng, t, i, t - start)) for t in minutes])
        for t in range(start, now, 600):
            store.add_event(ENGINE, ContainerEvent(t, id, "health", "healthy"))
    for t in range(now - SECOND_RETENTION, now):  # the last hour as the reader writes it: a batch a second
        store.add(ENGINE, [(id, _point(rng, t, i, t - start)) for i, id in enumerate(ids)])
    store.maintain(now)
    minute_rows, second_rows = store.row_counts()
    size = store.file_bytes()
    store.close()
    return size, minute_rows, second_rows


def reader_cpu(containers: int, seconds: int, directory: Path | None) -> float:
    """Process CPU as a percentage of one core for the reader's work per second of readings."""
    rng = random.Random(2)
    store = MetricsStore(directory / "cpu.sqlite") if directory is not None else None
    detectors = Detectors()
    ids = [f"{i:064x}" for i in range(containers)]
    documents = [[_raw(rng, s + 2, i) for i in range(containers)] for s in range(10)]
    base = time.time()
    started = time.process_time()
    for second in range(seconds):
        now = base + second
        batch = []
        for i, id in enumerate(ids):
            sample = StatsSample.from_api(json.loads(documents[second % 10][i]))
            point = point_of(now, sample)
            batch.append((id, point))
            detectors.on_sample(id, now, point.memory)
        if store is not None:
            store.add(ENGINE, batch)
            if second % 60 == 59:
                store.maintain(now)
    used = time.process_time() - started
    if store is not None:
        store.close()
    return 100.0 * used / seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--containers", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=600, help="simulated seconds for the CPU figure")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        size, minutes, seconds = disk_week(args.containers, Path(tmp))
        print(f"disk: a week of history for {args.containers} containers: {size / 1e6:.1f} MB "
              f"({minutes} minute rows, {seconds} second rows, {size / (minutes + seconds):.0f} B a row)")
        on = reader_cpu(args.containers, args.seconds, Path(tmp))
        off = reader_cpu(args.containers, args.seconds, None)
        print(f"cpu: stats reader for {args.containers} containers, {args.seconds} s of readings: "
              f"{on:.2f} % of one core with history on, {off:.2f} % with it off")


if __name__ == "__main__":
    main()
