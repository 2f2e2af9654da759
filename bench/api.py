"""A small synchronous HTTP client over a Unix socket: the Docker Engine API, spoken raw.

The benchmark drives setup (creating 1,000 containers, say) through the API rather than a CLI,
so that setup cost is the engine's, not a client's start-up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vmhost.ports import UnixHTTPConnection


class ApiError(RuntimeError):
    pass


class EngineApi:
    def __init__(self, socket_path: Path, prefix: str = "") -> None:
        self.socket_path = socket_path
        self.prefix = prefix  # e.g. "/v1.41" for a peer that refuses newer versions

    def request(self, method: str, path: str, body: bytes | dict[str, Any] | None = None,
                timeout: float = 120) -> tuple[int, bytes]:
        conn = UnixHTTPConnection(self.socket_path, timeout)
        try:
            headers: dict[str, str] = {}
            if isinstance(body, dict):
                body = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, self.prefix + path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, body: bytes | dict[str, Any] | None = None,
             timeout: float = 120) -> Any:
        status, data = self.request(method, path, body, timeout)
        if status >= 400:
            raise ApiError(f"{method} {path}: {status} {data[:300]!r}")
        return json.loads(data) if data.strip() else None

    def stream_json(self, path: str, timeout: float = 120) -> Iterator[Any]:
        """The JSON values of a streamed answer (`/events`, `/stats`), one per line, as they come."""
        conn = UnixHTTPConnection(self.socket_path, timeout)
        try:
            conn.request("GET", self.prefix + path)
            resp = conn.getresponse()
            if resp.status >= 400:
                raise ApiError(f"GET {path}: {resp.status} {resp.read()[:300]!r}")
            while line := resp.readline():
                if line.strip():
                    yield json.loads(line)
        finally:
            conn.close()

    def answers(self) -> bool:
        try:
            return self.request("GET", "/_ping", timeout=2)[0] == 200
        except OSError:
            return False

    def has_route(self, method: str, path: str) -> bool:
        """Whether the engine serves `method path` at all: an unknown route is a 404 "page not found"
        (or 405), a known one answers anything else (400 for a bad body, 404 "no such container")."""
        status, data = self.request(method, path, b"", timeout=30)
        if status == 405:
            return False
        return not (status == 404 and b"page not found" in data.lower())
