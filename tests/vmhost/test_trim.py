"""After image removals the guest is trimmed once, so the disk file on the host shrinks."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import vmhost.trim as trim
from tests.engine.client.fake_engine import short_socket_dir
from vmhost.trim import Trimmer

pytestmark = pytest.mark.unit


@pytest.fixture
def engine() -> Iterator[tuple[Path, list[socket.socket], list[bytes]]]:
    """A Unix socket that answers /events with a stream the test writes to."""
    directory = short_socket_dir()
    path = Path(directory) / "engine.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    clients: list[socket.socket] = []
    requests: list[bytes] = []

    def accept() -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            requests.append(client.recv(4096))
            client.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
            clients.append(client)

    threading.Thread(target=accept, daemon=True).start()
    yield path, clients, requests
    server.close()
    for client in clients:
        client.close()


def test_a_burst_of_image_deletes_is_one_trim(engine: tuple[Path, list[socket.socket], list[bytes]],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trim, "SETTLE_SECONDS", 0.3)
    path, clients, requests = engine
    ran: list[str] = []
    trimmer = Trimmer(path, ran.append).start()
    try:
        deadline = time.monotonic() + 10
        while not clients and time.monotonic() < deadline:
            time.sleep(0.05)
        assert b"GET /events?filters=" in requests[0] and b"image" in requests[0] and b"delete" in requests[0]
        for _ in range(3):
            clients[0].sendall(b'{"Type":"image","Action":"delete","Actor":{"ID":"sha256:x"}}\n')
            time.sleep(0.1)
        while not ran and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        assert ran == ["fstrim -a"]
    finally:
        trimmer.close()
