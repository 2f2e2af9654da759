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
    """Folds an engine's progress objects (pull or push) into one fraction and a line of status."""

    def __init__(self) -> None:
        self._layers: dict[str, tuple[int, int]] = {}
        self._done: set[str] = set()
        self.status = ""

    def feed(self, item: Mapping[str, Any]) -> None:
        layer = str(item.get("id", ""))
        status = str(item.get("status", ""))
        detail = item.get("progressDetail") or {}
        if layer and isinstance(detail, Mapping) and detail.get("total"):
            self._layers[layer] = (_int(detail.get("current")), _int(detail.get("total")))
        lowered = status.lower()
        if layer and any(word in lowered for word in ("complete", "already exists", "pushed", "mounted from")):
            self._done.add(layer)
            if layer in self._layers:
                total = self._layers[layer][1]
                self._layers[layer] = (total, total)
        if status:
            self.status = f"{layer}: {status}" if layer and not status.startswith(layer) else status

    @property
    def fraction(self) -> float | None:
        """Bytes done over bytes known (None until a size is known)."""
        total = sum(t for _, t in self._layers.values())
        if total <= 0:
            return None
        return min(1.0, sum(c for c, _ in self._layers.values()) / total)
