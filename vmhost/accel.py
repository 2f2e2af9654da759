"""Whether the host's hypervisor accepted the guest, and what Berth remembers when it did not.

`auto` picks the platform's hypervisor (vmhost.machine.choose_accel), but a hypervisor that exists can
still refuse a guest: here /dev/kvm opens, yet QEMU aborts ("failed to set MSR 0x10a") or the guest
hangs before printing anything. A refused hypervisor is noticed within FIRST_LINE_SECONDS, the machine
falls back to TCG once, and the refusal is kept in `<machine dir>/accel.json` so later starts go straight
to TCG instead of waiting again. Choosing an accelerator explicitly (`berth machine set --accel`) forgets it.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# A guest under a working hypervisor prints its first console line in about a second (kernel banner,
# or the init's own line); twenty leaves room for a loaded laptop without making a refusal slow to see.
FIRST_LINE_SECONDS = 20.0
REFUSALS = "accel.json"


@dataclass(frozen=True)
class Refusal:
    accel: str  # the hypervisor that refused the guest
    reason: str  # what was seen, for the user

    def advice(self, machine: str) -> str:
        return (f"{self.accel} refused this guest ({self.reason}); using tcg, which is slower. "
                f"To force one: `berth machine set {machine} --accel {self.accel}` (or --accel tcg)")


def refusal(qemu: subprocess.Popen[bytes], accel: str, serial_log: Path, qemu_log: Path,
            stopping: threading.Event, bound: float = FIRST_LINE_SECONDS, console: bool = True) -> Refusal | None:
    """None once the guest has printed on its console; a Refusal if QEMU exits or the console stays empty.

    `console=False` is for images whose init prints nothing early (systemd under `quiet`, before
    berth-init): then only QEMU exiting within `bound` counts, and silence is no proof."""
    deadline = time.monotonic() + bound
    while not stopping.is_set():
        if qemu.poll() is not None:
            return Refusal(accel, f"QEMU exited ({qemu.returncode}): {_tail(qemu_log)}")
        if serial_log.exists() and serial_log.stat().st_size > 0:
            return None
        if time.monotonic() > deadline:
            return Refusal(accel, f"the guest printed nothing on its console in {bound:.0f} s") if console else None
        stopping.wait(0.1)
    return None


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no output"
    # QEMU's last line is the one that says why (an assertion, "failed to set MSR ...").
    return lines[-1][-300:] if lines else "no output"


def remembered(machine_dir: Path) -> Refusal | None:
    try:
        data = json.loads((machine_dir / REFUSALS).read_text())
        return Refusal(str(data["accel"]), str(data["reason"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember(machine_dir: Path, refused: Refusal) -> None:
    data = {"accel": refused.accel, "reason": refused.reason, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (machine_dir / REFUSALS).write_text(json.dumps(data, indent=2) + "\n")


def forget(machine_dir: Path) -> None:
    (machine_dir / REFUSALS).unlink(missing_ok=True)
