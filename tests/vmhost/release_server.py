"""A loopback HTTP server standing in for the release location: Range requests, a cut-off, corruption."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Served:
    root: Path
    base: str = ""
    cut_next: int = 0  # the next this-many full answers stop half-way and close the connection
    corrupt: bool = False  # flip one byte of every file served
    ranges: list[str] = field(default_factory=list)  # the Range header of each GET ("" if none)


@contextmanager
def release_server(root: Path) -> Iterator[Served]:
    served = Served(root)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path = served.root / self.path.lstrip("/")
            if not path.is_file():
                self.send_error(404)
                return
            data = path.read_bytes()
            if served.corrupt:
                data = data[:-100] + bytes([data[-100] ^ 0xFF]) + data[-99:]
            range_header = self.headers.get("Range", "")
            served.ranges.append(range_header)
            start = int(range_header.removeprefix("bytes=").split("-")[0]) if range_header else 0
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206 if range_header else 200)
            if range_header:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            body = data[start:]
            if served.cut_next and not range_header:
                served.cut_next -= 1
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)  # as a dropped network does: the client sees a short body
                return
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
