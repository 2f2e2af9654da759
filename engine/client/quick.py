"""A synchronous one-shot JSON GET for the CLI's quick listings (`berth ps`, `berth images`).

Importing aiohttp and aiodocker costs about 200 ms, more than the whole answer should take, so a
listing on a local socket or plain TCP goes through the standard library's http.client instead.
Anything else (TLS, ssh://, streams, uploads) stays with `EngineClient`.
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any
from urllib.parse import urlencode

from engine.client.errors import EngineClientError, EngineUnreachable

_TIMEOUT = 60.0


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=_TIMEOUT)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(_TIMEOUT)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def quick_supported(url: str, tls: object | None) -> bool:
    """Whether `get_json` can reach this engine (a socket, or TCP without TLS)."""
    return url.startswith("unix://") or (url.startswith("tcp://") and tls is None)


def get_json(url: str, path: str, params: dict[str, str] | None = None) -> Any:
    """`GET /path` unversioned (the engine's own API version), decoded; errors as EngineClient's."""
    if url.startswith("unix://"):
        connection: http.client.HTTPConnection = _UnixConnection(url[len("unix://"):])
    else:
        host, _, port = url[len("tcp://"):].split("/", 1)[0].partition(":")
        connection = http.client.HTTPConnection(host, int(port or 2375), timeout=_TIMEOUT)
    target = f"/{path}?{urlencode(params)}" if params else f"/{path}"
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        raw = response.read()
    except OSError as exc:
        reason = (exc.strerror or str(exc) or type(exc).__name__).lower()
        raise EngineUnreachable(url, reason) from exc
    finally:
        connection.close()
    text = raw.decode("utf-8", errors="replace")
    if response.status >= 400:
        try:
            message = str(json.loads(text).get("message", text))
        except (ValueError, AttributeError):
            message = text.strip()
        raise EngineClientError(response.status, message)
    return json.loads(text) if text.strip() else {}
