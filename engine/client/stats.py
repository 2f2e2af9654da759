"""Plain readings of the engine's `/containers/{id}/stats` samples and of pull/push progress."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True, slots=True)
class StatsSample:
    """One reading: CPU % (100 = one full CPU), memory in use and its limit, cumulative I/O bytes."""

    cpu_percent: float
    memory: int
    memory_limit: int
    net_rx: int
    net_tx: int
    block_read: int
    block_write: int
    pids: int = 0

    @property
    def memory_percent(self) -> float:
        return 100.0 * self.memory / self.memory_limit if self.memory_limit > 0 else 0.0

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> StatsSample:
        """As `docker stats` computes it: CPU from the delta to `precpu_stats`, memory less the page cache."""
        cpu = raw.get("cpu_stats") or {}
        pre = raw.get("precpu_stats") or {}
        cpu_delta = _int((cpu.get("cpu_usage") or {}).get("total_usage")) - _int(
            (pre.get("cpu_usage") or {}).get("total_usage")
        )
        system_delta = _int(cpu.get("system_cpu_usage")) - _int(pre.get("system_cpu_usage"))
        cpus = _int(cpu.get("online_cpus")) or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
        percent = 100.0 * cpus * cpu_delta / system_delta if system_delta > 0 and cpu_delta > 0 else 0.0

        memory = raw.get("memory_stats") or {}
        details = memory.get("stats") or {}
        usage = _int(memory.get("usage"))
        # cgroup v1 counts the page cache as "total_inactive_file", v2 as "inactive_file".
        cache = _int(details.get("total_inactive_file") or details.get("inactive_file"))
        used = usage - cache if 0 < cache < usage else usage

        rx = tx = 0
        for interface in (raw.get("networks") or {}).values():
            if isinstance(interface, Mapping):
                rx += _int(interface.get("rx_bytes"))
                tx += _int(interface.get("tx_bytes"))

        read = write = 0
        for entry in (raw.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
            if isinstance(entry, Mapping):
                op = str(entry.get("op", "")).lower()
                if op == "read":
                    read += _int(entry.get("value"))
                elif op == "write":
                    write += _int(entry.get("value"))
        pids = _int((raw.get("pids_stats") or {}).get("current"))
        return cls(percent, used, _int(memory.get("limit")), rx, tx, read, write, pids)


class PullProgress:
    """Folds an engine's progress objects (pull or push) into one fraction and a line of status.

    A pulled layer is downloaded, then extracted, each phase with its own bar under the same id: the
    download counts for the first half of the layer and extraction for the second, so the fraction
    only grows. A pushed layer has one phase. Layers weigh by their size.
    """

    _DONE = ("pull complete", "already exists", "pushed", "mounted from")

    def __init__(self) -> None:
        self._sizes: dict[str, int] = {}
        self._progress: dict[str, float] = {}  # per layer, 0..1
        self.status = ""

    def feed(self, item: Mapping[str, Any]) -> None:
        layer = str(item.get("id", ""))
        status = str(item.get("status", ""))
        lowered = status.lower()
        detail = item.get("progressDetail") or {}
        if layer and isinstance(detail, Mapping) and _int(detail.get("total")) > 0:
            share = min(1.0, _int(detail.get("current")) / _int(detail.get("total")))
            self._sizes.setdefault(layer, _int(detail.get("total")))
            if lowered.startswith("downloading"):
                self._advance(layer, share / 2)
            elif lowered.startswith("extracting"):
                self._advance(layer, 0.5 + share / 2)
            else:  # pushing: the only phase
                self._advance(layer, share)
        if layer and lowered.startswith(("download complete", "verifying checksum")):
            self._advance(layer, 0.5)
        if layer and any(word in lowered for word in self._DONE):
            self._advance(layer, 1.0)
        if status:
            self.status = f"{layer}: {status}" if layer and not status.startswith(layer) else status

    def _advance(self, layer: str, progress: float) -> None:
        self._progress[layer] = max(self._progress.get(layer, 0.0), progress)

    @property
    def fraction(self) -> float | None:
        """Work done over work known, by layer size (None until a size is known)."""
        total = sum(self._sizes.values())
        if total <= 0:
            return None
        return min(1.0, sum(size * self._progress.get(layer, 0.0) for layer, size in self._sizes.items()) / total)
