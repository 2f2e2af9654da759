"""The CLI's quick listing path: one HTTP/1.0 GET on a bare socket, no aiohttp."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine.client.errors import EngineClientError, EngineUnreachable
from engine.client.quick import get_json
from tests.engine.client.fake_engine import FakeEngine

pytestmark = pytest.mark.unit


def test_lists_and_reports_refusals_as_the_full_client(fake_engine: FakeEngine) -> None:
    fake_engine.add_container("web", state="running")
    fake_engine.add_container("old", state="exited")
    assert [c["Names"] for c in get_json(fake_engine.url, "containers/json", {"all": "0"})] == [["/web"]]
    assert len(get_json(fake_engine.url, "containers/json", {"all": "1"})) == 2
    with pytest.raises(EngineClientError) as refused:
        get_json(fake_engine.url, "containers/nope/json")
    assert refused.value.status == 404 and refused.value.message == "No such container: nope"


def test_an_absent_socket_is_unreachable(tmp_path: Path) -> None:
    with pytest.raises(EngineUnreachable) as failed:
        get_json(f"unix://{tmp_path}/absent.sock", "containers/json")
    assert failed.value.reason == "no such file or directory"


def test_a_chunked_answer_over_tcp_is_joined() -> None:
    # An engine may answer HTTP/1.0 chunked all the same (a proxy in between): the body is joined.
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"4\r\n[1, \r\n3\r\n2]\n\r\n0\r\n\r\n")

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        assert get_json(f"tcp://127.0.0.1:{port}", "containers/json") == [1, 2]
    finally:
        thread.join(5)
        server.close()


def test_the_quick_path_imports_no_http_library() -> None:
    code = ("import sys, app.cli, engine.client.quick; "
            "print(sorted(m for m in ('aiohttp', 'aiodocker', 'http.client', 'ssl') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr
