"""Metrics history as plain values: one `MetricPoint` per second or per minute, the rollups between
them, rates from cumulative counters, ranges people pick, exports and per-project totals.

Pure: the on-disk store (`app/services/metrics_store.py`) and the views build on these.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

SECOND_RETENTION = 3600  # 1 s resolution is kept this long
MINUTE_RETENTION = 7 * 86400  # then 1 min resolution, this long

# The range picker: a label and its length in seconds. Up to an hour reads seconds, beyond minutes.
RANGES: list[tuple[str, int]] = [
    ("5 min", 300), ("15 min", 900), ("1 hour", 3600), ("6 hours", 6 * 3600), ("24 hours", 86400),
    ("7 days", 7 * 86400),
]

FIELDS = ("t", "cpu", "memory", "memory_limit", "net_rx", "net_tx", "block_read", "block_write", "pids")


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One reading (or a minute's rollup): `t` in Unix seconds; CPU % (100 = one CPU); memory and
    its limit in bytes; network and block I/O as the container's cumulative byte counters."""

    t: float
    cpu: float
    memory: int
    memory_limit: int
    net_rx: int
    net_tx: int
    block_read: int
    block_write: int
    pids: int = 0


@dataclass(frozen=True, slots=True)
class Series:
    """A container's points over a range, with what people recognise it by."""

    id: str
    name: str
    project: str
    points: Sequence[MetricPoint]


def rollup(points: Sequence[MetricPoint], t: float | None = None) -> MetricPoint:
    """Points folded into one: CPU averaged, memory and PIDs at their peak (a peak is what an OOM
    kill meets), counters at their last value (they are cumulative). `points` is never empty."""
    last = points[-1]
    return MetricPoint(
        points[0].t if t is None else t,
        sum(p.cpu for p in points) / len(points),
        max(p.memory for p in points),
        last.memory_limit,
        last.net_rx, last.net_tx, last.block_read, last.block_write,
        max(p.pids for p in points),
    )


def downsample(points: Sequence[MetricPoint], max_points: int) -> list[MetricPoint]:
    """At most `max_points` points over the same span, each the rollup of its equal slice of time."""
    if len(points) <= max_points or max_points < 2:
        return list(points)
    start, end = points[0].t, points[-1].t
    width = (end - start) / max_points or 1.0
    out: list[MetricPoint] = []
    bucket: list[MetricPoint] = []
    index = 0
    for point in points:
        slot = min(int((point.t - start) / width), max_points - 1)
        if slot != index and bucket:
            out.append(rollup(bucket))
            bucket = []
        index = slot
        bucket.append(point)
    if bucket:
        out.append(rollup(bucket))
    return out


def rates(times: Sequence[float], counters: Sequence[int]) -> list[float]:
    """Bytes per second between successive readings of a cumulative counter. A counter that went
    down was reset (the container restarted): its new value is what moved since."""
    out: list[float] = []
    for i in range(1, len(times)):
        dt = times[i] - times[i - 1]
        delta = counters[i] - counters[i - 1]
        if delta < 0:
            delta = counters[i]
        out.append(delta / dt if dt > 0 else 0.0)
    return out


def moved(counters: Sequence[int]) -> int:
    """Bytes a cumulative counter moved over the readings, resets counted as restarts from zero."""
    total = 0
    for previous, current in itertools.pairwise(counters):
        total += current - previous if current >= previous else current
    return total


def range_label(seconds: int) -> str:
    return next((label for label, length in RANGES if length == seconds), f"{seconds} s")


# -- export ----------------------------------------------------------------------------------------

def export_csv(series: Iterable[Series]) -> str:
    """One row per point, the container named on each: ready for a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["container", "id", "project", *FIELDS])
    for one in series:
        for point in one.points:
            writer.writerow([one.name, one.id, one.project, *_row(point)])
    return out.getvalue()


def export_json(series: Iterable[Series]) -> str:
    """{"containers": [{id, name, project, points: [{t, cpu, ...}]}]}."""
    return json.dumps({"containers": [
        {"id": one.id, "name": one.name, "project": one.project,
         "points": [dict(zip(FIELDS, _row(p), strict=True)) for p in one.points]}
        for one in series
    ]}, indent=1)


def _row(point: MetricPoint) -> list[float | int]:
    values = asdict(point)
    values["cpu"] = round(point.cpu, 2)
    return [values[field] for field in FIELDS]


# -- totals per compose project ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ProjectTotal:
    """A compose project over a range: its containers' CPU added up (average and peak of the sum),
    their memory added up at its peak, and the bytes they moved over the network and block I/O."""

    project: str
    containers: int
    cpu_average: float
    memory_peak: int
    net_bytes: int
    block_bytes: int


def project_totals(series: Iterable[Series], bucket: float = 60.0) -> list[ProjectTotal]:
    """Totals per project (containers without one are left out), the heaviest CPU first. CPU and
    memory are summed per `bucket` of time so containers sampled at different moments add up."""
    by_project: dict[str, list[Series]] = {}
    for one in series:
        if one.project:
            by_project.setdefault(one.project, []).append(one)
    totals: list[ProjectTotal] = []
    for project, members in by_project.items():
        cpu: dict[int, float] = {}
        memory: dict[int, int] = {}
        net = block = 0
        for one in members:
            per_slot: dict[int, list[MetricPoint]] = {}
            for point in one.points:
                per_slot.setdefault(int(point.t // bucket), []).append(point)
            for slot, points in per_slot.items():
                folded = rollup(points)
                cpu[slot] = cpu.get(slot, 0.0) + folded.cpu
                memory[slot] = memory.get(slot, 0) + folded.memory
            net += moved([p.net_rx for p in one.points]) + moved([p.net_tx for p in one.points])
            block += moved([p.block_read for p in one.points]) + moved([p.block_write for p in one.points])
        totals.append(ProjectTotal(project, len(members), sum(cpu.values()) / len(cpu) if cpu else 0.0,
                                   max(memory.values(), default=0), net, block))
    return sorted(totals, key=lambda total: total.cpu_average, reverse=True)


def projects_of(labels: Mapping[str, str] | None) -> str:
    return str((labels or {}).get("com.docker.compose.project", ""))


# -- the memory graph's scale -----------------------------------------------------------------------

HOST_MEMORY_SHARE = 0.98  # a reported limit this close to the host's memory is the host's, not the container's


def own_memory_limit(reported: int, configured: int | None = None, host_memory: int = 0) -> int:
    """The container's own memory limit in bytes, 0 when it has none. Engines report the host's
    memory as the limit of a container without one (25 GB drawn under 50 MB is a flat line).
    `configured`: its HostConfig.Memory when known (0 = none), which settles it; else the
    reported limit counts unless it is (about) `host_memory`, when that is known."""
    if configured is not None:
        return min(configured, reported) if configured > 0 and reported > 0 else max(configured, 0)
    if reported <= 0 or (host_memory > 0 and reported >= HOST_MEMORY_SHARE * host_memory):
        return 0
    return reported


@dataclass(frozen=True, slots=True)
class MemoryScale:
    """The memory graph's value axis: its top, and whether that is the container's limit."""

    top: float
    against_limit: bool

    def note(self, formatter: Callable[[float], str]) -> str:
        """The axis's words: which of the two the lines are drawn against."""
        return f"against its {'limit' if self.against_limit else 'peak'} {formatter(self.top)}"


def memory_scale(memory: Iterable[float], limit: int) -> MemoryScale:
    """Against the container's own `limit` when it has one (its use is read as a share of what it
    may take), else against its own peak over the range."""
    if limit > 0:
        return MemoryScale(float(limit), True)
    return MemoryScale(max(max(memory, default=0.0), 1.0), False)
