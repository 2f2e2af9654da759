"""Ports that containers publish in the guest, forwarded to the host's loopback as they come and go.

The watcher follows berthd's /events through the tunnelled socket and, on every container event,
compares the published TCP ports (GET /containers/json) with the forwards it holds.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmhost.localend import LocalEnd
from vmhost.ssh import Connection, Forward, HostKeyMismatch, tcp_forward

log = logging.getLogger("vmhost.ports")

_WILDCARDS = {"", "0.0.0.0", "::", "[::]"}


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 to an engine socket on the host (the tunnel's local end)."""

    def __init__(self, path: Path, timeout: float | None = 10.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(str(self.socket_path))
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def engine_connection(target: Path | LocalEnd, timeout: float | None = 10.0) -> http.client.HTTPConnection:
    """HTTP to the engine at a tunnel's local end: a Unix socket, or loopback TCP where there are none."""
    if isinstance(target, LocalEnd):
        if target.kind == "tcp":
            return http.client.HTTPConnection("127.0.0.1", target.port, timeout=timeout)
        target = Path(target.address)
    return UnixHTTPConnection(target, timeout)


def engine_get(target: Path | LocalEnd, url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    conn = engine_connection(target, timeout)
    try:
        conn.request("GET", url)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@dataclass(frozen=True, order=True)
class Published:
    """One TCP port published in the guest: reached on the host at 127.0.0.1:port."""

    port: int
    guest_host: str  # where sshd in the guest connects: the binding's address, or its loopback


def published_ports(containers: Iterable[dict[str, Any]]) -> set[Published]:
    """The TCP ports /containers/json says are published, one forward per host port."""
    found: dict[int, Published] = {}
    for container in containers:
        for entry in container.get("Ports") or []:
            port = entry.get("PublicPort")
            if entry.get("Type", "tcp") != "tcp" or not isinstance(port, int) or not 0 < port < 65536:
                continue  # UDP would need more than SSH's TCP-only forwarding
            ip = str(entry.get("IP") or "")
            # A wildcard binding is reachable on the guest's loopback (berthd DNATs it there too).
            host = "127.0.0.1" if ip in _WILDCARDS or ":" in ip else ip
            found.setdefault(port, Published(port, host))
    return set(found.values())


class PortWatcher:
    """Keeps one loopback forward per published port, driven by the engine's events."""

    def __init__(self, connection: Connection, engine_socket: Path | LocalEnd,
                 forward: Callable[[Connection, Published], Forward] | None = None,
                 on_change: Callable[[set[Published]], None] | None = None) -> None:
        self.connection = connection
        self.engine_socket = engine_socket
        self._forward = forward or (lambda conn, p: tcp_forward(conn, p.port, p.guest_host, p.port))
        self._on_change = on_change
        self.forwards: dict[Published, Forward] = {}
        self.failed: dict[Published, str] = {}  # ports we could not listen on, and why
        self.event_streams = 0  # /events streams followed so far (one more after each reconnect)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._events: http.client.HTTPConnection | None = None
        self._thread = threading.Thread(target=self._run, name="port watcher", daemon=True)

    def start(self) -> PortWatcher:
        self._thread.start()
        return self

    def reconcile(self) -> None:
        status, body = engine_get(self.engine_socket, "/containers/json")
        if status != 200:
            raise OSError(f"engine answered {status} to /containers/json")
        wanted = published_ports(json.loads(body))
        with self._lock:
            for gone in set(self.forwards) - wanted:
                self.forwards.pop(gone).close()
            for published in sorted(wanted - set(self.forwards)):
                try:
                    self.forwards[published] = self._forward(self.connection, published)
                    self.failed.pop(published, None)
                except OSError as e:
                    # Something on the host holds the port: say so once, keep the others going.
                    if published not in self.failed:
                        log.warning("cannot forward 127.0.0.1:%d: %s", published.port, e)
                    self.failed[published] = str(e)
            current = set(self.forwards)
        if self._on_change is not None:
            self._on_change(current)

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                self.reconcile()
                self._follow_events()
                delay = 0.5
            except HostKeyMismatch as e:
                log.error("port forwarding stopped: %s", e)
                return
            except (OSError, http.client.HTTPException, ValueError) as e:
                log.debug("port watcher: %s; retrying in %.1f s", e, delay)
            # Bounded backoff; stop() interrupts the wait.
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, 5.0)

    def _follow_events(self) -> None:
        conn = engine_connection(self.engine_socket, timeout=None)
        self._events = conn
        try:
            query = urllib.parse.urlencode({"filters": json.dumps({"type": ["container"]})})
            conn.request("GET", f"/events?{query}")
            response = conn.getresponse()
            if response.status != 200:
                raise OSError(f"engine answered {response.status} to /events")
            self.event_streams += 1
            while not self._stop.is_set():
                line = response.readline()
                if not line:
                    return  # stream ended (berthd restarted, tunnel dropped): reconnect
                if line.strip():
                    self.reconcile()
        finally:
            self._events = None
            conn.close()

    def close(self) -> None:
        self._stop.set()
        events = self._events
        if events is not None and events.sock is not None:
            with contextlib.suppress(OSError):
                events.sock.shutdown(socket.SHUT_RDWR)
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with self._lock:
            for forward in self.forwards.values():
                forward.close()
            self.forwards.clear()
