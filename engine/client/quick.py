"""A synchronous one-shot JSON GET for the CLI's quick listings (`berth ps`, `berth images`).

Importing aiohttp and aiodocker costs about 200 ms, and even http.client (with email's parser and
ssl) about 20 ms, more than a listing should take; so a listing on a local socket or plain TCP is
one HTTP/1.0 request on a bare socket, read to its end. Anything else (TLS, ssh://, streams,
uploads) stays with `EngineClient`.
"""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from engine.client.errors import EngineClientError, EngineUnreachable

_TIMEOUT = 60.0


def quick_supported(url: str, tls: object | None) -> bool:
    """Whether `get_json` can reach this engine (a socket, or TCP without TLS)."""
    return url.startswith("unix://") or (url.startswith("tcp://") and tls is None)


def _connect(url: str) -> socket.socket:
    if url.startswith("unix://"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(_TIMEOUT)
        try:
            sock.connect(url[len("unix://"):])
        except OSError:
            sock.close()
            raise
        return sock
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname or "localhost", parts.port or 2375), timeout=_TIMEOUT)


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2:]
    return bytes(out)


def get_json(url: str, path: str, params: dict[str, str] | None = None) -> Any:
    """`GET /path` unversioned (the engine's own API version), decoded; errors as EngineClient's."""
    target = f"/{quote(path)}?{urlencode(params)}" if params else f"/{quote(path)}"
    try:
        with _connect(url) as sock:
            # HTTP/1.0: the engine answers and closes, so the answer is everything until EOF.
            sock.sendall(f"GET {target} HTTP/1.0\r\nHost: localhost\r\nUser-Agent: berth\r\n\r\n".encode())
            chunks = []
            while data := sock.recv(65536):
                chunks.append(data)
    except OSError as exc:
        reason = (exc.strerror or str(exc) or type(exc).__name__).lower()
        raise EngineUnreachable(url, reason) from exc
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError) as exc:
        raise EngineUnreachable(url, f"not an HTTP answer: {lines[0][:80]!r}") from exc
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    text = body.decode("utf-8", errors="replace")
    if status >= 400:
        try:
            message = str(json.loads(text).get("message", text))
        except (ValueError, AttributeError):
            message = text.strip()
        raise EngineClientError(status, message)
    return json.loads(text) if text.strip() else {}
