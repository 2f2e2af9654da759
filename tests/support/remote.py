"""Engines reached the remote ways: a stock dockerd with mutual TLS on loopback, and an sshd in a
network namespace standing in for another host (it shares our filesystem, so a berthd socket here
is "the remote engine's")."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.certs import Pki, make_pki
from tests.support.peers import PrivateDockerd
from tests.vmhost.sshd import Namespace, Sshd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TLSDockerd:
    daemon: PrivateDockerd
    pki: Pki
    url: str  # tcp://127.0.0.1:N, TLS only


@contextmanager
def tls_dockerd(base: Path) -> Iterator[TLSDockerd]:
    pki = make_pki(base / "pki")
    port = free_port()
    daemon = PrivateDockerd(base / "dockerd", (
        "-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", str(pki.ca),
        "--tlscert", str(pki.server_cert), "--tlskey", str(pki.server_key)))
    try:
        daemon.start()
        yield TLSDockerd(daemon, pki, f"tcp://127.0.0.1:{port}")
    finally:
        daemon.stop()


@dataclass
class SshHost:
    ns: Namespace
    sshd: Sshd
    home: Path  # a HOME whose ~/.ssh knows the host and names the key

    @property
    def alias(self) -> str:
        return "berth-remote"  # the Host entry of ~/.ssh/config

    @property
    def known_hosts_line(self) -> str:
        return f"[{self.ns.addr}]:{self.sshd.port} {self.sshd.host_key.public_line}"


@contextmanager
def ssh_host(base: Path) -> Iterator[SshHost]:
    """sshd in a namespace and a HOME set up as a user who has connected to it once."""
    ns = Namespace()
    sshd = None
    try:
        sshd = Sshd(ns, base)
        sshd.start()
        home = base / "home"
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(parents=True, mode=0o700)
        host = SshHost(ns, sshd, home)
        (ssh_dir / "known_hosts").write_text(host.known_hosts_line + "\n")
        (ssh_dir / "config").write_text(
            f"Host {host.alias}\n  HostName {ns.addr}\n  Port {sshd.port}\n  User root\n"
            f"  IdentityFile {sshd.client_key}\n")
        yield host
    finally:
        if sshd is not None:
            sshd.stop()
        ns.delete()
