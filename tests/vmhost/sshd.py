"""A private sshd in a network namespace, standing in for a machine's guest.

Everything here is torn down by the fixtures that use it: the namespace, the veth pair and every
process. sshd never listens on the host's own addresses, only on the namespace's end of the veth.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from vmhost.keys import KeyPair, generate_ed25519, write_private_key

SSHD = "/usr/sbin/sshd"
REPO = Path(__file__).resolve().parents[2]


def missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if not Path(SSHD).exists():
        return "needs openssh-server (/usr/sbin/sshd)"
    if not shutil.which("ip"):
        return "needs iproute2"
    return None


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


class Namespace:
    """A network namespace joined to the host by a veth pair with a /30 between them."""

    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.name = f"berth-vmt-{tag}"
        self.host_if = f"bvh{tag}"
        subnet = secrets.randbelow(250) + 1
        self.host_addr = f"10.213.{subnet}.1"
        self.addr = f"10.213.{subnet}.2"
        _run("ip", "netns", "add", self.name)
        try:
            _run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", "eth0", "netns", self.name)
            _run("ip", "addr", "add", f"{self.host_addr}/30", "dev", self.host_if)
            _run("ip", "link", "set", self.host_if, "up")
            _run("ip", "-n", self.name, "addr", "add", f"{self.addr}/30", "dev", "eth0")
            _run("ip", "-n", self.name, "link", "set", "eth0", "up")
            _run("ip", "-n", self.name, "link", "set", "lo", "up")
        except BaseException:
            self.delete()
            raise

    def popen(self, argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["ip", "netns", "exec", self.name, *argv], **kwargs)

    def delete(self) -> None:
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    if proc.stdout is not None:
        proc.stdout.close()


class Sshd:
    """sshd with its own config, host key and authorized_keys, on the namespace's address."""

    port = 2222

    def __init__(self, ns: Namespace, base: Path) -> None:
        self.ns = ns
        self.base = base
        self.client_key = base / "id_ed25519"
        write_private_key(self.client_key, generate_ed25519("berth-test-client"))
        (base / "authorized_keys").write_text(self.client_key.with_suffix(".pub").read_text())
        self.host_key = self.new_host_key()
        self.proc: subprocess.Popen[bytes] | None = None

    def new_host_key(self) -> KeyPair:
        pair = generate_ed25519("berth-test-guest")
        write_private_key(self.base / "host_key", pair)
        self.host_key = pair
        return pair

    def start(self) -> None:
        config = self.base / "sshd_config"
        config.write_text("\n".join([
            f"ListenAddress {self.ns.addr}:{self.port}",
            f"HostKey {self.base / 'host_key'}",
            f"AuthorizedKeysFile {self.base / 'authorized_keys'}",
            "PidFile none",
            "UsePAM no",
            "StrictModes no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "AllowTcpForwarding yes",
            "AllowStreamLocalForwarding yes",
            "",
        ]))
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
        log = (self.base / "sshd.log").open("ab")
        self.proc = self.ns.popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.base / 'sshd.log').read_text()}")
            with contextlib.suppress(OSError), socket.create_connection((self.ns.addr, self.port), timeout=0.5):
                return
            time.sleep(0.05)
        raise RuntimeError("sshd did not start listening within 10 s")

    def stop(self) -> None:
        """Stop sshd and its sessions, as a guest reboot would (sessions outlive the listener)."""
        stop(self.proc)
        self.proc = None
        pids = subprocess.run(["ip", "netns", "pids", self.ns.name], capture_output=True, text=True).stdout.split()
        for pid in pids:
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd":
                    os.kill(int(pid), signal.SIGTERM)


def start_servers(ns: Namespace, workdir: Path, unix: Path, tcp_port: int) -> subprocess.Popen[bytes]:
    proc = ns.popen(
        [sys.executable, "-m", "tests.vmhost.guest_servers", "--unix", str(unix), "--tcp", str(tcp_port)],
        cwd=workdir, stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if b"ready" not in line:
        stop(proc)
        raise RuntimeError("guest stand-in servers did not start")
    return proc
