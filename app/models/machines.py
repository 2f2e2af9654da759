"""The Machines page's table: one row per VM, its state as a word and a colour."""

from __future__ import annotations

from typing import Any

from app.display import Tone
from app.models.compose import TonedModel
from app.models.resources import ColumnSpec

STATE_TONES = {"running": Tone.OK, "starting": Tone.PENDING, "stopping": Tone.PENDING, "error": Tone.ERROR}


def machine_tone(item: dict[str, Any]) -> Tone:
    return STATE_TONES.get(str(item.get("state", "")), Tone.NEUTRAL)


def _in_use(used: Any, size: str) -> str:
    """"1.2 GB of 20 GiB" when what the machine takes on this computer is known, else its size."""
    return f"{int(used) / 1e9:.1f} GB of {size}" if isinstance(used, int) else size


def machines_model(parent: Any = None) -> TonedModel:
    columns = [
        ColumnSpec("Name", lambda m: str(m.get("name", ""))),
        ColumnSpec("State", lambda m: str(m.get("state", "")),
                   tooltip=lambda m: str(m.get("message", "")) or str(m.get("state", ""))),
        ColumnSpec("CPUs", lambda m: str(m.get("cpus", "")), sort=lambda m: int(m.get("cpus", 0))),
        ColumnSpec("Memory", lambda m: _in_use(m.get("memory_bytes"), f"{int(m.get('memory_mib', 0))} MiB"),
                   sort=lambda m: int(m.get("memory_mib", 0)),
                   tooltip=lambda m: "in use on this computer (QEMU's resident memory) of the machine's memory"),
        ColumnSpec("Disk", lambda m: _in_use(m.get("disk_bytes"), f"{int(m.get('disk_gib', 0))} GiB"),
                   sort=lambda m: int(m.get("disk_gib", 0)),
                   tooltip=lambda m: "taken on this computer (the disk file) of the machine's disk size"),
        ColumnSpec("Engine (DOCKER_HOST)", lambda m: str(m.get("docker_host", "")),
                   tooltip=lambda m: f"export DOCKER_HOST={m.get('docker_host', '')}"),
    ]
    return TonedModel(columns, lambda m: str(m.get("name", "")), machine_tone, 1, parent)
