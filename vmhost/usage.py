"""What a machine takes from the host: its disk file's allocated blocks and QEMU's resident memory."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

from vmhost.machine import Machine


def disk_used_bytes(machine: Machine) -> int | None:
    """What the machine's disk file takes on the host: allocated blocks (holes punched by discards do not
    count), or its length where the file system does not say (Windows)."""
    try:
        info = (machine.dir / "disk.qcow2").stat()
    except OSError:
        return None
    blocks = getattr(info, "st_blocks", None)
    return blocks * 512 if blocks is not None else info.st_size


def resident_bytes(pid: int | None) -> int | None:
    """A process's resident memory (QEMU's: what the machine takes from the host), where the OS says."""
    if not pid:
        return None
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    if sys.platform == "darwin":
        with contextlib.suppress(OSError, ValueError, subprocess.SubprocessError):
            out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True, timeout=5)
            return int(out.stdout.strip()) * 1024
    return None
