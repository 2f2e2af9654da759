"""`docker stats`: a container's resource use in the API's StatsResponse shape.

Each reading is one pass over the container's cgroup files (see cgroups.py), /proc/stat for
the host's CPU time (the denominator clients divide by) and the container's
/proc/<pid>/net/dev, which shows its network namespace's interfaces. `StatsSampler` keeps the
previous reading, so each report carries `precpu_stats` and clients can compute CPU%.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.containers.cgroups import CGROUP_ROOT, CgroupReader, CgroupSample, cgroup_reader
from engine.containers.kernfiles import ONCE, FileReads, KeptFiles
from engine.formats import ZERO_TIME, rfc3339_nano

PROC = Path("/proc")
_NET_DEV_FIELDS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
                   "tx_bytes", "tx_packets", "tx_errors", "tx_dropped")
_BLKIO_LISTS = ("io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
                "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
                "io_time_recursive", "sectors_recursive")


@dataclass
class StatsReading:
    read_ns: int
    cgroup: CgroupSample
    cgroup_version: int
    system_cpu_ns: int
    online_cpus: int
    host_memory: int
    networks: dict[str, dict[str, int]] = field(default_factory=dict)


def system_cpu_ns(proc: Path = PROC, files: FileReads = ONCE) -> int:
    """The host's CPU time since boot, all CPUs, in ns: what Docker puts in system_cpu_usage."""
    for line in (files.text(f"{proc}/stat") or "").splitlines():
        if line.startswith("cpu "):
            # user nice system idle iowait irq softirq, in clock ticks (steal and guests excluded,
            # as Docker does)
            ticks = sum(int(v) for v in line.split()[1:8])
            return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    return 0


def host_memory(proc: Path = PROC, files: FileReads = ONCE) -> int:
    for line in (files.text(f"{proc}/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def network_stats(pid: int, proc: Path = PROC, files: FileReads = ONCE) -> dict[str, dict[str, int]]:
    """Per-interface counters of the network namespace `pid` is in (loopback left out)."""
    # A str path, not a Path: pathlib (before 3.12) interns every component, and a new pid string
    # interned and freed at each reading of each container left the interpreter's table of interned
    # strings resizing every few minutes, which grew berthd's memory in steps in the soak.
    text = files.text(f"{proc}/{pid}/net/dev")
    if text is None:
        return {}
    out: dict[str, dict[str, int]] = {}
    for line in text.splitlines()[2:]:  # two header lines
        name, sep, rest = line.partition(":")
        name = name.strip()
        if not sep or name == "lo":
            continue
        values = [int(v) for v in rest.split()]
        if len(values) < 12:
            continue
        # receive: bytes packets errs drop fifo frame compressed multicast; transmit: bytes packets errs drop ...
        picked = values[0:4] + values[8:12]
        out[name] = dict(zip(_NET_DEV_FIELDS, picked, strict=True))
    return out


def take_reading(reader: CgroupReader, pid: int, *, with_networks: bool = True, proc: Path = PROC,
                 files: FileReads = ONCE) -> StatsReading:
    """One reading of everything a report needs. Blocking (small files): fine in a thread."""
    return StatsReading(
        read_ns=time.time_ns(),
        cgroup=reader.sample(),
        cgroup_version=reader.version,
        system_cpu_ns=system_cpu_ns(proc, files),
        online_cpus=os.sysconf("SC_NPROCESSORS_ONLN"),
        host_memory=host_memory(proc, files),
        networks=network_stats(pid, proc, files) if with_networks and pid > 0 else {},
    )


def _cpu_json(r: StatsReading | None) -> dict[str, Any]:
    if r is None:
        return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
    s = r.cgroup
    usage: dict[str, Any] = {"total_usage": s.cpu_total_ns, "usage_in_kernelmode": s.cpu_kernel_ns,
                             "usage_in_usermode": s.cpu_user_ns}
    if s.cpu_percpu_ns is not None:
        usage["percpu_usage"] = s.cpu_percpu_ns
    return {
        "cpu_usage": usage,
        "system_cpu_usage": r.system_cpu_ns,
        "online_cpus": r.online_cpus,
        "throttling_data": {"periods": s.throttle_periods, "throttled_periods": s.throttled_periods,
                            "throttled_time": s.throttled_ns},
    }


def _memory_json(r: StatsReading) -> dict[str, Any]:
    s = r.cgroup
    limit = s.memory_limit
    # Unlimited (or above the host's RAM): Docker reports the host's memory, which is what binds.
    if r.host_memory and (limit is None or limit > r.host_memory):
        limit = r.host_memory
    out: dict[str, Any] = {"usage": s.memory_usage}
    if s.memory_max_usage is not None:
        out["max_usage"] = s.memory_max_usage
    out["stats"] = s.memory_stats
    if s.memory_failcnt is not None:
        out["failcnt"] = s.memory_failcnt
    out["limit"] = limit or 0
    return out


def _blkio_json(r: StatsReading) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(_BLKIO_LISTS)
    out["io_service_bytes_recursive"] = [e.as_json() for e in r.cgroup.io_service_bytes]
    out["io_serviced_recursive"] = [e.as_json() for e in r.cgroup.io_serviced]
    return out


def stats_json(name: str, cid: str, current: StatsReading | None, previous: StatsReading | None) -> dict[str, Any]:
    """The StatsResponse for `current` over `previous`; all zeros (as Docker sends for a
    container that is not running) when there is no current reading."""
    out: dict[str, Any] = {
        "name": "/" + name,
        "id": cid,
        "read": rfc3339_nano(current.read_ns) if current else ZERO_TIME,
        "preread": rfc3339_nano(previous.read_ns) if previous and current else ZERO_TIME,
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": _cpu_json(current),
        "precpu_stats": _cpu_json(previous if current else None),
    }
    if current is None:
        out.update({"pids_stats": {}, "blkio_stats": dict.fromkeys(_BLKIO_LISTS), "memory_stats": {}})
        return out
    pids: dict[str, Any] = {"current": current.cgroup.pids_current}
    if current.cgroup.pids_limit is not None:
        pids["limit"] = current.cgroup.pids_limit
    out["pids_stats"] = pids
    out["blkio_stats"] = _blkio_json(current)
    out["memory_stats"] = _memory_json(current)
    if current.networks:
        out["networks"] = current.networks
    return out


class StatsSampler:
    """Reports for one container, each over the one before. Its files stay open between readings:
    `close()` once done."""

    def __init__(self, name: str, cid: str, cgroups_path: str, pid: int, *, with_networks: bool = True,
                 proc: Path = PROC, cgroup_root: Path = CGROUP_ROOT) -> None:
        self.name = name
        self.cid = cid
        self.files = KeptFiles()
        self.reader = cgroup_reader(cgroups_path, cgroup_root, self.files)
        self.pid = pid
        self.with_networks = with_networks
        self.proc = proc
        self.previous: StatsReading | None = None

    def report(self) -> dict[str, Any]:
        """Take a reading and report it. Blocking (a few small files): fine in a thread."""
        current = take_reading(self.reader, self.pid, with_networks=self.with_networks, proc=self.proc,
                               files=self.files)
        out = stats_json(self.name, self.cid, current, self.previous)
        self.previous = current
        return out

    def close(self) -> None:
        self.files.close()
