"""Disk space back to the host when images go: after the engine deletes an image, `fstrim` in the guest.

The machine's disk is virtio with discard=unmap and the root is mounted with ext4's discard, but ext4
discards only some freed extents at once (about half of a removed image here); fstrim hands back the
rest, and the qcow2 file on the host shrinks. The agent runs one of these per running machine.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from vmhost.ports import UnixHTTPConnection

log = logging.getLogger("vmhost.trim")
TRIM_COMMAND = "fstrim -a"
# Removals come in bursts (image prune, rmi of several tags): trim once the burst is over.
SETTLE_SECONDS = 2.0


class Trimmer:
    def __init__(self, engine_socket: Path, run: Callable[[str], object]) -> None:
        self.engine_socket = engine_socket
        self._run_in_guest = run
        self.trims = 0
        self._stop = threading.Event()
        self._pending = threading.Event()
        self._events: UnixHTTPConnection | None = None
        self._threads = [threading.Thread(target=self._follow, name="trim events", daemon=True),
                         threading.Thread(target=self._trim_loop, name="trim", daemon=True)]

    def start(self) -> Trimmer:
        for thread in self._threads:
            thread.start()
        return self

    def _follow(self) -> None:
        while not self._stop.is_set():
            conn = UnixHTTPConnection(self.engine_socket, timeout=None)
            self._events = conn
            try:
                query = urllib.parse.urlencode({"filters": json.dumps({"type": ["image"], "event": ["delete"]})})
                conn.request("GET", f"/events?{query}")
                response = conn.getresponse()
                while not self._stop.is_set():
                    line = response.readline()
                    if not line:
                        break  # berthd restarted or the tunnel dropped: follow again
                    if line.strip():
                        self._pending.set()
            except (OSError, http.client.HTTPException) as e:
                log.debug("trim: events: %s", e)
            finally:
                self._events = None
                conn.close()
            self._stop.wait(2)

    def _trim_loop(self) -> None:
        while not self._stop.is_set():
            if not self._pending.wait(1):
                continue
            # Wait for the burst to end: each new delete restarts the wait.
            while self._pending.is_set() and not self._stop.is_set():
                self._pending.clear()
                self._stop.wait(SETTLE_SECONDS)
            if self._stop.is_set():
                return
            try:
                self._run_in_guest(TRIM_COMMAND)
                self.trims += 1
            except Exception as e:  # a failed trim costs only disk space: keep the machine going
                log.warning("trim after image removal failed: %s", e)

    def close(self) -> None:
        self._stop.set()
        self._pending.set()
        events = self._events
        if events is not None and events.sock is not None:
            with contextlib.suppress(OSError):
                events.sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)
