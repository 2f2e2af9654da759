"""Moving a process's stdio between a client and conmon's attach socket.

conmon's attach socket is SOCK_SEQPACKET: each packet from it starts with a byte naming
the pipe (2 stdout, 3 stderr); bytes sent to it are the process's stdin, and a half-close
closes that stdin. Used by both container attach and exec.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

from engine.errors import InvalidArgument
from engine.runtime.conmon import PIPE_STDERR, PIPE_STDOUT

log = logging.getLogger(__name__)

STDOUT, STDERR = 1, 2
DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q

OutputWriter = Callable[[int, bytes], Awaitable[None]]


def parse_detach_keys(spec: str | None) -> bytes:
    """Docker's detach key syntax: "ctrl-p,ctrl-q", "a,b", "ctrl-@" ... ("" keeps the default)."""
    if not spec:
        return DEFAULT_DETACH_KEYS
    out = bytearray()
    for key in spec.split(","):
        k = key.strip()
        if len(k) == 1:
            out.append(ord(k))
        elif k.lower().startswith("ctrl-") and len(k) == 6:
            ch = k[5].lower()
            if "a" <= ch <= "z":
                out.append(ord(ch) - ord("a") + 1)
            elif ch in "@[\\]^_":
                out.append({"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}[ch])
            else:
                raise InvalidArgument(f"invalid detach keys: {spec!r}: unknown key {k!r}")
        else:
            raise InvalidArgument(f"invalid detach keys: {spec!r}: use keys like ctrl-p,ctrl-q or a,b")
    return bytes(out)


async def connect(attach_socket: Path) -> socket.socket:
    # sun_path holds 108 bytes: reach the socket through its directory's fd instead. Opened first,
    # so a missing directory leaks no socket.
    dir_fd = os.open(attach_socket.parent, os.O_PATH)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, f"/proc/self/fd/{dir_fd}/{attach_socket.name}")
    except OSError:
        sock.close()
        raise
    finally:
        os.close(dir_fd)
    return sock


class DetachWatcher:
    """Spots the detach sequence in a client's stdin, across chunk boundaries."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.matched = 0

    def feed(self, chunk: bytes) -> tuple[bytes, bool]:
        """The bytes to pass on, and whether the client asked to detach."""
        if not self.keys:
            return chunk, False
        out = bytearray()
        for b in chunk:
            if b == self.keys[self.matched]:
                self.matched += 1
                if self.matched == len(self.keys):
                    return bytes(out), True
                continue
            if self.matched:
                out += self.keys[: self.matched]
                self.matched = 0
                if b == self.keys[0]:
                    self.matched = 1
                    continue
            out.append(b)
        return bytes(out), False


async def pump(sock: socket.socket, write: OutputWriter, stdin: asyncio.StreamReader | None, *,
               stdout: bool = True, stderr: bool = True, detach_keys: bytes = DEFAULT_DETACH_KEYS,
               close_stdin_on_eof: bool = True) -> bool:
    """Copy output to `write` and `stdin` to the process until the process ends or the client
    detaches. Returns True if the client detached."""
    loop = asyncio.get_running_loop()
    detached = asyncio.Event()
    feeder = (loop.create_task(_feed_stdin(sock, stdin, DetachWatcher(detach_keys), detached, close_stdin_on_eof))
              if stdin is not None else None)
    reader = loop.create_task(_copy_output(sock, write, stdout, stderr))
    waiter = loop.create_task(detached.wait())
    try:
        await asyncio.wait({reader, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (feeder, reader, waiter):
            if task is not None and not task.done():
                task.cancel()
        for task in (feeder, reader, waiter):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        sock.close()
    return detached.is_set()


async def _copy_output(sock: socket.socket, write: OutputWriter, stdout: bool, stderr: bool) -> None:
    loop = asyncio.get_running_loop()
    try:
        while True:
            packet = await loop.sock_recv(sock, 8193)
            if not packet:
                return
            pipe, data = packet[0], packet[1:]
            if pipe == PIPE_STDOUT and stdout:
                await write(STDOUT, data)
            elif pipe == PIPE_STDERR and stderr:
                await write(STDERR, data)
    except (ConnectionError, OSError) as e:
        log.debug("attach output ended: %r", e)


async def _feed_stdin(sock: socket.socket, stdin: asyncio.StreamReader, watcher: DetachWatcher,
                      detached: asyncio.Event, close_on_eof: bool) -> None:
    loop = asyncio.get_running_loop()
    while True:
        chunk = await stdin.read(8192)
        if not chunk:
            if close_on_eof:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
            return
        data, detach = watcher.feed(chunk)
        if data:
            await loop.sock_sendall(sock, data)
        if detach:
            detached.set()
            return


class _Subscriber:
    def __init__(self, write: OutputWriter, stdout: bool, stderr: bool) -> None:
        self.write = write
        self.stdout = stdout
        self.stderr = stderr
        self.gone = asyncio.Event()  # the client went away


class AttachHub:
    """berthd's one connection to a container's attach socket, shared by all its clients.

    conmon closes the container's stdin when a client holding it disconnects; a client
    that detaches (ctrl-p ctrl-q) must not do that, and several clients may attach at
    once. So berthd keeps this connection for the container's whole life and fans out."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.subscribers: set[_Subscriber] = set()
        self.ended = asyncio.Event()
        self.stdin_closed = False
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, attach_socket: Path) -> AttachHub:
        return cls(await connect(attach_socket))

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                packet = await loop.sock_recv(self.sock, 8193)
                if not packet:
                    return
                pipe, data = packet[0], packet[1:]
                stream = STDOUT if pipe == PIPE_STDOUT else STDERR if pipe == PIPE_STDERR else 0
                for sub in list(self.subscribers):
                    if (stream == STDOUT and sub.stdout) or (stream == STDERR and sub.stderr):
                        try:
                            await sub.write(stream, data)
                        except (ConnectionError, OSError):
                            sub.gone.set()
                            self.subscribers.discard(sub)
        except (ConnectionError, OSError) as e:
            log.debug("attach hub ended: %r", e)
        finally:
            self.ended.set()
            self.sock.close()

    async def send(self, data: bytes) -> None:
        if not self.stdin_closed and not self.ended.is_set():
            await asyncio.get_running_loop().sock_sendall(self.sock, data)

    def close_stdin(self) -> None:
        if not self.stdin_closed and not self.ended.is_set():
            self.stdin_closed = True
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_WR)

    async def serve(self, write: OutputWriter, stdin: asyncio.StreamReader | None, *, stdout: bool = True,
                    stderr: bool = True, detach_keys: bytes = DEFAULT_DETACH_KEYS,
                    close_stdin_on_eof: bool = False) -> bool:
        """One client: output until the container ends, the client goes or detaches.
        Returns True if the client detached."""
        sub = _Subscriber(write, stdout, stderr)
        self.subscribers.add(sub)
        loop = asyncio.get_running_loop()
        detached = asyncio.Event()
        feeder = loop.create_task(self._feed(stdin, DetachWatcher(detach_keys), detached, close_stdin_on_eof)) \
            if stdin is not None else None
        waits = {loop.create_task(e.wait()) for e in (self.ended, sub.gone, detached)}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.subscribers.discard(sub)
            for task in [*waits, feeder]:
                if task is not None and not task.done():
                    task.cancel()
            for task in [*waits, feeder]:
                if task is not None:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
        return detached.is_set()

    async def _feed(self, stdin: asyncio.StreamReader, watcher: DetachWatcher, detached: asyncio.Event,
                    close_on_eof: bool) -> None:
        while True:
            chunk = await stdin.read(8192)
            if not chunk:
                if close_on_eof:
                    self.close_stdin()
                return
            data, detach = watcher.feed(chunk)
            if data:
                await self.send(data)
            if detach:
                detached.set()
                return
