"""The engine on Windows named pipes, on Linux: the Win32 pipe calls faked (FakePipes), the relay to a real
loopback TCP engine, with the platform faked as Windows and AF_UNIX refused."""

from __future__ import annotations

import json
import queue
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.vmhost.test_windows import NoUnix
from vmhost import localend, npipe
from vmhost.localend import BERTH_PIPE, DOCKER_PIPE, LocalEnd
from vmhost.npipe import PipeBusy, PipeServer, serve_engine

pytestmark = pytest.mark.unit


class Handle:
    def __init__(self, name: str) -> None:
        self.name = name
        self.connected = threading.Event()
        self.to_server: queue.Queue[bytes | None] = queue.Queue()
        self.to_client: queue.Queue[bytes | None] = queue.Queue()
        self.closes = 0


class FakePipes:
    """Named pipes in memory, as PipeApi sees them: instances, clients, messages, half-close, close."""

    def __init__(self, taken: set[str] | None = None) -> None:
        self.taken = taken or set()
        self.handles: list[Handle] = []
        self.lock = threading.Lock()

    def create(self, name: str, first: bool) -> Handle:
        with self.lock:
            if first and (name in self.taken or any(h.name == name and not h.closes for h in self.handles)):
                raise PipeBusy(f"{name} is served by another program")
            handle = Handle(name)
            self.handles.append(handle)
            return handle

    def connect(self, handle: Handle) -> None:
        handle.connected.wait()
        if handle.closes:
            raise OSError("closed while waiting")

    def read(self, handle: Handle) -> bytes | None:
        return None if handle.closes else handle.to_server.get()

    def write(self, handle: Handle, data: bytes) -> None:
        if handle.closes:
            raise BrokenPipeError
        handle.to_client.put(data)

    def close(self, handle: Handle | None) -> None:
        if handle is None:
            return
        handle.closes += 1
        handle.to_server.put(None)
        handle.to_client.put(None)
        handle.connected.set()

    # ---- the client's side (the docker CLI) ----

    def dial(self, name: str) -> Handle:
        with self.lock:
            waiting = [h for h in self.handles if h.name == name and not h.connected.is_set() and not h.closes]
        assert waiting, f"no instance of {name} waiting"
        waiting[0].connected.set()
        return waiting[0]

    @staticmethod
    def receive_all(handle: Handle) -> bytes:
        data = b""
        while (chunk := handle.to_client.get(timeout=10)) is not None:
            data += chunk
        return data


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localend, "system", lambda: "Windows")
    monkeypatch.setattr(socket, "socket", NoUnix())


@pytest.fixture
def engine() -> Iterator[LocalEnd]:
    """A TCP stand-in for the tunnel's end: reads a request until the client half-closes or a blank line,
    answers with what it read, and closes."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                data = b""
                while not data.endswith(b"\r\n\r\n") and (chunk := conn.recv(4096)):
                    data += chunk
                conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + data)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield LocalEnd("tcp", f"127.0.0.1:{server.getsockname()[1]}")
    finally:
        server.close()


def stop(servers: list[PipeServer]) -> None:
    for server in servers:
        server.close()


def test_the_engine_answers_on_berths_pipe_and_dockers_without_af_unix(windows: None, engine: LocalEnd) -> None:
    pipes = FakePipes()
    servers = serve_engine(engine, pipes, desktop_present=False)
    try:
        assert [s.name for s in servers] == [BERTH_PIPE, DOCKER_PIPE]
        for name in (BERTH_PIPE, DOCKER_PIPE, BERTH_PIPE):  # a second client on a pipe: a new instance waits
            client = pipes.dial(name)
            client.to_server.put(b"GET /_ping HTTP/1.0\r\n\r\n")
            assert pipes.receive_all(client) == b"HTTP/1.0 200 OK\r\n\r\nGET /_ping HTTP/1.0\r\n\r\n"
    finally:
        stop(servers)
    # Every pipe instance is closed exactly once (a second CloseHandle could close a reused handle).
    assert all(h.closes == 1 for h in pipes.handles if h.connected.is_set())


def test_a_zero_length_message_is_the_clients_half_close(windows: None, engine: LocalEnd) -> None:
    pipes = FakePipes()
    servers = serve_engine(engine, pipes, desktop_present=True)
    try:
        client = pipes.dial(BERTH_PIPE)
        client.to_server.put(b"stdin")
        client.to_server.put(b"")  # go-winio's CloseWrite: the engine sees EOF and answers
        assert pipes.receive_all(client) == b"HTTP/1.0 200 OK\r\n\r\nstdin"
    finally:
        stop(servers)


def test_docker_desktops_pipe_is_left_alone_and_a_taken_pipe_skipped(windows: None, engine: LocalEnd) -> None:
    servers = serve_engine(engine, FakePipes(), desktop_present=True)
    assert [s.name for s in servers] == [BERTH_PIPE]
    stop(servers)
    # Another engine (Podman, Rancher) serves docker's pipe: Berth serves its own only, and says so.
    servers = serve_engine(engine, FakePipes(taken={DOCKER_PIPE}), desktop_present=False)
    assert [s.name for s in servers] == [BERTH_PIPE]
    stop(servers)


def test_an_unreachable_engine_closes_the_clients_pipe(windows: None) -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]  # closed at once: nothing listens there
    pipes = FakePipes()
    servers = serve_engine(LocalEnd("tcp", f"127.0.0.1:{port}"), pipes, desktop_present=True)
    try:
        client = pipes.dial(BERTH_PIPE)
        assert pipes.receive_all(client) == b""
        assert client.closes == 1
    finally:
        stop(servers)


def test_no_pipes_off_windows_and_only_to_a_tcp_end(tmp_path: Any) -> None:
    tcp = LocalEnd("tcp", "127.0.0.1:1")
    assert serve_engine(tcp, FakePipes(), host_system="Linux") == []
    assert serve_engine(tcp, FakePipes(), host_system="Darwin") == []
    with pytest.raises(ValueError, match="TCP end"):
        serve_engine(LocalEnd("unix", str(tmp_path / "s.sock")), FakePipes(), host_system="Windows")


def test_win32_pipe_flags_match_dockerds() -> None:
    # Message mode (CloseWrite is a zero-length message), local clients only, overlapped I/O.
    assert npipe.PIPE_TYPE_MESSAGE | npipe.PIPE_READMODE_MESSAGE == 0x6
    assert npipe.PIPE_REJECT_REMOTE_CLIENTS == 0x8
    assert npipe.FILE_FLAG_OVERLAPPED == 0x40000000


CREATE = {"Image": "busybox", "HostConfig": {
    "Binds": ["C:\\Users\\me\\app:/app:ro", "named:/data", "/already/linux:/x"],
    "Mounts": [{"Type": "bind", "Source": "D:\\cache", "Target": "/cache"},
               {"Type": "volume", "Source": "v", "Target": "/v"}]}}


def request(method: str, path: str, body: bytes = b"", extra: str = "") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: api.moby.localhost\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def test_create_requests_get_wsl_paths() -> None:
    body = json.loads(npipe.translate_create(json.dumps(CREATE).encode()))
    assert body["HostConfig"]["Binds"] == ["/mnt/c/Users/me/app:/app:ro", "named:/data", "/already/linux:/x"]
    assert body["HostConfig"]["Mounts"][0]["Source"] == "/mnt/d/cache"
    assert body["HostConfig"]["Mounts"][1]["Source"] == "v"
    assert npipe.translate_create(b"not json") == b"not json"
    plain = json.dumps({"Image": "busybox", "HostConfig": {"Binds": ["/a:/b"]}}).encode()
    assert npipe.translate_create(plain) == plain  # nothing to change: the bytes as sent


def test_the_request_stream_is_translated_across_reads_then_left_raw_after_an_upgrade() -> None:
    created = json.dumps(CREATE).encode()
    stream = (request("GET", "/_ping") + request("POST", "/v1.47/containers/create?name=web", created)
              + request("POST", "/v1.47/containers/abc/attach?stream=1",
                        extra="Upgrade: tcp\r\nConnection: Upgrade\r\n")
              + b"raw stdin C:\\not\\a\\bind")
    translator = npipe.BindTranslator()
    out = b"".join(translator.feed(stream[i:i + 7]) for i in range(0, len(stream), 7)) + translator.flush()
    ping, rest = out.split(b"\r\n\r\n", 1)
    assert ping.startswith(b"GET /_ping ")
    head, rest = rest.split(b"\r\n\r\n", 1)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    body, rest = rest[:length], rest[length:]
    assert json.loads(body)["HostConfig"]["Binds"][0] == "/mnt/c/Users/me/app:/app:ro"
    assert rest.endswith(b"\r\n\r\nraw stdin C:\\not\\a\\bind") and b"Upgrade: tcp" in rest


def test_a_wsl_machines_pipe_translates_binds_on_the_way_to_the_engine(windows: None, engine: LocalEnd) -> None:
    pipes = FakePipes()
    servers = serve_engine(engine, pipes, desktop_present=True, translate_paths=True)
    try:
        client = pipes.dial(BERTH_PIPE)
        sent = request("POST", "/v1.47/containers/create", json.dumps(CREATE).encode())
        client.to_server.put(sent[:30])
        client.to_server.put(sent[30:])
        client.to_server.put(b"")
        answer = pipes.receive_all(client)
        assert b"/mnt/c/Users/me/app:/app:ro" in answer and b"C:\\\\Users" not in answer
    finally:
        stop(servers)
