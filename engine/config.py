"""Where berthd keeps things. Every path is overridable so tests run private daemons."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = Path("/var/lib/berth")
DEFAULT_EXEC_ROOT = Path("/run/berth")
DEFAULT_SOCKET = DEFAULT_EXEC_ROOT / "berth.sock"


@dataclass(frozen=True)
class EnginePaths:
    root: Path
    exec_root: Path
    socket: Path

    @property
    def database(self) -> Path:
        return self.root / "berth.db"

    @property
    def containers(self) -> Path:
        """Persistent per-container data: logs, upper/work dirs, hosts files."""
        return self.root / "containers"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def bundles(self) -> Path:
        """Volatile OCI bundles (config.json, mounted rootfs, conmon files)."""
        return self.exec_root / "bundles"

    @property
    def exits(self) -> Path:
        """conmon writes each container's exit code here."""
        return self.exec_root / "exits"

    @property
    def sockets(self) -> Path:
        """conmon's attach sockets; kept short because sun_path is 108 bytes."""
        return self.exec_root / "s"

    @property
    def runtime_state(self) -> Path:
        """The OCI runtime's --root, private to this berthd."""
        return self.exec_root / "runtime"

    def ensure(self) -> None:
        for d in (self.root, self.containers, self.images, self.exec_root, self.bundles, self.exits,
                  self.sockets, self.runtime_state):
            d.mkdir(parents=True, exist_ok=True, mode=0o711)
