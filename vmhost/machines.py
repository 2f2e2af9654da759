"""Berth machines: what they are (kept as JSON in the user's config directory) and their life cycle.

Each machine has a directory `<machines dir>/<name>/`:

    machine.json              the settings below
    id_ed25519(.pub)          the key Berth logs in with
    guest_host_key(.pub)      the guest's ssh host key, generated here and pinned
    disk.qcow2                the machine's disk, backed by the guest image's root file system
    seed.img                  keys, hostname and shared folders, read by the guest at every boot
    serial.log                the guest's console (the boot log)
    agent.pid, agent.log, status.json   the supervisor that runs QEMU and the tunnels (vmhost.agent)

A running machine is one supervisor process (vmhost.agent) that owns QEMU and the SSH tunnels;
start and stop talk to it through its pid and status file, so the CLI and the desktop app can both
drive it and neither has to stay running.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmhost import localend, procs
from vmhost.accel import forget, remembered
from vmhost.arch import ARCHES, host_arch
from vmhost.arch import arch as guest_arch
from vmhost.backend import choose as choose_backend
from vmhost.dockercontext import forget_context
from vmhost.image import GuestImage, cache_dir, find_image, prepare_kernel
from vmhost.keys import generate_ed25519, write_private_key
from vmhost.localend import BERTH_PIPE, LocalEnd, context_endpoint, engine_end
from vmhost.machine import _ACCELERATORS, QEMU, Boot, MachineConfig, choose_accel, qemu_argv
from vmhost.procs import pid_alive
from vmhost.release import DownloadProgress, ReleaseError, install, install_archive

if TYPE_CHECKING:
    from vmhost.ssh import Endpoint

Progress = Callable[[str], None]
GUEST_ENGINE_SOCKET = "/run/berth/berth.sock"
GUEST_USER = "root"
# Direct kernel boot, for images from before their manifest named the command line (systemd as init).
# The root is found by label: virtio disks enumerate in PCI order, so the seed disk may come first.
KERNEL_CMDLINE = "root=LABEL=berth-root rw console=ttyS0 net.ifnames=0 quiet mitigations=off"


class MachineError(Exception):
    """A failure a person can act on; the message says what to do."""


def machines_dir() -> Path:
    env = os.environ.get("BERTH_MACHINES_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "berth" / "machines"


@dataclass
class Machine:
    name: str
    image: str  # the guest image directory (kernel, initrd, rootfs.qcow2)
    ssh_port: int  # host loopback port QEMU forwards to the guest's sshd
    cpus: int = 2
    memory_mib: int = 2048
    disk_gib: int = 20
    ports: list[str] = field(default_factory=list)  # fixed forwards "HOST:GUEST" besides published ports
    shares: list[str] = field(default_factory=list)  # host directories mounted at the same path in the guest
    accel: str = "auto"  # auto, kvm, hvf, whpx or tcg
    qemu: str = ""  # qemu-system-<arch> to use; empty: $BERTH_QEMU, then PATH
    arch: str = "x86_64"  # the guest image's architecture
    created: str = ""
    backend: str = "qemu"  # qemu, or wsl (a WSL2 distro of Berth's own; Windows): see vmhost.backend
    engine_port: int = 0  # the engine tunnel's loopback TCP port, where the host has no Unix sockets
    dir: Path = field(default=Path(), compare=False, repr=False)

    def config(self) -> MachineConfig:
        # MachineConfig validates the numbers, so building one checks the settings.
        return MachineConfig(self.name, self.dir / "disk.qcow2", self.ssh_port, self.dir,
                             self.cpus, self.memory_mib, self.disk_gib, self.arch)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("dir")
        return data

    @property
    def engine_end(self) -> LocalEnd:
        """The host end of the tunnel to berthd (vmhost.localend chooses: a Unix socket, or loopback TCP on
        Windows)."""
        return engine_end(self.dir, self.name, self.engine_port)

    @property
    def engine_socket(self) -> Path:
        """The tunnel's Unix socket, on hosts that have them: point DOCKER_HOST here."""
        end = self.engine_end
        if end.kind != "unix":
            raise MachineError(f"machine {self.name}'s engine is at {end.docker_host}, not a Unix socket")
        return Path(end.address)

    @property
    def docker_host(self) -> str:
        return self.engine_end.docker_host

    @property
    def boot_log(self) -> Path:
        return self.dir / "serial.log"

    @property
    def client_key(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def host_key_file(self) -> Path:
        return self.dir / "guest_host_key"

    @property
    def host_key_line(self) -> str:
        return self.host_key_file.with_name("guest_host_key.pub").read_text().strip()

    def endpoint(self) -> Endpoint:
        from vmhost.ssh import Endpoint  # paramiko only when a machine is reached

        return Endpoint("127.0.0.1", self.ssh_port, GUEST_USER, self.client_key, self.host_key_line)

    def forwards(self) -> list[tuple[int, int]]:
        return [parse_port(spec) for spec in self.ports]


@dataclass
class Status:
    state: str  # stopped, starting, running, stopping, error
    message: str = ""
    agent_pid: int | None = None
    qemu_pid: int | None = None
    published: list[int] = field(default_factory=list)  # container ports forwarded to 127.0.0.1
    notice: str = ""  # something the user should read once, e.g. why the machine runs under TCG
    pipes: list[str] = field(default_factory=list)  # Windows: named pipes the engine is served on


def parse_port(spec: str) -> tuple[int, int]:
    """"8080:80" (host:guest) or "8080" (same on both): ports on the host's loopback and in the guest."""
    parts = spec.split(":")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (1, 2) or not all(0 < n < 65536 for n in numbers):
        raise MachineError(f"port {spec!r}: use HOST:GUEST or PORT, with ports 1-65535")
    return numbers[0], numbers[-1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def find_qemu(machine: Machine | None = None) -> str:
    """The QEMU binary to run, or a MachineError that says how to get one."""
    configured = (machine.qemu if machine else "") or os.environ.get("BERTH_QEMU", "")
    if configured:
        if shutil.which(configured):
            return configured
        raise MachineError(f"QEMU not found at {configured!r} (set by `berth machine set --qemu` or $BERTH_QEMU)")
    binary = ARCHES[machine.arch].qemu if machine else QEMU
    found = shutil.which(binary)
    if found:
        return found
    debian = "qemu-system-arm" if binary.endswith("aarch64") else "qemu-system-x86"
    hint = {
        "Darwin": "brew install qemu",
        "Windows": "install QEMU from qemu.org and add it to PATH",
    }.get(localend.system(), f"apt install {debian} qemu-utils")
    raise MachineError(f"{binary} not found on PATH: {hint}, or point $BERTH_QEMU at it")


def find_qemu_img(qemu: str) -> str:
    # qemu-img ships next to qemu-system-* in every QEMU distribution.
    sibling = Path(qemu).with_name("qemu-img" + (".exe" if qemu.endswith(".exe") else ""))
    if sibling.exists():
        return str(sibling)
    found = shutil.which("qemu-img")
    if found:
        return found
    raise MachineError("qemu-img not found: install qemu-utils (or QEMU's full package)")


def requested_accel(machine: Machine) -> str:
    """$BERTH_MACHINE_ACCEL, else the machine's setting: auto or an accelerator's name."""
    accel = os.environ.get("BERTH_MACHINE_ACCEL") or machine.accel
    if accel != "auto" and accel not in _ACCELERATORS:
        raise MachineError(f"accelerator {accel!r}: use auto or one of {', '.join(_ACCELERATORS)}")
    return accel


def resolve_accel(machine: Machine) -> str:
    """The accelerator to start with: what was asked for, and for auto the host's hypervisor (see
    choose_accel) unless it refused this guest before (vmhost.accel), then TCG."""
    accel = requested_accel(machine)
    if accel != "auto":
        return accel
    chosen = choose_accel()
    refused = remembered(machine.dir)
    return "tcg" if refused is not None and refused.accel == chosen else chosen


def may_fall_back(machine: Machine, accel: str) -> bool:
    """Whether a refusal of `accel` should be met by trying TCG: only what Berth chose, never what was forced."""
    return accel != "tcg" and requested_accel(machine) == "auto"


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


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def write_seed(machine: Machine) -> Path:
    """The seed disk: a tar archive the guest unpacks at boot (works without any host tool)."""
    host_key = machine.host_key_file
    files: dict[str, tuple[bytes, int]] = {
        "ssh_host_ed25519_key": (host_key.read_bytes(), 0o600),
        "ssh_host_ed25519_key.pub": ((machine.host_key_line + "\n").encode(), 0o644),
        "authorized_keys": (machine.client_key.with_name("id_ed25519.pub").read_bytes(), 0o600),
        "hostname": (f"berth-{machine.name}\n".encode(), 0o644),
        "shares": ("".join(f"{tag}\t{path}\n" for tag, path in share_tags(machine)).encode(), 0o644),
    }
    seed = machine.dir / "seed.img"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    data += b"\0" * (-len(data) % 65536)  # whole sectors; a little slack for QEMU's raw driver
    fd = os.open(seed, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return seed


def share_tags(machine: Machine) -> list[tuple[str, str]]:
    return [(f"share{i}", path) for i, path in enumerate(machine.shares)]


def shares_supported() -> bool:
    # QEMU's virtfs (9p) exists on Linux and macOS builds, not on Windows.
    return localend.system() != "Windows"


class Machines:
    """The machines of one user (or of a test's directory)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or machines_dir()

    # ---- settings ----

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
        machine.dir = self.root / name
        machine.config()
        for spec in machine.ports:
            parse_port(spec)
        if accel != "auto" and accel not in _ACCELERATORS:
            raise MachineError(f"accelerator {accel!r}: use auto or one of {', '.join(_ACCELERATORS)}")
        qemu_img = find_qemu_img(find_qemu(machine))
        machine.dir.mkdir(parents=True, exist_ok=False)
        try:
            progress("generating keys")
            write_private_key(machine.client_key, generate_ed25519(f"berth@{name}"))
            write_private_key(machine.host_key_file, generate_ed25519(f"root@berth-{name}"))
            progress(f"creating a {disk_gib} GiB disk on {guest.path.name}")
            subprocess.run([qemu_img, "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(guest.rootfs),
                            str(machine.dir / "disk.qcow2"), f"{disk_gib}G"], check=True, capture_output=True)
            write_seed(machine)
            self.save(machine)
        except BaseException:
            shutil.rmtree(machine.dir, ignore_errors=True)
            raise
        return machine

    def _init_wsl(self, name: str, rootfs_tar: Path | None, ports: list[str], progress: Progress,
                  image_url: str | None = None, download: DownloadProgress | None = None) -> Machine:
        """A machine whose guest is a WSL2 distro imported from the guest's root file system tar (the release's,
        fetched as the QEMU guest image is, unless one is given or built here)."""
        from vmhost import wslmachine

        rootfs_tar = wslmachine.rootfs_tar(rootfs_tar, image_url, progress, download)
        machine = Machine(name=name, image=str(rootfs_tar.resolve()), ssh_port=free_port(), ports=list(ports),
                          shares=[], backend="wsl", engine_port=free_port(),
                          created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        machine.dir = self.root / name
        machine.config()
        for spec in machine.ports:
            parse_port(spec)
        machine.dir.mkdir(parents=True, exist_ok=False)
        try:
            progress("generating keys")
            write_private_key(machine.client_key, generate_ed25519(f"berth@{name}"))
            write_private_key(machine.host_key_file, generate_ed25519(f"root@berth-{name}"))
            wslmachine.import_distro(machine, rootfs_tar, progress)
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
        if accel is not None and accel != "auto" and accel not in _ACCELERATORS:
            raise MachineError(f"accelerator {accel!r}: use auto or one of {', '.join(_ACCELERATORS)}")
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
        guest = GuestImage(Path(machine.image))
        shares = tuple((tag, Path(path)) for tag, path in share_tags(machine)) if shares_supported() else ()
        boot = Boot(guest.boot_kernel(), guest.initrd, guest.cmdline or KERNEL_CMDLINE, machine.dir / "seed.img",
                    shares)
        return qemu_argv(machine.config(), accel or resolve_accel(machine), boot, find_qemu(machine))

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
