"""A small synchronous HTTP client over a Unix socket, for tests that speak the API raw."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = str(path)

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.socket_path)
        except OSError:
            s.close()  # a stale socket file (a killed daemon's) refuses: do not leak the socket
            raise
        self.sock = s


class RawApi:
    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path

    def request(self, method: str, path: str, body: bytes | str | dict[str, Any] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = UnixHTTPConnection(self.socket_path)
        try:
            hdrs = dict(headers or {})
            if isinstance(body, dict):
                body = json.dumps(body)
                hdrs.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        status, _, data = self.request(method, path, body)
        if status >= 400:
            raise AssertionError(f"{method} {path}: {status} {data!r}")
        return json.loads(data) if data.strip() else None
