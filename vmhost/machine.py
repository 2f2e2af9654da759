"""A Berth machine: what it is made of, as kept in `<machines dir>/<name>/machine.json`.

Each machine has a directory `<machines dir>/<name>/`:

    machine.json              the settings below
    id_ed25519(.pub)          the key Berth logs in with
    guest_host_key(.pub)      the guest's ssh host key, generated here and pinned
    disk.qcow2                the machine's disk, backed by the guest image's root file system
    seed.img                  keys, hostname and shared folders, read by the guest at every boot (vmhost.seed)
    serial.log                the guest's console (the boot log)
    agent.pid, agent.log, status.json   the supervisor that runs QEMU and the tunnels (vmhost.agent)

Where machines are kept is vmhost.store; how QEMU runs one, vmhost.qemu; their life cycle, vmhost.machines.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmhost.arch import ARCHES
from vmhost.localend import LocalEnd, engine_end

if TYPE_CHECKING:
    from vmhost.ssh import Endpoint

Progress = Callable[[str], None]
GUEST_ENGINE_SOCKET = "/run/berth/berth.sock"
GUEST_USER = "root"

# Machine names become file and directory names.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass
class MachineConfig:
    name: str
    image: Path  # the machine's boot disk (qcow2, or raw for any other suffix)
    ssh_port: int  # host port on 127.0.0.1 forwarded to the guest's sshd
    data_dir: Path  # logs, pid file and sockets of this machine
    cpus: int = 2
    memory_mib: int = 2048
    disk_gib: int = 20
    arch: str = "x86_64"  # the guest's: always the host's own in a release, so the hypervisor can run it

    def __post_init__(self) -> None:
        if self.arch not in ARCHES:
            raise ValueError(f"guest architecture {self.arch!r}: use one of {', '.join(ARCHES)}")
        if not _NAME.match(self.name):
            raise ValueError(f"machine name {self.name!r}: use up to 63 letters, digits, '_', '.' or '-'")
        if not 1 <= self.ssh_port <= 65535:
            raise ValueError(f"ssh port {self.ssh_port} is not a TCP port (1-65535)")
        if self.cpus < 1:
            raise ValueError("a machine needs at least one CPU")
        if self.memory_mib < 256:
            raise ValueError("a machine needs at least 256 MiB of memory")
        if self.disk_gib < 1:
            raise ValueError("a machine needs a disk of at least 1 GiB")

    @property
    def serial_log(self) -> Path:
        return self.data_dir / "serial.log"

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "qemu.pid"



class MachineError(Exception):
    """A failure a person can act on; the message says what to do."""


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
