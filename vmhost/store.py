"""Where a user's machines are kept: one directory each, its settings in machine.json."""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

from vmhost.machine import Machine, MachineError


def machines_dir() -> Path:
    env = os.environ.get("BERTH_MACHINES_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "berth" / "machines"


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


class MachineStore:
    """The machines of one user (or of a test's directory): their settings, read and written."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or machines_dir()

    def all(self) -> list[Machine]:
        if not self.root.is_dir():
            return []
        return [self.get(p.name) for p in sorted(self.root.iterdir()) if (p / "machine.json").is_file()]

    def get(self, name: str) -> Machine:
        path = self.root / name / "machine.json"
        if "/" in name or name.startswith(".") or not path.is_file():
            raise MachineError(f"no such machine: {name} (see `berth machine ls`)")
        data = json.loads(path.read_text())
        known = {f.name for f in fields(Machine)} - {"dir"}
        machine = Machine(**{k: v for k, v in data.items() if k in known})
        machine.dir = path.parent
        return machine

    def save(self, machine: Machine) -> None:
        machine.config()  # validates
        write_json_atomic(machine.dir / "machine.json", machine.to_json())
