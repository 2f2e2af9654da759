"""`python -m vmhost.bench`: how long `berth machine start` takes to a usable engine, and the image's size.

For each `--arch` (default: the host's; `--arch x86_64 --arch aarch64` for both) builds the guest image
if the cache lacks it, creates a throwaway machine in a temporary directory, starts it (timing each phase
as the supervisor reports it, and printing the guest's own timeline from its console), pings berthd
through the tunnel, and with `--reclaim` measures the memory and disk the machine gives back to the
host; then stops and removes it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from vmhost.arch import ARCHES, arch
from vmhost.image import GuestImage, build, cache_dir
from vmhost.machine import Machine
from vmhost.machines import Machines
from vmhost.ports import UnixHTTPConnection, engine_get


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _api(machine: Machine, method: str, url: str, body: Any = None, length: int | None = None,
         timeout: float = 600) -> tuple[int, bytes]:
    conn = UnixHTTPConnection(machine.engine_socket, timeout)
    try:
        headers = {"Content-Type": "application/x-tar" if length is not None else "application/json"}
        if length is not None:
            headers["Content-Length"] = str(length)
        data = json.dumps(body).encode() if body is not None and length is None else body
        conn.request(method, url, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _resident(pid: int | None) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _allocated(path: Path) -> int:
    return path.stat().st_blocks * 512


class Reclaim:
    """What a machine gives back: QEMU's resident memory after a container touched a lot of it (virtio-balloon
    free page reporting), and the disk file after an image is removed (discard=unmap, ext4's discard)."""

    def __init__(self, machines: Machines, machine: Machine, busybox: Path, work: Path) -> None:
        self.machines, self.machine, self.work = machines, machine, work
        tar = work / "busybox.tar"
        with tarfile.open(tar, "w") as out:
            out.add(busybox, arcname="bin/busybox")
            for applet in ("sh", "head", "tail", "wc", "true"):
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname = tarfile.SYMTYPE, "/bin/busybox"
                out.addfile(link)
        with tar.open("rb") as f:
            status, body = _api(machine, "POST", "/images/create?fromSrc=-&repo=bench-busybox&tag=latest", f,
                                tar.stat().st_size)
        if status != 200:
            raise RuntimeError(f"importing busybox: HTTP {status} {body[-300:]!r}")

    def _qemu(self) -> int | None:
        return self.machines.status(self.machine.name).qemu_pid

    def memory(self, mib: int) -> None:
        time.sleep(5)
        before = _resident(self._qemu())
        status, body = _api(self.machine, "POST", "/containers/create", {
            "Image": "bench-busybox", "Cmd": ["sh", "-c", f"head -c {mib}m /dev/zero | tail -n 1 | wc -c"]})
        if status != 201:
            raise RuntimeError(f"creating the container: HTTP {status} {body[-300:]!r}")
        cid = json.loads(body)["Id"]
        _api(self.machine, "POST", f"/containers/{cid}/start")
        peak, t0 = before, time.monotonic()
        while True:
            peak = max(peak, _resident(self._qemu()))
            _, info = _api(self.machine, "GET", f"/containers/{cid}/json")
            state = json.loads(info)["State"]
            if not state["Running"]:
                break
            time.sleep(0.5)
        if state["ExitCode"] != 0:
            raise RuntimeError(f"the container that touches memory failed (exit {state['ExitCode']}): "
                               f"{state.get('Error') or 'is --busybox a binary of the guest architecture?'}")
        touched = time.monotonic() - t0
        _api(self.machine, "DELETE", f"/containers/{cid}?force=1")
        samples = []
        for second in range(1, 61):
            time.sleep(1)
            samples.append((second, _resident(self._qemu())))
        settled = next((s for s, rss in samples if rss <= before + 0.1 * (peak - before)), None)
        print(f"memory: QEMU resident before {_mb(before)}, peak {_mb(peak)} (a container touched {mib} MiB in "
              f"{touched:.0f} s), after 10 s {_mb(samples[9][1])}, after 60 s {_mb(samples[-1][1])}"
              + (f"; back within 10 % of the rise after {settled} s" if settled else ""))

    def disk(self, size_mb: int) -> None:
        disk = self.machine.dir / "disk.qcow2"
        before = _allocated(disk)
        tar = self.work / "big.tar"
        with tarfile.open(tar, "w") as out:
            info = tarfile.TarInfo("blob")
            info.size = size_mb * 10**6
            with (self.work / "blob").open("wb") as f:
                for _ in range(size_mb):
                    f.write(os.urandom(10**6))  # random: no zero detection can make it small
            with (self.work / "blob").open("rb") as f:
                out.addfile(info, f)
        (self.work / "blob").unlink()
        t0 = time.monotonic()
        with tar.open("rb") as f:
            status, body = _api(self.machine, "POST", "/images/create?fromSrc=-&repo=bench-big&tag=latest", f,
                                tar.stat().st_size)
        if status != 200:
            raise RuntimeError(f"importing the {size_mb} MB image: HTTP {status} {body[-300:]!r}")
        tar.unlink()
        added = _allocated(disk)
        imported = time.monotonic() - t0
        _api(self.machine, "DELETE", "/images/bench-big:latest?force=1")
        time.sleep(5)
        removed = _allocated(disk)
        from vmhost.ssh import Connection

        connection = Connection(self.machine.endpoint())
        try:
            connection.run("sync; fstrim -a", timeout=120)
        finally:
            connection.close()
        trimmed = _allocated(disk)
        print(f"disk: file on the host {_mb(before)} before, {_mb(added)} with a {size_mb} MB image (imported in "
              f"{imported:.0f} s), {_mb(removed)} 5 s after removing it, {_mb(trimmed)} after fstrim")


def guest_busybox(guest_arch: str) -> Path:
    """A static busybox the guest runs natively: the host's for its own architecture, else the one the
    e2e tests unpack from Debian's arm64 package into the guest image cache."""
    if guest_arch == platform.machine():
        return Path("/bin/busybox")
    path = cache_dir() / f"busybox-{arch(guest_arch).debian}" / "bin" / "busybox"
    if not path.exists():
        raise SystemExit(f"no {guest_arch} busybox at {path}: pass --busybox, or run tests/e2e/test_machine.py once")
    return path


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
    parser.add_argument("--arch", action="append", choices=sorted(ARCHES),
                        help="guest architecture, repeatable: --arch x86_64 --arch aarch64 (default: the host's)")
    parser.add_argument("--image", type=Path, help="a built guest image directory (default: build or reuse)")
    parser.add_argument("--reclaim", action="store_true",
                        help="also measure memory and disk given back to the host (needs a static busybox)")
    parser.add_argument("--busybox", type=Path, default=None,
                        help="static busybox for the guest's architecture (--reclaim; default: one found here)")
    parser.add_argument("--touch-mib", type=int, default=1024, help="memory a container touches (--reclaim)")
    parser.add_argument("--image-mb", type=int, default=500, help="size of the image added and removed (--reclaim)")
    args = parser.parse_args(argv)
    if args.image:
        bench(args, GuestImage(args.image))
        return 0
    for guest_arch in args.arch or [None]:
        t0 = time.monotonic()
        image = build(guest_arch=guest_arch)
        print(f"guest image {image.path.name} ({image.arch}): ready in {time.monotonic() - t0:.1f} s "
              f"(built in {image.manifest.get('build_seconds')} s when it was built)")
        bench(args, image)
    return 0


def bench(args: argparse.Namespace, image: GuestImage) -> None:
    """Start to engine ready (per phase, host's and guest's view), stop, and with --reclaim memory and disk."""
    print(f"== {image.arch}: guest image {image.path.name}")
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
            if args.reclaim and run == args.runs:
                reclaim = Reclaim(machines, machine, args.busybox or guest_busybox(image.arch), base)
                reclaim.memory(args.touch_mib)
                reclaim.disk(args.image_mb)
            t = time.monotonic()
            machines.stop("bench")
            print(f"  stop: {time.monotonic() - t:.1f} s")
        disk = _allocated(base / "bench" / "disk.qcow2")
        print(f"machine disk after {args.runs} boot(s): {_mb(disk)} on the host (copy-on-write over the image)")
    finally:
        if (base / "bench" / "machine.json").exists():
            Machines(base).remove("bench", force=True)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
