"""Reading a container's cgroup: its processes and its resource counters.

One interface, `CgroupReader`, with a reader per hierarchy version:

- v1 (and hybrid hosts, whose controllers are all v1): one directory per controller,
  `/sys/fs/cgroup/<controller>/<cgroups path>`;
- v2: one directory, `/sys/fs/cgroup/<cgroups path>`.

A sample reads a handful of small files (cpu, memory, pids, io): cheap enough to take every
second for every container. A file that is missing (a controller not mounted, or the cgroup
gone because the container just exited) reads as zero rather than failing the sample.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from engine.containers.kernfiles import ONCE, FileReads

CGROUP_ROOT = Path("/sys/fs/cgroup")
USER_HZ = 100  # the unit of cpuacct.stat, fixed by the kernel ABI whatever CONFIG_HZ is
# v1 reports "no limit" as the largest page-aligned value that fits a signed 64-bit int.
V1_UNLIMITED = 0x7FFFFFFFFFFFF000


def container_cgroup_path(cid: str) -> str:
    """The cgroups path berthd gives the runtime (engine/runtime/spec.py's default)."""
    return f"/berth/{cid}"


@dataclass(frozen=True)
class BlkioEntry:
    major: int
    minor: int
    op: str
    value: int

    def as_json(self) -> dict[str, object]:
        return {"major": self.major, "minor": self.minor, "op": self.op, "value": self.value}


@dataclass
class CgroupSample:
    """One reading of a cgroup's counters, in Docker's units (ns, bytes)."""

    cpu_total_ns: int = 0
    cpu_user_ns: int = 0
    cpu_kernel_ns: int = 0
    cpu_percpu_ns: list[int] | None = None  # v1 only
    throttle_periods: int = 0
    throttled_periods: int = 0
    throttled_ns: int = 0
    memory_usage: int = 0
    memory_max_usage: int | None = None  # v1 only
    memory_failcnt: int | None = None  # v1 only
    memory_limit: int | None = None  # None: unlimited
    memory_stats: dict[str, int] = field(default_factory=dict)
    pids_current: int = 0
    pids_limit: int | None = None
    io_service_bytes: list[BlkioEntry] = field(default_factory=list)
    io_serviced: list[BlkioEntry] = field(default_factory=list)


class CgroupReader(Protocol):
    version: int

    def pids(self) -> list[int]:
        """The processes in the cgroup (and its children), host pids, sorted."""

    def sample(self) -> CgroupSample:
        """The counters as they are now."""

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer took in this cgroup (0 where it cannot say)."""

    def frozen(self) -> bool | None:
        """Whether the freezer holds the cgroup (a paused container); None where it cannot say."""


def cgroup_reader(cgroups_path: str, fs_root: Path = CGROUP_ROOT, files: FileReads = ONCE) -> CgroupReader:
    """The reader for this host's hierarchy: v2 when the root is a cgroup2 mount. `files`: a
    KeptFiles for readings taken again and again (a stats stream's)."""
    rel = cgroups_path.strip("/")
    if (fs_root / "cgroup.controllers").exists():
        return CgroupV2Reader(fs_root / rel, files)
    return CgroupV1Reader(fs_root, rel, files)


# ---- file helpers ------------------------------------------------------------------------------


def _int(files: FileReads, path: str, unlimited: Iterable[str] = ()) -> int | None:
    text = files.text(path)
    if text is None:
        return None
    text = text.strip()
    if text in unlimited:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _flat_keyed(files: FileReads, path: str) -> dict[str, int]:
    """`key value` lines (memory.stat, cpu.stat, cpuacct.stat)."""
    out: dict[str, int] = {}
    for line in (files.text(path) or "").splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            out[key] = int(value.strip())
    return out


def _procs(directory: Path) -> list[int] | None:
    """The pids in `directory`'s cgroup and all below it; None if the cgroup is not there."""
    if not (directory / "cgroup.procs").exists():
        return None
    pids: set[int] = set()
    for procs in [directory / "cgroup.procs", *directory.rglob("*/cgroup.procs")]:
        for line in (ONCE.text(str(procs)) or "").split():
            with contextlib.suppress(ValueError):
                pids.add(int(line))
    return sorted(pids)


# ---- v1 ----------------------------------------------------------------------------------------


class CgroupV1Reader:
    version = 1
    # Controllers may be co-mounted ("cpu,cpuacct"); distributions add symlinks, but not all.
    _ALIASES = {
        "cpuacct": ("cpuacct", "cpu,cpuacct", "cpuacct,cpu"),
        "cpu": ("cpu", "cpu,cpuacct", "cpuacct,cpu"),
        "memory": ("memory",),
        "pids": ("pids",),
        "blkio": ("blkio",),
    }
    _PROCS_FROM = ("pids", "memory", "cpuacct", "cpu", "blkio", "systemd", "unified")

    def __init__(self, fs_root: Path, rel: str, files: FileReads = ONCE) -> None:
        self.fs_root = fs_root
        self.rel = rel
        self.files = files
        self._dirs: dict[str, Path] = {}

    def _dir(self, controller: str) -> Path:
        found = self._dirs.get(controller)
        if found is None:
            found = self.fs_root / controller / self.rel
            for name in self._ALIASES.get(controller, (controller,)):
                mount = self.fs_root / name
                if mount.is_dir():
                    found = mount / self.rel
                    break
            self._dirs[controller] = found
        return found

    def _file(self, controller: str, name: str) -> str:
        return f"{self._dir(controller)}/{name}"

    def pids(self) -> list[int]:
        for controller in self._PROCS_FROM:
            found = _procs(self._dir(controller))
            if found is not None:
                return found
        return []

    def oom_kills(self) -> int:
        return _flat_keyed(self.files, self._file("memory", "memory.oom_control")).get("oom_kill", 0)

    def frozen(self) -> bool | None:
        state = self.files.text(self._file("freezer", "freezer.state"))
        return None if state is None else state.strip() in ("FROZEN", "FREEZING")

    def sample(self) -> CgroupSample:
        s = CgroupSample()
        f, cpuacct, memory = self.files, self._file("cpuacct", ""), self._file("memory", "")
        s.cpu_total_ns = _int(f, cpuacct + "cpuacct.usage") or 0
        percpu = f.text(cpuacct + "cpuacct.usage_percpu")
        if percpu is not None:
            s.cpu_percpu_ns = [int(v) for v in percpu.split() if v.isdigit()]
        ticks = _flat_keyed(f, cpuacct + "cpuacct.stat")
        s.cpu_user_ns = ticks.get("user", 0) * (1_000_000_000 // USER_HZ)
        s.cpu_kernel_ns = ticks.get("system", 0) * (1_000_000_000 // USER_HZ)
        throttling = _flat_keyed(f, self._file("cpu", "cpu.stat"))
        s.throttle_periods = throttling.get("nr_periods", 0)
        s.throttled_periods = throttling.get("nr_throttled", 0)
        s.throttled_ns = throttling.get("throttled_time", 0)
        s.memory_usage = _int(f, memory + "memory.usage_in_bytes") or 0
        s.memory_max_usage = _int(f, memory + "memory.max_usage_in_bytes") or 0
        s.memory_failcnt = _int(f, memory + "memory.failcnt") or 0
        limit = _int(f, memory + "memory.limit_in_bytes")
        s.memory_limit = limit if limit is not None and limit < V1_UNLIMITED else None
        s.memory_stats = _flat_keyed(f, memory + "memory.stat")
        pids = self._file("pids", "")
        s.pids_current = _int(f, pids + "pids.current") or 0
        s.pids_limit = _int(f, pids + "pids.max", unlimited=("max",))
        blkio = self._file("blkio", "")
        s.io_service_bytes = _v1_blkio(f, blkio, "io_service_bytes_recursive")
        s.io_serviced = _v1_blkio(f, blkio, "io_serviced_recursive")
        return s


def _v1_blkio(files: FileReads, directory: str, name: str) -> list[BlkioEntry]:
    """`directory` ends in a slash."""
    # The throttle files count all I/O; the plain ones only what CFQ/BFQ scheduled.
    text = files.text(f"{directory}blkio.throttle.{name}")
    if text is None:
        text = files.text(f"{directory}blkio.{name}") or ""
    out: list[BlkioEntry] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 3 or ":" not in fields[0]:
            continue  # the "Total N" line
        major, _, minor = fields[0].partition(":")
        with contextlib.suppress(ValueError):
            out.append(BlkioEntry(int(major), int(minor), fields[1], int(fields[2])))
    return out


# ---- v2 ----------------------------------------------------------------------------------------


class CgroupV2Reader:
    version = 2

    def __init__(self, directory: Path, files: FileReads = ONCE) -> None:
        self.directory = directory
        self.files = files
        self._prefix = f"{directory}/"

    def pids(self) -> list[int]:
        return _procs(self.directory) or []

    def oom_kills(self) -> int:
        return _flat_keyed(self.files, self._prefix + "memory.events").get("oom_kill", 0)

    def frozen(self) -> bool | None:
        state = self.files.text(self._prefix + "cgroup.freeze")
        return None if state is None else state.strip() == "1"

    def sample(self) -> CgroupSample:
        d, f = self._prefix, self.files
        s = CgroupSample()
        cpu = _flat_keyed(f, d + "cpu.stat")
        s.cpu_total_ns = cpu.get("usage_usec", 0) * 1000
        s.cpu_user_ns = cpu.get("user_usec", 0) * 1000
        s.cpu_kernel_ns = cpu.get("system_usec", 0) * 1000
        s.throttle_periods = cpu.get("nr_periods", 0)
        s.throttled_periods = cpu.get("nr_throttled", 0)
        s.throttled_ns = cpu.get("throttled_usec", 0) * 1000
        s.memory_usage = _int(f, d + "memory.current") or 0
        s.memory_limit = _int(f, d + "memory.max", unlimited=("max",))
        s.memory_stats = _flat_keyed(f, d + "memory.stat")
        s.pids_current = _int(f, d + "pids.current") or 0
        s.pids_limit = _int(f, d + "pids.max", unlimited=("max",))
        s.io_service_bytes, s.io_serviced = _v2_io(f.text(d + "io.stat") or "")
        return s


def _v2_io(text: str) -> tuple[list[BlkioEntry], list[BlkioEntry]]:
    """io.stat lines `8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...`, as Docker maps them."""
    service_bytes: list[BlkioEntry] = []
    serviced: list[BlkioEntry] = []
    for line in text.splitlines():
        device, *pairs = line.split()
        major, _, minor = device.partition(":")
        try:
            maj, mnr = int(major), int(minor)
        except ValueError:
            continue
        values: dict[str, int] = {}
        for pair in pairs:
            key, _, value = pair.partition("=")
            with contextlib.suppress(ValueError):
                values[key] = int(value)
        service_bytes += [BlkioEntry(maj, mnr, "read", values.get("rbytes", 0)),
                          BlkioEntry(maj, mnr, "write", values.get("wbytes", 0))]
        serviced += [BlkioEntry(maj, mnr, "read", values.get("rios", 0)),
                     BlkioEntry(maj, mnr, "write", values.get("wios", 0))]
    return service_bytes, serviced
