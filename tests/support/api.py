"""A small synchronous HTTP client over a Unix socket, for tests that speak the API raw."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vmhost.ports import UnixHTTPConnection


class RawApi:
    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path

    def request(self, method: str, path: str, body: bytes | str | dict[str, Any] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = UnixHTTPConnection(self.socket_path, 60)
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
