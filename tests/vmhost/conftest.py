"""sshd in a network namespace standing in for a machine's guest (see sshd.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.vmhost.sshd import Namespace, Sshd, missing, start_servers, stop
from vmhost.ssh import Connection, Endpoint


@dataclass
class Guest:
    ns: Namespace
    sshd: Sshd
    workdir: Path  # the stand-in engine's working directory (containers.json, events.jsonl)
    engine_socket: Path  # the Unix socket served "in the guest"
    tcp_port: int  # a TCP echo server on the guest's loopback
    servers: subprocess.Popen[bytes]

    def endpoint(self, host_key: str | None = None) -> Endpoint:
        return Endpoint(self.ns.addr, self.sshd.port, "root", self.sshd.client_key,
                        host_key or self.sshd.host_key.public_line)


@pytest.fixture
def guest(tmp_path: Path) -> Iterator[Guest]:
    reason = missing()
    if reason:
        pytest.skip(reason)
    ns = Namespace()
    servers = None
    sshd = None
    try:
        sshd = Sshd(ns, tmp_path)
        sshd.start()
        workdir = tmp_path / "engine"
        workdir.mkdir()
        socket_path = workdir / "berth.sock"
        servers = start_servers(ns, workdir, socket_path, 18080)
        yield Guest(ns, sshd, workdir, socket_path, 18080, servers)
    finally:
        stop(servers)
        if sshd is not None:
            sshd.stop()
        ns.delete()


@pytest.fixture
def connection(guest: Guest) -> Iterator[Connection]:
    conn = Connection(guest.endpoint(), keepalive=1)
    try:
        yield conn
    finally:
        conn.close()
