"""Where the host end of a tunnel to berthd listens: the one place that chooses it.

CPython on Windows has no AF_UNIX, so there the engine's local end is loopback TCP (for the tunnel
Berth's own supervisor holds) and the docker CLI is offered named pipes; everywhere else it is a Unix
socket in the machine's directory. Nothing on the Windows path may construct an AF_UNIX socket.
"""

from __future__ import annotations

import os
import platform
import socket
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from vmhost.ssh import Connection, Forward

# sun_path holds 108 bytes on Linux, 104 on macOS; keep a margin.
MAX_SOCKET_PATH = 100
BERTH_PIPE = r"\\.\pipe\berth"
DOCKER_PIPE = r"\\.\pipe\docker_engine"  # what the docker CLI on Windows dials with no context or DOCKER_HOST


@dataclass(frozen=True)
class LocalEnd:
    kind: Literal["unix", "tcp", "npipe"]
    address: str  # a socket path, "127.0.0.1:PORT", or a pipe name

    @property
    def docker_host(self) -> str:
        if self.kind == "unix":
            return f"unix://{self.address}"
        if self.kind == "tcp":
            return f"tcp://{self.address}"
        # The CLI spells pipes with forward slashes: npipe:////./pipe/berth
        return "npipe://" + self.address.replace("\\", "/")

    @property
    def port(self) -> int:
        if self.kind != "tcp":
            raise ValueError(f"{self.docker_host} has no TCP port")
        return int(self.address.rsplit(":", 1)[1])


def system() -> str:
    """platform.system(); tests fake the platform by patching this one function."""
    return platform.system()


def engine_end(machine_dir: Path, name: str, tcp_port: int, host_system: str | None = None) -> LocalEnd:
    """The local end of machine `name`'s engine tunnel: loopback TCP on `tcp_port` on Windows, else a Unix
    socket in the machine's directory (or a short per-user directory when that path is too long)."""
    if (host_system or system()) == "Windows":
        return LocalEnd("tcp", f"127.0.0.1:{tcp_port}")
    path = machine_dir / "berth.sock"
    if len(str(path)) > MAX_SOCKET_PATH:
        path = Path(tempfile.gettempdir()) / f"berth-{os.getuid()}" / f"{name}.sock"
    return LocalEnd("unix", str(path))


def docker_pipes(docker_desktop_present: bool) -> list[LocalEnd]:
    """The named pipes Berth serves the engine on, on Windows: always its own, and docker's default pipe too
    when Docker Desktop (its owner) is absent, so a plain `docker` works with no setup."""
    pipes = [LocalEnd("npipe", BERTH_PIPE)]
    if not docker_desktop_present:
        pipes.append(LocalEnd("npipe", DOCKER_PIPE))
    return pipes


def docker_desktop_present(env: Mapping[str, str] | None = None) -> bool:
    """Whether Docker Desktop is installed on this Windows host (its executable where it installs itself)."""
    env = os.environ if env is None else env
    program_files = env.get("ProgramFiles", r"C:\Program Files")
    return Path(program_files, "Docker", "Docker", "Docker Desktop.exe").exists()


def context_endpoint(machine_end: LocalEnd | None, linux_socket: Path, host_system: str | None = None,
                     pipe_served: bool = False) -> str:
    """What the `berth` docker context points at: berthd's own socket on Linux (no machine), else the
    machine's tunnel; on Windows Berth's named pipe when something serves it (it relays to that tunnel)."""
    current = host_system or system()
    if current == "Linux" and machine_end is None:
        return f"unix://{linux_socket}"
    if current == "Windows" and pipe_served:
        return LocalEnd("npipe", BERTH_PIPE).docker_host
    if machine_end is None:
        raise ValueError("on this system the docker context needs a machine's tunnel")
    return machine_end.docker_host


def forward_engine(connection: Connection, end: LocalEnd, remote_socket: str) -> Forward:
    """Listen on `end` and carry each connection to berthd's socket in the guest."""
    from vmhost.ssh import streamlocal_tcp_forward, unix_forward  # paramiko only when a machine is reached

    if end.kind == "tcp":
        return streamlocal_tcp_forward(connection, end.port, remote_socket)
    if end.kind == "unix":
        return unix_forward(connection, Path(end.address), remote_socket)
    raise ValueError(f"a tunnel does not listen on a named pipe ({end.address}): pipes relay to its TCP end")


def free_port() -> int:
    """A loopback TCP port nobody listens on now, for a machine's forward or tunnel."""
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
