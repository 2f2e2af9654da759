"""The engine on Windows named pipes: what the docker CLI there dials with no setup (npipe://).

A machine's supervisor, on Windows, serves `\\\\.\\pipe\\berth` (and docker's default pipe when Docker
Desktop, its owner, is absent: vmhost.localend.docker_pipes) and relays each pipe client to the tunnel's
loopback TCP end, byte for byte: nothing here parses HTTP. The pipes are made as dockerd makes its own:
message mode, so a client's zero-length message is its half-close (go-winio's CloseWrite, which the docker
CLI sends after the request body of an attach or exec), local clients only, and one instance always
waiting so a client never finds the pipe missing between two others.

The Win32 calls sit behind PipeApi: WinPipes (CPython's _winapi, overlapped I/O so one thread can read
while another writes the same handle) on Windows, a fake in the unit tests that run on Linux.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
from collections.abc import Callable
from typing import Any, Protocol

from vmhost import localend, winpaths
from vmhost.localend import LocalEnd, docker_desktop_present, docker_pipes

log = logging.getLogger("vmhost.npipe")

# Win32 constants (winbase.h); _winapi exports only some of them.
PIPE_ACCESS_DUPLEX = 0x00000003
FILE_FLAG_FIRST_PIPE_INSTANCE = 0x00080000
FILE_FLAG_OVERLAPPED = 0x40000000
PIPE_TYPE_MESSAGE = 0x00000004
PIPE_READMODE_MESSAGE = 0x00000002
PIPE_REJECT_REMOTE_CLIENTS = 0x00000008
PIPE_UNLIMITED_INSTANCES = 255
ERROR_BROKEN_PIPE = 109
ERROR_MORE_DATA = 234
ERROR_PIPE_CONNECTED = 535
ERROR_ACCESS_DENIED = 5
BUFFER = 65536


class PipeBusy(OSError):
    """Another process owns the pipe's name (Docker Desktop, Podman, a second Berth)."""


class PipeApi(Protocol):
    def create(self, name: str, first: bool) -> Any:
        """A new instance of pipe `name`; `first` fails with PipeBusy if any instance exists already."""

    def connect(self, handle: Any) -> None:
        """Wait for a client on this instance."""

    def read(self, handle: Any) -> bytes | None:
        """The next message (b"" for a zero-length one: the client's half-close); None once it is gone."""

    def write(self, handle: Any, data: bytes) -> None: ...

    def close(self, handle: Any) -> None: ...


class WinPipes:
    """PipeApi over CPython's _winapi (Windows only)."""

    def __init__(self) -> None:
        import _winapi  # type: ignore[import-not-found, unused-ignore]

        self.w: Any = _winapi

    def create(self, name: str, first: bool) -> Any:
        mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | (FILE_FLAG_FIRST_PIPE_INSTANCE if first else 0)
        kind = PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_REJECT_REMOTE_CLIENTS
        try:
            return self.w.CreateNamedPipe(name, mode, kind, PIPE_UNLIMITED_INSTANCES, BUFFER, BUFFER, 0, 0)
        except OSError as e:
            if first and getattr(e, "winerror", None) == ERROR_ACCESS_DENIED:
                raise PipeBusy(f"{name} is served by another program") from e
            raise

    def connect(self, handle: Any) -> None:
        overlapped = self.w.ConnectNamedPipe(handle, overlapped=True)
        _, err = overlapped.GetOverlappedResult(True)
        if err not in (0, ERROR_PIPE_CONNECTED):
            raise OSError(err, f"ConnectNamedPipe failed ({err})")

    def read(self, handle: Any) -> bytes | None:
        message = b""
        while True:
            try:
                overlapped, _ = self.w.ReadFile(handle, BUFFER, overlapped=True)
                _, err = overlapped.GetOverlappedResult(True)
            except (BrokenPipeError, OSError):
                return None
            if err not in (0, ERROR_MORE_DATA):
                return None
            message += bytes(overlapped.getbuffer())
            if err == 0:
                return message

    def write(self, handle: Any, data: bytes) -> None:
        overlapped, _ = self.w.WriteFile(handle, data, overlapped=True)
        overlapped.GetOverlappedResult(True)

    def close(self, handle: Any) -> None:
        with contextlib.suppress(OSError):
            self.w.CloseHandle(handle)


_CREATE = re.compile(rb"^(/v[0-9.]+)?/containers/create(\?|$)")
MAX_HEAD = 64 * 1024


def translate_create(body: bytes) -> bytes:
    """A create request's JSON with Windows bind sources as the WSL distro sees them (vmhost.winpaths, the
    translation Berth's own client applies too). Anything it cannot read is left for berthd to answer."""
    try:
        config = json.loads(body)
    except ValueError:
        return body
    if not isinstance(config, dict):
        return body
    translated = winpaths.translate_create(config)
    return json.dumps(translated).encode() if translated is not config else body


class BindTranslator:
    """The client's request stream with each POST /containers/create's Windows bind paths translated (what
    Docker Desktop's proxy does for its own VM). Requests are followed by their Content-Length; at the first
    one that is not (chunked bodies, an upgrade to a raw stream for attach or exec), the rest of the
    connection passes untouched."""

    def __init__(self) -> None:
        self.buffer = b""
        self.raw = False

    def feed(self, data: bytes) -> bytes:
        if self.raw:
            return data
        self.buffer += data
        out = b""
        while not self.raw:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self.raw = True
                break
            head = self.buffer[:end + 4]
            lines = head.split(b"\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:] if line)}
            request = lines[0].split(b" ")
            if (b"transfer-encoding" in headers or b"upgrade" in headers
                    or not headers.get(b"content-length", b"0").isdigit()):
                self.raw = True
                break
            length = int(headers.get(b"content-length", b"0"))
            if len(self.buffer) < end + 4 + length:
                break
            body = self.buffer[end + 4:end + 4 + length]
            self.buffer = self.buffer[end + 4 + length:]
            if len(request) == 3 and request[0] == b"POST" and _CREATE.match(request[1]):
                translated = translate_create(body)
                if translated != body:
                    head = re.sub(rb"(?im)^(content-length:)[ \t]*\d+", b"\\g<1> " + str(len(translated)).encode(),
                                  head, count=1)
                    body = translated
            out += head + body
        if self.raw:
            out, self.buffer = out + self.buffer, b""
        return out

    def flush(self) -> bytes:
        """What is held back (an incomplete request) when the client stops sending."""
        out, self.buffer = self.buffer, b""
        return out


class PipeServer:
    """Serves pipe `name`, relaying each client to a socket from `dial` (the tunnel's TCP end)."""

    def __init__(self, name: str, dial: Callable[[], socket.socket], api: PipeApi,
                 translate_paths: bool = False) -> None:
        self.name = name
        self.translate_paths = translate_paths
        self.dial = dial
        self.api = api
        self.stopping = threading.Event()
        self._waiting: Any = None

    def start(self) -> PipeServer:
        self._waiting = self.api.create(self.name, first=True)  # PipeBusy here: the caller decides
        threading.Thread(target=self._accept, name=f"pipe {self.name}", daemon=True).start()
        return self

    def _accept(self) -> None:
        while not self.stopping.is_set():
            handle = self._waiting
            try:
                self.api.connect(handle)
                if self.stopping.is_set():
                    break
                self._waiting = self.api.create(self.name, first=False)
            except OSError as e:
                if not self.stopping.is_set():
                    log.warning("pipe %s stopped serving: %s", self.name, e)
                self.api.close(handle)
                return
            threading.Thread(target=self._serve, args=(handle,), daemon=True).start()
        self.api.close(self._waiting)

    def _serve(self, handle: Any) -> None:
        closed = threading.Lock()

        def close_pipe() -> None:
            # Once: a handle's value is reused after CloseHandle, so a second close could end another pipe.
            if closed.acquire(blocking=False):
                self.api.close(handle)

        try:
            upstream = self.dial()
        except OSError as e:
            log.warning("pipe %s: the engine is not reachable: %s", self.name, e)
            close_pipe()
            return
        back = threading.Thread(target=self._to_client, args=(upstream, handle, close_pipe), daemon=True)
        back.start()
        translator = BindTranslator() if self.translate_paths else None
        try:
            while (data := self.api.read(handle)) is not None:
                if data:
                    upstream.sendall(translator.feed(data) if translator else data)
                else:
                    if translator:
                        upstream.sendall(translator.flush())
                    upstream.shutdown(socket.SHUT_WR)  # the client's CloseWrite
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_RDWR)
            back.join(timeout=10)
            upstream.close()
            close_pipe()

    def _to_client(self, upstream: socket.socket, handle: Any, close_pipe: Callable[[], None]) -> None:
        try:
            while data := upstream.recv(BUFFER):
                self.api.write(handle, data)
        except OSError:
            pass
        finally:
            # A pipe has no half-close towards the client: the engine's end of the stream ends the pipe (and
            # wakes the reader, whose pending read is cancelled).
            close_pipe()

    def close(self) -> None:
        self.stopping.set()
        self.api.close(self._waiting)


def serve_engine(end: LocalEnd, api: PipeApi | None = None, host_system: str | None = None,
                 desktop_present: bool | None = None, translate_paths: bool = False) -> list[PipeServer]:
    """On Windows, the engine on Berth's pipe (and docker's default one where Docker Desktop is absent),
    relaying to the tunnel's TCP end `end`; a pipe another program serves is left to it. Elsewhere none.
    `translate_paths` (a WSL machine): Windows bind paths in container creates become /mnt/<drive> paths."""
    if (host_system or localend.system()) != "Windows":
        return []
    if end.kind != "tcp":
        raise ValueError(f"pipes relay to the tunnel's TCP end, not {end.docker_host}")
    api = api or WinPipes()
    port = end.port

    def dial() -> socket.socket:
        upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
        upstream.settimeout(None)  # streams (logs -f, events, attach) stay idle for as long as they like
        return upstream

    present = docker_desktop_present() if desktop_present is None else desktop_present
    servers = []
    for pipe in docker_pipes(present):
        try:
            servers.append(PipeServer(pipe.address, dial, api, translate_paths).start())
        except PipeBusy as e:
            log.warning("%s", e)
        except OSError as e:
            log.warning("cannot serve %s: %s", pipe.address, e)
    return servers
