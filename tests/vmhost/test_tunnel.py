"""Tunnels over a real sshd (in a network namespace) to stand-ins for berthd and a published port."""

from __future__ import annotations

import http.client
import socket
import time
from pathlib import Path

import paramiko
import pytest

from tests.vmhost.conftest import Guest
from vmhost.ssh import Connection, HostKeyMismatch, open_streamlocal, tcp_forward, unix_forward

pytestmark = pytest.mark.integration


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(str(self.path))


def get(path: Path, url: str = "/_ping") -> str:
    conn = UnixHTTP(path)
    try:
        conn.request("GET", url)
        response = conn.getresponse()
        assert response.status == 200
        return response.read().decode()
    finally:
        conn.close()


def echo(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while data := s.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def test_streamlocal_channel_reaches_the_unix_socket(guest: Guest, connection: Connection) -> None:
    channel = open_streamlocal(connection.transport(), str(guest.engine_socket))
    try:
        channel.sendall(b"GET /direct HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        for _ in range(100):
            chunk = channel.recv(65536)
            if not chunk:
                break
            data += chunk
        assert data.startswith(b"HTTP/1.0 200") or data.startswith(b"HTTP/1.1 200")
        assert data.endswith(b"guest says hello to /direct")
    finally:
        channel.close()


def test_refused_socket_path_keeps_the_session(guest: Guest, connection: Connection) -> None:
    with pytest.raises(paramiko.ChannelException):
        open_streamlocal(connection.transport(), "/nonexistent/berth.sock")
    assert connection.is_active()  # unlike paramiko's own open_channel, sshd did not drop us
    channel = open_streamlocal(connection.transport(), str(guest.engine_socket))
    channel.close()


def test_unix_tunnel_carries_http(guest: Guest, connection: Connection, tmp_path: Path) -> None:
    local = tmp_path / "local.sock"
    forward = unix_forward(connection, local, str(guest.engine_socket))
    try:
        assert local.stat().st_mode & 0o777 == 0o600
        assert get(local, "/v1.45/version") == "guest says hello to /v1.45/version"
        body = bytes(range(256)) * 4096  # 1 MiB both ways
        conn = UnixHTTP(local)
        conn.request("POST", "/echo", body=body)
        assert conn.getresponse().read() == body
        conn.close()
    finally:
        forward.close()


def test_tcp_forward_carries_tcp_to_guest_loopback(guest: Guest, connection: Connection) -> None:
    forward = tcp_forward(connection, 0, "127.0.0.1", guest.tcp_port)
    try:
        port = forward._listener.getsockname()[1]
        assert echo(port, b"ping over ssh") == b"ping over ssh"
        assert echo(port, b"x" * 300_000) == b"x" * 300_000
    finally:
        forward.close()


def test_tunnel_comes_back_after_sshd_restarts(guest: Guest, connection: Connection, tmp_path: Path) -> None:
    local = tmp_path / "local.sock"
    forward = unix_forward(connection, local, str(guest.engine_socket))
    try:
        assert get(local, "/before") == "guest says hello to /before"
        guest.sshd.stop()
        for _ in range(50):  # the session notices the drop (EOF or keepalive)
            if not connection.is_active():
                break
            time.sleep(0.1)
        assert not connection.is_active()
        guest.sshd.start()
        assert get(local, "/after") == "guest says hello to /after"
        assert connection.connects == 2
    finally:
        forward.close()


def test_changed_host_key_is_refused(guest: Guest) -> None:
    pinned = guest.sshd.host_key.public_line
    guest.sshd.stop()
    guest.sshd.new_host_key()
    guest.sshd.start()
    conn = Connection(guest.endpoint(host_key=pinned))
    try:
        with pytest.raises(HostKeyMismatch, match="not the pinned"):
            conn.transport()
        assert not conn.is_active()
    finally:
        conn.close()


def test_host_key_of_another_type_is_refused(guest: Guest, tmp_path: Path) -> None:
    other = paramiko.RSAKey.generate(2048)
    conn = Connection(guest.endpoint(host_key=f"ssh-rsa {other.get_base64()}"))
    try:
        with pytest.raises(HostKeyMismatch):
            conn.transport()
    finally:
        conn.close()


def test_forward_gives_up_on_a_changed_host_key(guest: Guest, connection: Connection, tmp_path: Path) -> None:
    local = tmp_path / "local.sock"
    forward = unix_forward(connection, local, str(guest.engine_socket))
    try:
        assert get(local) == "guest says hello to /_ping"
        guest.sshd.stop()
        guest.sshd.new_host_key()
        guest.sshd.start()
        connection.invalidate()
        with pytest.raises(HostKeyMismatch):
            forward.open_channel()
    finally:
        forward.close()


def test_run_executes_in_the_guest(guest: Guest, connection: Connection) -> None:
    status, out, _ = connection.run("ip -o -4 addr show dev eth0")
    assert status == 0
    assert guest.ns.addr in out


def test_published_ports_follow_container_events(guest: Guest, connection: Connection, tmp_path: Path) -> None:
    import json

    from vmhost.ports import PortWatcher, Published

    local = tmp_path / "engine.sock"
    tunnel = unix_forward(connection, local, str(guest.engine_socket))
    containers = guest.workdir / "containers.json"
    events = guest.workdir / "events.jsonl"
    changes: list[set[Published]] = []
    watcher = PortWatcher(connection, local, on_change=changes.append)
    try:
        containers.write_text("[]")
        watcher.start()
        for _ in range(100):
            if changes:
                break
            time.sleep(0.05)
        assert changes[-1] == set()
        for _ in range(100):
            if watcher.event_streams:
                break
            time.sleep(0.05)
        assert watcher.event_streams == 1
        port = guest.tcp_port
        containers.write_text(json.dumps([{"Id": "c1", "Ports": [
            {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": port, "Type": "tcp"},
            {"IP": "0.0.0.0", "PrivatePort": 53, "PublicPort": 5353, "Type": "udp"}]}]))
        with events.open("a") as f:
            f.write(json.dumps({"Type": "container", "Action": "start", "id": "c1"}) + "\n")
        for _ in range(20):  # an event, not a retry: well under the watcher's backoff
            if changes[-1]:
                break
            time.sleep(0.05)
        assert changes[-1] == {Published(port, "127.0.0.1")}
        assert echo(port, b"published") == b"published"
        containers.write_text("[]")
        with events.open("a") as f:
            f.write(json.dumps({"Type": "container", "Action": "die", "id": "c1"}) + "\n")
        for _ in range(100):
            if not changes[-1]:
                break
            time.sleep(0.05)
        assert changes[-1] == set()
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        assert watcher.event_streams == 1  # driven by the one stream, not by retries
    finally:
        watcher.close()
        tunnel.close()
