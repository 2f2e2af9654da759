"""The all-containers stats table: one row per running container from the engine's one stats reader."""

from __future__ import annotations

from typing import Any

from app.display import human_size, short_id
from app.models.resources import ColumnSpec, ResourceModel
from engine.client import StatsSample


def overview_row(id: str, name: str, sample: StatsSample) -> dict[str, Any]:
    return {
        "Id": id, "Name": name, "CPU": sample.cpu_percent, "Memory": sample.memory, "Limit": sample.memory_limit,
        "MemoryPercent": sample.memory_percent, "NetRx": sample.net_rx, "NetTx": sample.net_tx,
        "BlockRead": sample.block_read, "BlockWrite": sample.block_write, "Pids": sample.pids,
    }


def _pair(a: int, b: int) -> str:
    return f"{human_size(a)} / {human_size(b)}"


def stats_overview_model(parent: Any = None) -> ResourceModel:
    """Columns as `docker stats` prints them; sorting is numeric (the page sorts by CPU, heaviest first)."""
    columns = [
        ColumnSpec("Name", lambda r: str(r["Name"]), tooltip=lambda r: short_id(str(r["Id"]))),
        ColumnSpec("CPU %", lambda r: f"{r['CPU']:.1f} %", sort=lambda r: float(r["CPU"])),
        ColumnSpec("Memory / limit",
                   lambda r: _pair(r["Memory"], r["Limit"]) if r["Limit"] else human_size(r["Memory"]),
                   sort=lambda r: int(r["Memory"])),
        ColumnSpec("Mem %", lambda r: f"{r['MemoryPercent']:.1f} %", sort=lambda r: float(r["MemoryPercent"])),
        ColumnSpec("Net rx / tx", lambda r: _pair(r["NetRx"], r["NetTx"]), sort=lambda r: int(r["NetRx"] + r["NetTx"])),
        ColumnSpec("Block read / write", lambda r: _pair(r["BlockRead"], r["BlockWrite"]),
                   sort=lambda r: int(r["BlockRead"] + r["BlockWrite"])),
        ColumnSpec("PIDs", lambda r: str(r["Pids"]), sort=lambda r: int(r["Pids"])),
    ]
    return ResourceModel(columns, lambda r: str(r["Id"]), parent)
