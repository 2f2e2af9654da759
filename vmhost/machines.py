"""The life cycle of Berth machines: create, change, start, stop, inspect, remove.

A running machine is one supervisor process (vmhost.agent, or vmhost.wslagent for a WSL distro) that
owns QEMU and the SSH tunnels; start and stop talk to it through its pid and status file, so the CLI and
the desktop app can both drive it and neither has to stay running. What a machine is: vmhost.machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vmhost import procs
from vmhost.accel import forget, remembered
from vmhost.arch import arch as guest_arch
from vmhost.arch import host_arch
from vmhost.backend import choose as choose_backend
from vmhost.dockercontext import forget_context
from vmhost.image import GuestImage, cache_dir, find_image, prepare_kernel
from vmhost.keys import generate_ed25519, write_private_key
from vmhost.localend import BERTH_PIPE, LocalEnd, context_endpoint, free_port, port_free
from vmhost.machine import GUEST_USER, Machine, MachineError, Progress, Status, parse_port
from vmhost.procs import pid_alive, read_pid
from vmhost.qemu import check_accel, find_qemu, find_qemu_img, machine_argv, requested_accel, resolve_accel
from vmhost.release import DownloadProgress, ReleaseError, install, install_archive
from vmhost.seed import shares_supported, write_seed
from vmhost.store import MachineStore
from vmhost.usage import disk_used_bytes, resident_bytes


class Machines(MachineStore):
    """The life cycle of a user's machines: create, change, start, stop, inspect, remove."""

    def init(self, name: str = "default", image: Path | None = None, cpus: int = 2, memory_mib: int = 2048,
             disk_gib: int = 20, ports: list[str] | None = None, shares: list[str] | None = None,
             accel: str = "auto", qemu: str = "", progress: Progress = lambda _: None,
             image_url: str | None = None, download: DownloadProgress | None = None,
             arch: str | None = None, backend: str = "auto") -> Machine:
        """Create a machine. Its guest: `image` (a guest image directory, or a release archive), else one
        built here, else the pinned release image for this host, fetched from `image_url` or the pin's
        location (see vmhost.release); `download` hears that download's progress. `arch` picks another
        architecture's guest than the host's (emulated: slow, for testing what other hosts run)."""
        if (self.root / name / "machine.json").exists():
            raise MachineError(f"machine {name} already exists (remove it with `berth machine rm {name}`)")
        try:
            choice = choose_backend(backend)
        except ValueError as e:
            raise MachineError(str(e)) from e
        progress(f"backend: {choice.reason}")
        if choice.backend == "wsl":
            return self._init_wsl(name, image, ports or [], progress, image_url, download)
        guest = self._guest(image, image_url, progress, download, arch)
        if shares is None:
            shares = [str(Path.home())] if shares_supported() else []
        machine = Machine(name=name, image=str(guest.path.resolve()), ssh_port=free_port(), cpus=cpus,
                          memory_mib=memory_mib, disk_gib=disk_gib, ports=list(ports or []),
                          shares=[str(Path(s).resolve()) for s in shares], accel=accel, qemu=qemu,
                          arch=guest.arch,
                          created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self._check(machine)
        check_accel(accel)
        qemu_img = find_qemu_img(find_qemu(machine))

        def make_disk() -> None:
            progress(f"creating a {disk_gib} GiB disk on {guest.path.name}")
            subprocess.run([qemu_img, "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(guest.rootfs),
                            str(machine.dir / "disk.qcow2"), f"{disk_gib}G"], check=True, capture_output=True)
            write_seed(machine)

        return self._create(machine, progress, make_disk)

    def _init_wsl(self, name: str, rootfs_tar: Path | None, ports: list[str], progress: Progress,
                  image_url: str | None = None, download: DownloadProgress | None = None) -> Machine:
        """A machine whose guest is a WSL2 distro imported from the guest's root file system tar (the release's,
        fetched as the QEMU guest image is, unless one is given or built here)."""
        from vmhost import wslmachine

        rootfs_tar = wslmachine.rootfs_tar(rootfs_tar, image_url, progress, download)
        machine = Machine(name=name, image=str(rootfs_tar.resolve()), ssh_port=free_port(), ports=list(ports),
                          shares=[], backend="wsl", engine_port=free_port(),
                          created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self._check(machine)
        return self._create(machine, progress, lambda: wslmachine.import_distro(machine, rootfs_tar, progress))

    def _check(self, machine: Machine) -> None:
        """A new machine's settings, checked before anything is made (and where it will live)."""
        machine.dir = self.root / machine.name
        machine.config()
        for spec in machine.ports:
            parse_port(spec)

    def _create(self, machine: Machine, progress: Progress, make_guest: Callable[[], None]) -> Machine:
        """Makes the checked `machine`'s directory, keys and guest (`make_guest`) and saves it; a failure
        part way removes what was made."""
        machine.dir.mkdir(parents=True, exist_ok=False)
        try:
            progress("generating keys")
            write_private_key(machine.client_key, generate_ed25519(f"berth@{machine.name}"))
            write_private_key(machine.host_key_file, generate_ed25519(f"root@berth-{machine.name}"))
            make_guest()
            self.save(machine)
        except BaseException:
            shutil.rmtree(machine.dir, ignore_errors=True)
            raise
        return machine

    @staticmethod
    def _guest(image: Path | None, image_url: str | None, progress: Progress,
               download: DownloadProgress | None, arch: str | None) -> GuestImage:
        try:
            arch = guest_arch(arch).name if arch else host_arch().name
            if image is not None and image.is_file():
                progress(f"verifying and unpacking {image}")
                guest = install_archive(image, cache_dir())
            elif image is not None:
                guest = GuestImage(image)
                if not guest.complete():
                    raise MachineError(f"{image} is not a complete guest image")
            else:
                found = None if image_url or os.environ.get("BERTH_GUEST_URL") else find_image(guest_arch=arch)
                if found is not None:
                    return found
                progress(f"fetching the {arch} guest image")
                guest = install(cache_dir(), arch, image_url, progress=download or (lambda d: progress(d.describe())))
        except ReleaseError as e:
            raise MachineError(str(e)) from e
        except ValueError as e:  # no guest for this host's architecture
            raise MachineError(str(e)) from e
        progress(f"guest image {guest.path.name} ({guest.arch}, kernel {guest.manifest.get('kernel', '?')})")
        return guest

    def update(self, name: str, *, cpus: int | None = None, memory_mib: int | None = None,
            disk_gib: int | None = None, ports: list[str] | None = None, shares: list[str] | None = None,
            accel: str | None = None, qemu: str | None = None) -> Machine:
        machine = self.get(name)
        if self.status(name).state != "stopped":
            raise MachineError(f"machine {name} is running: stop it before changing its settings")
        if disk_gib is not None and disk_gib < machine.disk_gib:
            raise MachineError(f"disks only grow: {name} has {machine.disk_gib} GiB")
        for spec in ports or []:
            parse_port(spec)
        if accel is not None:
            check_accel(accel)
        if disk_gib is not None and disk_gib > machine.disk_gib:
            subprocess.run([find_qemu_img(find_qemu(machine)), "resize", "-q", str(machine.dir / "disk.qcow2"),
                            f"{disk_gib}G"], check=True, capture_output=True)
            machine.disk_gib = disk_gib  # the guest grows its file system at the next boot
        if accel is not None:
            forget(machine.dir)  # a choice made now outranks a refusal seen before
        for attr, value in (("cpus", cpus), ("memory_mib", memory_mib), ("ports", ports), ("accel", accel),
                            ("qemu", qemu)):
            if value is not None:
                setattr(machine, attr, value)
        if shares is not None:
            machine.shares = [str(Path(s).resolve()) for s in shares]
        self.save(machine)
        write_seed(machine)
        return machine

    # ---- life cycle ----

    def status(self, name: str) -> Status:
        machine = self.get(name)
        agent = read_pid(machine.dir / "agent.pid")
        try:
            recorded = json.loads((machine.dir / "status.json").read_text())
        except (OSError, ValueError):
            recorded = {}
        qemu = recorded.get("qemu_pid")
        if not pid_alive(agent):
            if pid_alive(qemu):
                return Status("error", "QEMU runs without its supervisor: `berth machine stop` ends it",
                              None, qemu)
            message = recorded.get("message", "") if recorded.get("state") == "error" else ""
            return Status("stopped", message)
        return Status(recorded.get("state", "starting"), recorded.get("message", ""), agent,
                      qemu if pid_alive(qemu) else None, list(recorded.get("published", [])),
                      str(recorded.get("notice", "")), [str(p) for p in recorded.get("pipes", [])])

    def argv(self, machine: Machine, accel: str | None = None) -> list[str]:
        """QEMU's command line for `machine` (also what `inspect` shows); `accel` overrides resolve_accel."""
        return machine_argv(machine, accel)

    def start(self, name: str, progress: Progress = lambda _: None, timeout: float = 600) -> Machine:
        """Boot `name` and wait until berthd answers through the tunnel (or raise MachineError)."""
        machine = self.get(name)
        status = self.status(name)
        if status.state == "running":
            progress(f"machine {name} is already running")
            return machine
        if status.state == "error" and status.qemu_pid:
            self._kill_orphan(status.qemu_pid)
        elif status.state in ("starting", "stopping"):
            raise MachineError(f"machine {name} is {status.state}; wait for it, or `berth machine stop {name}`")
        if machine.backend == "wsl":
            return self._start_wsl(machine, progress, timeout)
        guest = GuestImage(Path(machine.image))
        if not guest.complete():
            raise MachineError(f"guest image {machine.image} is missing: build it with `python -m vmhost.image build`")
        if not port_free(machine.ssh_port):
            machine.ssh_port = free_port()  # something took the port since init: any free one will do
            self.save(machine)
        prepare_kernel(guest)
        self.argv(machine)  # fail here, with the message, if QEMU or the accelerator is wrong
        write_seed(machine)
        (machine.dir / "status.json").unlink(missing_ok=True)
        refused = remembered(machine.dir)
        if refused is not None and requested_accel(machine) == "auto" and resolve_accel(machine) == "tcg":
            progress(refused.advice(machine.name))
        progress(f"starting QEMU ({resolve_accel(machine)}, {machine.cpus} CPUs, {machine.memory_mib} MiB)")
        procs.launch_supervisor("vmhost.agent", self.root, machine.dir, name, timeout)
        return self._wait_state(machine, {"running"}, progress, timeout + 30)

    def _start_wsl(self, machine: Machine, progress: Progress, timeout: float) -> Machine:
        for attr in ("ssh_port", "engine_port"):
            if not port_free(getattr(machine, attr)):
                setattr(machine, attr, free_port())  # something took the port since init: any free one will do
                self.save(machine)
        (machine.dir / "status.json").unlink(missing_ok=True)
        progress(f"starting WSL distro berth-{machine.name}")
        procs.launch_supervisor("vmhost.wslagent", self.root, machine.dir, machine.name, timeout)
        return self._wait_state(machine, {"running"}, progress, timeout + 30)

    def _wait_state(self, machine: Machine, wanted: set[str], progress: Progress, timeout: float) -> Machine:
        deadline = time.monotonic() + timeout
        last = ""
        notices: set[str] = set()
        while time.monotonic() < deadline:
            status = self.status(machine.name)
            if status.notice and status.notice not in notices:
                notices.add(status.notice)
                progress(status.notice)
            if status.message and status.message != last:
                last = status.message
                progress(status.message)
            if status.state in wanted:
                return machine
            if status.state in ("error", "stopped"):
                raise MachineError(
                    f"machine {machine.name} did not start: {status.message or 'its supervisor exited'} "
                    f"(boot log: {machine.boot_log}, supervisor log: {machine.dir / 'agent.log'})")
            time.sleep(0.2)
        raise MachineError(f"machine {machine.name} not ready after {timeout:.0f} s (boot log: {machine.boot_log})")

    def stop(self, name: str, progress: Progress = lambda _: None, timeout: float = 90) -> None:
        status = self.status(name)
        if status.state == "stopped":
            progress(f"machine {name} is not running")
            return
        if status.agent_pid is None:
            if status.qemu_pid:
                self._kill_orphan(status.qemu_pid)
            return
        progress(f"stopping machine {name}")
        procs.request_stop(status.agent_pid, self.get(name).dir)
        deadline = time.monotonic() + timeout
        last = ""
        while pid_alive(status.agent_pid) and time.monotonic() < deadline:
            message = self.status(name).message
            if message and message != last:
                last = message
                progress(message)
            time.sleep(0.2)
        if pid_alive(status.agent_pid):
            procs.kill(status.agent_pid)
        current = self.status(name)
        if current.qemu_pid:
            self._kill_orphan(current.qemu_pid)
        progress(f"machine {name} stopped")

    @staticmethod
    def _kill_orphan(pid: int) -> None:
        procs.terminate(pid)
        for _ in range(50):
            if not pid_alive(pid):
                return
            time.sleep(0.1)
        procs.kill(pid)

    def remove(self, name: str, force: bool = False) -> None:
        machine = self.get(name)
        if self.status(name).state != "stopped":
            if not force:
                raise MachineError(f"machine {name} is running: stop it first, or use --force")
            self.stop(name)
        if machine.backend == "wsl":
            from vmhost import wslmachine

            wslmachine.unregister(machine)
        end = machine.engine_end
        if end.kind == "unix":
            Path(end.address).unlink(missing_ok=True)
        forget_context(machine.docker_host)
        if not [m for m in self.all() if m.name != name]:
            # Windows: the context may point at Berth's pipe, which any machine's supervisor serves; with
            # the last machine gone nothing will.
            forget_context(LocalEnd("npipe", BERTH_PIPE).docker_host)
        shutil.rmtree(machine.dir)

    def context_host(self, machine: Machine) -> str:
        """What the docker CLI's `berth` context points at for `machine`: its tunnel, or on Windows Berth's
        named pipe while the machine's supervisor serves it (vmhost.npipe)."""
        pipe_served = BERTH_PIPE in self.status(machine.name).pipes
        return context_endpoint(machine.engine_end, Path(), pipe_served=pipe_served)

    def inspect(self, name: str) -> dict[str, Any]:
        machine = self.get(name)
        status = self.status(name)
        data = machine.to_json()
        if machine.backend == "wsl":
            from vmhost import wslmachine

            data.update({"state": status.state, "message": status.message, "dir": str(machine.dir),
                         "docker_host": machine.docker_host, "agent_pid": status.agent_pid,
                         "ssh": {"host": "127.0.0.1", "port": machine.ssh_port, "user": GUEST_USER,
                                 "key": str(machine.client_key), "host_key": machine.host_key_line},
                         **wslmachine.describe(machine)})
            return data
        data.update({
            "state": status.state, "message": status.message, "dir": str(machine.dir),
            "docker_host": machine.docker_host, "boot_log": str(machine.boot_log),
            "ssh": {"host": "127.0.0.1", "port": machine.ssh_port, "user": GUEST_USER,
                    "key": str(machine.client_key), "host_key": machine.host_key_line},
            "published_ports": status.published, "agent_pid": status.agent_pid, "qemu_pid": status.qemu_pid,
        })
        with contextlib.suppress(MachineError):
            data["accelerator"] = resolve_accel(machine)
        # What the disk takes on the host (the guest's discards punch holes in it), beside what the guest sees;
        # and the memory QEMU holds.
        data["disk_bytes"] = disk_used_bytes(machine)
        data["disk_virtual_bytes"] = machine.disk_gib * 2**30
        data["memory_bytes"] = resident_bytes(status.qemu_pid)
        refused = remembered(machine.dir)
        if refused is not None:
            data["accelerator_refused"] = {"accel": refused.accel, "reason": refused.reason}
        return data

    def reclaim(self, name: str, progress: Progress = lambda _: None) -> tuple[int, int]:
        """Trim the running machine's file systems so freed blocks leave the disk file; (before, after) bytes
        the disk takes on the host."""
        machine = self.get(name)
        if self.status(name).state != "running":
            raise MachineError(f"machine {name} is not running: `berth machine start {name}`")
        disk = machine.dir / "disk.qcow2"
        before = disk.stat().st_blocks * 512
        from vmhost.ssh import Connection  # paramiko only when a machine is reached

        progress("trimming the guest's file systems")
        connection = Connection(machine.endpoint())
        try:
            status, _, stderr = connection.run("sync; fstrim -a", timeout=300)
        finally:
            connection.close()
        if status != 0:
            raise MachineError(f"fstrim in machine {name} failed: {stderr.strip()}")
        return before, disk.stat().st_blocks * 512

    def ssh_argv(self, name: str, command: list[str]) -> list[str]:
        """An OpenSSH command line that logs into the machine with its pinned host key."""
        machine = self.get(name)
        known_hosts = machine.dir / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{machine.ssh_port} {machine.host_key_line}\n")
        return ["ssh", "-i", str(machine.client_key), "-p", str(machine.ssh_port),
                "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
                "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
                *(["-t"] if not command and sys.stdin.isatty() else []), f"{GUEST_USER}@127.0.0.1", *command]
