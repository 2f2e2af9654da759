"""`python -m vmhost.bench`: how long `berth machine start` takes to a usable engine, and the image's size.

Builds the guest image if the cache lacks it, creates a throwaway machine in a temporary directory,
starts it (timing each phase as the supervisor reports it), pings berthd through the tunnel, stops it
and removes it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from vmhost.arch import ARCHES
from vmhost.image import GuestImage, build
from vmhost.machines import Machines
from vmhost.ports import engine_get


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def guest_timeline(serial_log: Path) -> list[str]:
    """berth-init's phase lines from the console ("berth-init: <uptime> <phase>")."""
    try:
        text = serial_log.read_text(errors="replace")
    except OSError:
        return []
    return [line[line.find("berth-init:"):].strip() for line in text.splitlines() if "berth-init:" in line]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vmhost.bench")
    parser.add_argument("--accel", default=os.environ.get("BERTH_MACHINE_ACCEL", "auto"),
                        help="accelerator (default: $BERTH_MACHINE_ACCEL or auto)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--memory", type=int, default=2048)
    parser.add_argument("--arch", choices=sorted(ARCHES), help="guest architecture (default: the host's)")
    parser.add_argument("--image", type=Path, help="a built guest image directory (default: build or reuse)")
    args = parser.parse_args(argv)

    t0 = time.monotonic()
    image = GuestImage(args.image) if args.image else build(guest_arch=args.arch)
    print(f"guest image {image.path.name} ({image.arch}): ready in {time.monotonic() - t0:.1f} s "
          f"(built in {image.manifest.get('build_seconds')} s when it was built)")
    files = {p.name: p.stat().st_size for p in (image.kernel, image.initrd, image.rootfs)}
    print(f"  download size {_mb(sum(files.values()))}: " + ", ".join(f"{k} {_mb(v)}" for k, v in files.items()))
    info = subprocess.run(["qemu-img", "info", "--output=json", str(image.rootfs)], capture_output=True, text=True)
    if info.returncode == 0:
        print(f"  root file system: {_mb(json.loads(info.stdout)['virtual-size'])} virtual")

    base = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    try:
        machines = Machines(base)
        machines.init("bench", image.path, cpus=args.cpus, memory_mib=args.memory, disk_gib=10, shares=[],
                      accel=args.accel)
        for run in range(1, args.runs + 1):
            phases: list[tuple[float, str]] = []
            start = time.monotonic()

            def record(message: str, phases: list[tuple[float, str]] = phases, start: float = start) -> None:
                phases.append((time.monotonic() - start, message))

            machines.start("bench", record, timeout=600)
            ready = time.monotonic() - start
            machine = machines.get("bench")
            t = time.monotonic()
            status, _ = engine_get(machine.engine_socket, "/_ping")
            ping_ms = (time.monotonic() - t) * 1000
            print(f"run {run} ({machines.inspect('bench').get('accelerator')}): start -> engine ready {ready:.1f} s; "
                  f"/_ping through the tunnel {ping_ms:.0f} ms (HTTP {status})")
            for at, message in phases:
                print(f"  {at:6.1f} s  {message}")
            print("  in the guest (seconds since its kernel started):")
            for line in guest_timeline(machine.boot_log):
                print(f"    {line}")
            t = time.monotonic()
            machines.stop("bench")
            print(f"  stop: {time.monotonic() - t:.1f} s")
        disk = (base / "bench" / "disk.qcow2").stat().st_size
        print(f"machine disk after {args.runs} boot(s): {_mb(disk)} (copy-on-write over the image)")
    finally:
        if (base / "bench" / "machine.json").exists():
            Machines(base).remove("bench", force=True)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
