"""Fuzz the served API against the Docker Engine API spec with schemathesis: bounded examples per
operation, on a private berthd of its own (no images, so no fuzzed container can start), asserting
that no request earns a 5xx. Network creation and (dis)connection are left out on purpose: a fuzzed
subnet could shadow a route of the host's."""

from __future__ import annotations

import re
import select
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.reliability.helpers import private_berthd
from tests.support.daemon import Berthd, prerequisites_missing

schemathesis = pytest.importorskip("schemathesis")

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SPEC = Path(__file__).resolve().parent / "data" / "docker-engine-api-v1.45.yaml"  # upstream, see data/README.md
EXAMPLES = 30

INCLUDED = [
    ("GET", r"/_ping"), ("GET", r"/version"), ("GET", r"/info"), ("GET", r"/system/df"),
    ("GET", r"/containers/json"), ("POST", r"/containers/create"), ("GET", r"/containers/\{id\}/json"),
    ("POST", r"/containers/\{id\}/(start|stop|restart|kill|pause|unpause|rename|update|resize)"),
    ("GET", r"/containers/\{id\}/(top|changes)"), ("DELETE", r"/containers/\{id\}"), ("POST", r"/containers/prune"),
    ("GET", r"/images/json"), ("GET", r"/images/\{name\}/json"), ("GET", r"/images/\{name\}/history"),
    ("GET", r"/volumes"), ("POST", r"/volumes/create"), ("GET", r"/volumes/\{name\}"),
    ("DELETE", r"/volumes/\{name\}"), ("POST", r"/volumes/prune"),
    ("GET", r"/networks"), ("GET", r"/networks/\{id\}"), ("DELETE", r"/networks/\{id\}"),
]


class UnixForwarder:
    """Loopback TCP to the daemon's Unix socket: schemathesis speaks HTTP over TCP only."""

    def __init__(self, target: Path) -> None:
        self.target = str(target)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        with client, socket.socket(socket.AF_UNIX) as upstream:
            try:
                upstream.connect(self.target)
                peers = {client: upstream, upstream: client}
                while peers:
                    ready, _, _ = select.select(list(peers), [], [], 60)
                    if not ready:
                        return
                    for src in ready:
                        data = src.recv(65536)
                        if not data:
                            return  # one side closed: HTTP/1.1 here is request-response, close both
                        peers[src].sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self.server.close()


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Berthd, str]]:
    missing = prerequisites_missing()
    if missing:
        pytest.skip(missing)
    with private_berthd(tmp_path_factory.mktemp("fuzz") / "d") as d:
        forwarder = UnixForwarder(d.socket)
        try:
            yield d, f"http://127.0.0.1:{forwarder.port}/v1.45"
        finally:
            forwarder.close()


def _operations() -> list[Any]:
    schema = schemathesis.openapi.from_path(str(SPEC))
    ops = []
    for result in schema.get_all_operations():
        op = result.ok()
        if any(op.method.upper() == m and re.fullmatch(p, op.path) for m, p in INCLUDED):
            ops.append(op)
    return ops


OPERATIONS = _operations()


@pytest.mark.parametrize("operation", OPERATIONS, ids=[f"{o.method.upper()} {o.path}" for o in OPERATIONS])
def test_no_5xx(fuzz_target: tuple[Berthd, str], operation: Any) -> None:
    daemon, base_url = fuzz_target
    failures: list[str] = []
    routed: list[int] = []  # answers from a handler, not the router's "page not found"

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def fuzz(case: Any) -> None:
        response = case.call(base_url=base_url, timeout=30)
        if "page not found" not in response.text:
            routed.append(response.status_code)
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path} query={case.query} body={case.body!r:.300}: "
                            f"{response.status_code} {response.text[:300]}")

    fuzz()
    assert daemon.api.request("GET", "/_ping")[0] == 200
    assert not failures, "\n".join(failures[:10])
    assert routed, "no fuzzed request reached a handler"
