"""The cgroup v1 and v2 readers on fake cgroup trees, and the StatsResponse built from them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.containers.cgroups import (
    CgroupV1Reader,
    CgroupV2Reader,
    cgroup_reader,
    container_cgroup_path,
)
from engine.containers.stats import StatsSampler, network_stats, stats_json, system_cpu_ns

pytestmark = pytest.mark.unit

CID = "c0ffee" * 10 + "abcd"


def write(base: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    fs = tmp_path / "v1"
    cg = f"berth/{CID}"
    for controller in ("cpu", "cpuacct", "memory", "pids", "blkio", "systemd"):
        (fs / controller).mkdir(parents=True)
    write(fs, {
        f"cpuacct/{cg}/cpuacct.usage": "3000000000\n",
        f"cpuacct/{cg}/cpuacct.usage_percpu": "1000000000 2000000000 \n",
        f"cpuacct/{cg}/cpuacct.stat": "user 120\nsystem 30\n",
        f"cpu/{cg}/cpu.stat": "nr_periods 10\nnr_throttled 2\nthrottled_time 5000\n",
        f"memory/{cg}/memory.usage_in_bytes": "10485760\n",
        f"memory/{cg}/memory.max_usage_in_bytes": "20971520\n",
        f"memory/{cg}/memory.limit_in_bytes": "9223372036854771712\n",
        f"memory/{cg}/memory.failcnt": "0\n",
        f"memory/{cg}/memory.stat": "cache 4096\nrss 8192\ntotal_inactive_file 1024\n",
        f"pids/{cg}/pids.current": "3\n",
        f"pids/{cg}/pids.max": "max\n",
        f"pids/{cg}/cgroup.procs": "42\n40\n",
        f"pids/{cg}/sub/cgroup.procs": "41\n",
        f"blkio/{cg}/blkio.throttle.io_service_bytes_recursive":
            "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 0\n8:0 Total 12288\nTotal 12288\n",
        f"blkio/{cg}/blkio.throttle.io_serviced_recursive": "8:0 Read 1\n8:0 Write 2\nTotal 3\n",
    })
    return fs


@pytest.fixture
def v2(tmp_path: Path) -> Path:
    fs = tmp_path / "v2"
    cg = f"berth/{CID}"
    write(fs, {
        "cgroup.controllers": "cpu io memory pids\n",
        f"{cg}/cgroup.procs": "7\n",
        f"{cg}/cpu.stat": "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\n"
                          "throttled_usec 30\n",
        f"{cg}/memory.current": "5242880\n",
        f"{cg}/memory.max": "1073741824\n",
        f"{cg}/memory.stat": "anon 4096\nfile 8192\ninactive_file 100\n",
        f"{cg}/pids.current": "1\n",
        f"{cg}/pids.max": "512\n",
        f"{cg}/io.stat": "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n",
    })
    return fs


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    p = tmp_path / "proc"
    write(p, {
        "stat": "cpu  100 0 50 1000 0 0 0 7 0 0\ncpu0 50 0 25 500 0 0 0 0 0 0\nbtime 1700000000\n",
        "meminfo": "MemTotal:       2048000 kB\nMemFree:        1000 kB\n",
        "42/net/dev": "Inter-|   Receive                            |  Transmit\n"
                      " face |bytes    packets errs drop fifo frame compressed multicast|bytes packets ...\n"
                      "    lo:     100       1    0    0    0     0          0         0      100       1"
                      "    0    0    0     0       0          0\n"
                      "  eth0:    2000      20    1    2    0     0          0         0     3000      30"
                      "    3    4    0     0       0          0\n",
    })
    return p


def test_v1_is_chosen_without_a_cgroup2_root(v1: Path, v2: Path) -> None:
    assert isinstance(cgroup_reader(container_cgroup_path(CID), v1), CgroupV1Reader)
    assert isinstance(cgroup_reader(container_cgroup_path(CID), v2), CgroupV2Reader)


def test_v1_pids_include_child_cgroups(v1: Path) -> None:
    assert cgroup_reader(container_cgroup_path(CID), v1).pids() == [40, 41, 42]


def test_v1_sample(v1: Path) -> None:
    s = cgroup_reader(container_cgroup_path(CID), v1).sample()
    assert s.cpu_total_ns == 3_000_000_000
    assert s.cpu_percpu_ns == [1_000_000_000, 2_000_000_000]
    assert (s.cpu_user_ns, s.cpu_kernel_ns) == (1_200_000_000, 300_000_000)
    assert (s.throttle_periods, s.throttled_periods, s.throttled_ns) == (10, 2, 5000)
    assert (s.memory_usage, s.memory_max_usage, s.memory_limit) == (10485760, 20971520, None)
    assert s.memory_stats["total_inactive_file"] == 1024
    assert (s.pids_current, s.pids_limit) == (3, None)
    assert [(e.op, e.value) for e in s.io_service_bytes] == [
        ("Read", 4096), ("Write", 8192), ("Sync", 0), ("Async", 0), ("Total", 12288)]
    assert [(e.op, e.value) for e in s.io_serviced] == [("Read", 1), ("Write", 2)]


def test_v1_comounted_cpu_cpuacct(tmp_path: Path) -> None:
    fs = tmp_path / "fs"
    write(fs, {f"cpu,cpuacct/berth/{CID}/cpuacct.usage": "77\n"})
    assert cgroup_reader(container_cgroup_path(CID), fs).sample().cpu_total_ns == 77


def test_v2_pids_and_sample(v2: Path) -> None:
    reader = cgroup_reader(container_cgroup_path(CID), v2)
    assert reader.pids() == [7]
    s = reader.sample()
    assert (s.cpu_total_ns, s.cpu_user_ns, s.cpu_kernel_ns) == (2_500_000, 2_000_000, 500_000)
    assert s.cpu_percpu_ns is None
    assert (s.throttle_periods, s.throttled_periods, s.throttled_ns) == (4, 1, 30_000)
    assert (s.memory_usage, s.memory_limit, s.memory_max_usage) == (5242880, 1073741824, None)
    assert (s.pids_current, s.pids_limit) == (1, 512)
    assert [(e.op, e.value) for e in s.io_service_bytes] == [("read", 100), ("write", 200)]


def test_a_vanished_cgroup_reads_as_zero(tmp_path: Path) -> None:
    for fs in (tmp_path / "v1", tmp_path / "v2"):
        fs.mkdir()
    (tmp_path / "v2" / "cgroup.controllers").write_text("")
    for fs in (tmp_path / "v1", tmp_path / "v2"):
        reader = cgroup_reader(container_cgroup_path(CID), fs)
        assert reader.pids() == []
        assert reader.sample().cpu_total_ns == 0


def test_network_stats_leave_out_loopback(proc: Path) -> None:
    assert network_stats(42, proc) == {"eth0": {
        "rx_bytes": 2000, "rx_packets": 20, "rx_errors": 1, "rx_dropped": 2,
        "tx_bytes": 3000, "tx_packets": 30, "tx_errors": 3, "tx_dropped": 4}}
    assert network_stats(99, proc) == {}


def test_system_cpu_excludes_steal(proc: Path) -> None:
    import os

    assert system_cpu_ns(proc) == 1150 * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def test_stats_response_v1(v1: Path, proc: Path) -> None:
    sampler = StatsSampler("web", CID, container_cgroup_path(CID), 42, proc=proc, cgroup_root=v1)
    first = sampler.report()
    second = sampler.report()
    json.dumps(second)  # plain JSON all the way down
    assert first["precpu_stats"]["cpu_usage"]["total_usage"] == 0
    assert first["preread"] == "0001-01-01T00:00:00Z"
    assert second["name"] == "/web" and second["id"] == CID
    assert second["preread"] == first["read"]
    cpu = second["cpu_stats"]
    assert cpu["cpu_usage"]["percpu_usage"] == [1_000_000_000, 2_000_000_000]
    assert cpu["throttling_data"] == {"periods": 10, "throttled_periods": 2, "throttled_time": 5000}
    assert cpu["system_cpu_usage"] > 0 and cpu["online_cpus"] >= 1
    assert second["precpu_stats"]["cpu_usage"]["total_usage"] == 3_000_000_000
    mem = second["memory_stats"]
    assert mem["usage"] == 10485760 and mem["max_usage"] == 20971520
    assert mem["limit"] == 2048000 * 1024  # unlimited: the host's memory, as Docker reports it
    assert second["pids_stats"] == {"current": 3}
    assert second["blkio_stats"]["io_service_bytes_recursive"][0] == {"major": 8, "minor": 0, "op": "Read",
                                                                      "value": 4096}
    assert second["networks"]["eth0"]["rx_bytes"] == 2000
    assert second["num_procs"] == 0 and second["storage_stats"] == {}


def test_stats_response_v2(v2: Path, proc: Path) -> None:
    report = StatsSampler("db", CID, container_cgroup_path(CID), 42, with_networks=False, proc=proc,
                          cgroup_root=v2).report()
    assert "percpu_usage" not in report["cpu_stats"]["cpu_usage"]
    assert report["memory_stats"] == {"usage": 5242880, "stats": {"anon": 4096, "file": 8192, "inactive_file": 100},
                                      "limit": 1073741824}
    assert report["pids_stats"] == {"current": 1, "limit": 512}
    assert report["blkio_stats"]["io_queue_recursive"] is None
    assert "networks" not in report


def test_stopped_container_reports_zeros() -> None:
    report = stats_json("gone", CID, None, None)
    assert report["read"] == report["preread"] == "0001-01-01T00:00:00Z"
    assert report["memory_stats"] == {} and report["pids_stats"] == {}
    assert report["cpu_stats"]["cpu_usage"]["total_usage"] == 0
    assert report["precpu_stats"] == report["cpu_stats"]


def test_a_network_reading_interns_no_pid(proc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pathlib (Python 3.11) interns each component of a path it parses: a reading per container per
    second that put a pid in a Path interned a string that was freed at once, and the interpreter's
    table of interned strings, full of such holes, was reallocated every few minutes (berthd's RSS
    grew in steps in the soak). Readings build their per-pid paths as plain strings."""
    import sys

    interned: list[str] = []
    intern = sys.intern

    def recording(s: str) -> str:
        interned.append(s)
        return intern(s)

    monkeypatch.setattr(sys, "intern", recording)
    assert network_stats(42, proc)
    assert "42" not in interned
