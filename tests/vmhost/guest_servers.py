"""Stand-ins for what runs in a guest, started inside the test's network namespace.

`--unix PATH` serves HTTP on a Unix socket (berthd's role): GET answers with the path, POST echoes
the body, GET /containers/json returns the JSON in $PWD/containers.json and GET /events streams the
lines appended to $PWD/events.jsonl. `--tcp PORT` runs a TCP echo server on the namespace's loopback
(a published container port's role).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def address_string(self) -> str:
        return "unix"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.endswith("/containers/json"):
            path = Path("containers.json")
            self._reply(path.read_bytes() if path.exists() else b"[]", "application/json")
        elif self.path.startswith("/events"):
            self._events()
        else:
            self._reply(f"guest says hello to {self.path}".encode())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._reply(body, "application/octet-stream")

    def _events(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        path = Path("events.jsonl")
        offset = path.stat().st_size if path.exists() else 0
        for _ in range(600):  # bounded: a minute of polling
            size = path.stat().st_size if path.exists() else 0
            if size > offset:
                with path.open("rb") as f:
                    f.seek(offset)
                    data = f.read(size - offset)
                offset = size
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            time.sleep(0.1)
        self.wfile.write(b"0\r\n\r\n")


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        while data := sock.recv(65536):
            sock.sendall(data)


class TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--unix")
    parser.add_argument("--tcp", type=int)
    args = parser.parse_args()
    servers: list[socketserver.BaseServer] = []
    if args.unix:
        if os.path.exists(args.unix):
            os.unlink(args.unix)
        servers.append(UnixHTTPServer(args.unix, Handler))
    if args.tcp:
        servers.append(TCPServer(("127.0.0.1", args.tcp), Echo))
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"ready": True}), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
