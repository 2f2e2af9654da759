"""SSH pieces paramiko lacks for reaching berthd inside a machine.

berthd listens on a Unix socket in the guest. OpenSSH forwards such sockets through a
`direct-streamlocal@openssh.com` channel (OpenSSH's PROTOCOL file, section 2.4), whose
CHANNEL_OPEN carries the socket path. paramiko can open a channel of that type but
writes none of its fields, and sshd then drops the whole session; so the message is
built here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import paramiko
from paramiko.common import DEFAULT_MAX_PACKET_SIZE, DEFAULT_WINDOW_SIZE, cMSG_CHANNEL_OPEN

log = logging.getLogger("vmhost.ssh")

STREAMLOCAL_CHANNEL = "direct-streamlocal@openssh.com"
_UINT32_MAX = 2**32 - 1


def streamlocal_open_message(
    sender_channel: int,
    socket_path: str,
    window_size: int = DEFAULT_WINDOW_SIZE,
    max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
) -> paramiko.Message:
    """SSH_MSG_CHANNEL_OPEN asking the server to connect to the Unix socket `socket_path`.

    The message holds the standard fields (type, sender channel, window, max
    packet; RFC 4254 section 5.1), then the socket path and the two reserved fields
    OpenSSH expects (an empty string and a zero uint32).
    """
    if not socket_path:
        raise ValueError("a socket path is needed to open a streamlocal channel")
    for name, value in (
        ("sender channel", sender_channel),
        ("window size", window_size),
        ("max packet size", max_packet_size),
    ):
        if not 0 <= value <= _UINT32_MAX:
            raise ValueError(f"{name} {value} does not fit in an SSH uint32")
    message = paramiko.Message()
    message.add_byte(cMSG_CHANNEL_OPEN)
    message.add_string(STREAMLOCAL_CHANNEL)
    message.add_int(sender_channel)
    message.add_int(window_size)
    message.add_int(max_packet_size)
    message.add_string(socket_path)
    message.add_string("")  # reserved
    message.add_int(0)  # reserved
    return message


def open_streamlocal(transport: paramiko.Transport, socket_path: str, timeout: float = 10.0) -> paramiko.Channel:
    """Open a channel to the Unix socket `socket_path` on the server.

    This mirrors paramiko's Transport.open_channel (5.1) but sends our own CHANNEL_OPEN message; it is
    the one place that touches paramiko's private channel bookkeeping, and tests run it against sshd.
    """
    if not transport.is_active():
        raise paramiko.SSHException("SSH session not active")
    with transport.lock:
        window_size = transport._sanitize_window_size(None)
        max_packet_size = transport._sanitize_packet_size(None)
        chanid = transport._next_channel()
        message = streamlocal_open_message(chanid, socket_path, window_size, max_packet_size)
        channel = paramiko.Channel(chanid)
        transport._channels.put(chanid, channel)
        transport.channel_events[chanid] = event = threading.Event()
        transport.channels_seen[chanid] = True
        channel._set_transport(transport)
        channel._set_window(window_size, max_packet_size)
    transport._send_user_message(message)
    deadline = time.monotonic() + timeout
    while not event.wait(0.1):
        if not transport.is_active():
            raise transport.get_exception() or paramiko.SSHException("SSH session ended while opening a channel")
        if time.monotonic() > deadline:
            raise paramiko.SSHException(f"timed out opening a channel to {socket_path}")
    opened: paramiko.Channel | None = transport._channels.get(chanid)
    if opened is None:
        # The server refused (OPEN_FAILURE): paramiko dropped the channel and kept the reason.
        raise transport.get_exception() or paramiko.ChannelException(2, f"server refused to connect to {socket_path}")
    return opened


class HostKeyMismatch(paramiko.SSHException):  # type: ignore[misc]  # paramiko is untyped
    """The server's host key is not the one pinned for this machine."""


class SSHEndpoint(Protocol):
    """Where an sshd is and how both sides are proven: a machine's pinned key or a remote host's known_hosts."""

    @property
    def known_hosts_name(self) -> str: ...

    def connect_client(self, timeout: float) -> paramiko.SSHClient:
        """An authenticated SSHClient, or an exception saying why not (HostKeyMismatch for a wrong key)."""
        ...


def known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


@dataclass(frozen=True)
class Endpoint:
    """Where a machine's sshd is and how we prove who both sides are."""

    host: str
    port: int
    user: str
    key_file: Path  # our private key (OpenSSH format)
    host_key: str  # the pinned public host key line, "ssh-ed25519 AAAA..."

    @property
    def known_hosts_name(self) -> str:
        return known_hosts_name(self.host, self.port)

    def connect_client(self, timeout: float) -> paramiko.SSHClient:
        from vmhost.keys import load_private_key, public_key_from_line

        pinned = public_key_from_line(self.host_key)
        client = paramiko.SSHClient()
        # Only the pinned key is known, and RejectPolicy refuses anything unknown: no trust on first use.
        client.get_host_keys().add(self.known_hosts_name, pinned.get_name(), pinned)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                self.host, self.port, username=self.user, pkey=load_private_key(self.key_file),
                look_for_keys=False, allow_agent=False, timeout=timeout,
                banner_timeout=timeout, auth_timeout=timeout,
            )
        except paramiko.BadHostKeyException as e:
            client.close()
            raise HostKeyMismatch(
                f"{self.known_hosts_name} presented host key {e.key.fingerprint}, not the pinned "
                f"{e.expected_key.fingerprint}: refusing to connect (recreate the machine if its key really changed)"
            ) from None
        except paramiko.SSHException as e:
            client.close()
            if "not found in known_hosts" in str(e):
                raise HostKeyMismatch(f"{self.known_hosts_name} offered no host key of the pinned type: {e}") from None
            raise
        except BaseException:
            client.close()
            raise
        return client


class Connection:
    """One SSH session to a machine or remote host, re-established on demand after it drops.

    Thread-safe: forwarders share it and call transport() for every new channel.
    """

    def __init__(self, endpoint: SSHEndpoint, keepalive: float = 10.0, connect_timeout: float = 10.0) -> None:
        self.endpoint = endpoint
        self.keepalive = keepalive
        self.connect_timeout = connect_timeout
        self.connects = 0  # sessions opened so far; a reconnect increments it
        self._lock = threading.Lock()
        self._client: paramiko.SSHClient | None = None

    def transport(self) -> paramiko.Transport:
        """The live transport, connecting (again) first if there is none."""
        with self._lock:
            transport = self._client.get_transport() if self._client is not None else None
            if transport is not None and transport.is_active():
                return transport
            self._close_locked()
            self._client = self._connect()
            self.connects += 1
            transport = self._client.get_transport()
            assert transport is not None
            return transport

    def is_active(self) -> bool:
        with self._lock:
            transport = self._client.get_transport() if self._client is not None else None
            return transport is not None and transport.is_active()

    def _connect(self) -> paramiko.SSHClient:
        client = self.endpoint.connect_client(self.connect_timeout)
        transport = client.get_transport()
        assert transport is not None
        # Keepalives find a dead session (guest paused, host slept) before a user's request does.
        transport.set_keepalive(max(1, int(self.keepalive)))
        return client

    def invalidate(self) -> None:
        """Drop the session (a channel failed on it); the next transport() reconnects."""
        with self._lock:
            self._close_locked()

    def run(self, command: str, timeout: float = 30.0) -> tuple[int, str, str]:
        """Run `command` in the guest: (exit status, stdout, stderr)."""
        channel = self.transport().open_session(timeout=timeout)
        try:
            channel.settimeout(timeout)
            channel.exec_command(command)
            out = _read_all(channel.makefile("rb"))
            err = _read_all(channel.makefile_stderr("rb"))
            return channel.recv_exit_status(), out, err
        finally:
            channel.close()

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _read_all(stream: Any) -> str:
    data: bytes = stream.read()
    return data.decode(errors="replace")


ChannelOpener = Callable[[paramiko.Transport], paramiko.Channel]
_CHANNEL_ERRORS = (paramiko.SSHException, OSError, EOFError)


class Forward:
    """Accepts local connections and carries each over a new SSH channel.

    Channel opens retry with backoff, reconnecting the session, so a forward outlives sshd restarts
    and guest reboots; each retry loop is bounded by `open_attempts`.
    """

    def __init__(self, connection: Connection, listener: socket.socket, opener: ChannelOpener, label: str,
                 open_attempts: int = 8) -> None:
        self.connection = connection
        self.label = label
        self.open_attempts = open_attempts
        self._listener = listener
        self._opener = opener
        self._stop = threading.Event()
        self._threads: set[threading.Thread] = set()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        listener.settimeout(0.5)  # so the accept loop notices close()
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"forward {label}", daemon=True)

    def start(self) -> Forward:
        self._acceptor.start()
        return self

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # listener closed
            client.settimeout(None)
            thread = threading.Thread(target=self._serve, args=(client,), name=f"forward {self.label}", daemon=True)
            with self._lock:
                self._threads.add(thread)
                self._sockets.add(client)
            thread.start()

    def open_channel(self) -> paramiko.Channel:
        delay = 0.2
        for attempt in range(self.open_attempts):
            try:
                return self._opener(self.connection.transport())
            except HostKeyMismatch:
                raise
            except paramiko.ChannelException:
                raise  # the session is fine; the far end refused this one connection
            except _CHANNEL_ERRORS as e:
                self.connection.invalidate()
                log.debug("forward %s: channel open failed (%s), attempt %d", self.label, e, attempt + 1)
                if attempt + 1 == self.open_attempts or self._stop.wait(delay):
                    raise
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    def _serve(self, client: socket.socket) -> None:
        try:
            try:
                channel = self.open_channel()
            except _CHANNEL_ERRORS as e:
                log.warning("forward %s: %s", self.label, e)
                return
            try:
                pump(client, channel, self._stop)
            finally:
                channel.close()
        finally:
            client.close()
            with self._lock:
                self._sockets.discard(client)
                self._threads.discard(threading.current_thread())

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        if self._acceptor.is_alive():
            self._acceptor.join(timeout=2)
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        for t in threads:
            t.join(timeout=2)


def pump(sock: socket.socket, channel: paramiko.Channel, stop: threading.Event, chunk: int = 65536) -> None:
    """Copy bytes both ways until both sides have finished, passing half-closes along."""
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(channel, selectors.EVENT_READ)
    open_sides = 2
    try:
        while open_sides and not stop.is_set():
            for key, _ in selector.select(timeout=0.5):
                if key.fileobj is sock:
                    try:
                        data = sock.recv(chunk)
                    except OSError:
                        data = b""
                    if data:
                        channel.sendall(data)
                    else:
                        channel.shutdown_write()
                        selector.unregister(sock)
                        open_sides -= 1
                else:
                    data = channel.recv(chunk)
                    if data:
                        sock.sendall(data)
                    else:
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_WR)
                        if channel.closed:
                            return  # the far end is gone entirely; nothing sent from here would arrive
                        selector.unregister(channel)
                        open_sides -= 1
    except OSError:
        return  # the local peer went away: closing the channel is all that is left
    finally:
        selector.close()


def unix_forward(connection: Connection, local_path: Path, remote_path: str) -> Forward:
    """A local Unix socket (owner-only) whose connections reach `remote_path` in the guest."""
    if local_path.is_socket():
        local_path.unlink()  # left by a forwarder that died; a live one would hold a lock elsewhere
    local_path.parent.mkdir(parents=True, exist_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # Bind under a restrictive umask so there is no window in which others may connect.
        old = os.umask(0o177)
        try:
            listener.bind(str(local_path))
        finally:
            os.umask(old)
        listener.listen(64)
    except BaseException:
        listener.close()
        raise
    return Forward(connection, listener, lambda t: open_streamlocal(t, remote_path),
                   f"unix:{local_path} -> {remote_path}").start()


def loopback_listener(port: int, bind: str = "127.0.0.1") -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((bind, port))
        listener.listen(64)
    except BaseException:
        listener.close()
        raise
    return listener


def streamlocal_tcp_forward(connection: Connection, local_port: int, remote_path: str) -> Forward:
    """A loopback TCP listener whose connections reach the Unix socket `remote_path` in the guest: the engine's
    local end where the host has no AF_UNIX (Windows)."""
    listener = loopback_listener(local_port)
    return Forward(connection, listener, lambda t: open_streamlocal(t, remote_path),
                   f"tcp:127.0.0.1:{listener.getsockname()[1]} -> {remote_path}").start()


def tcp_forward(connection: Connection, local_port: int, remote_host: str, remote_port: int,
                bind: str = "127.0.0.1") -> Forward:
    """A TCP listener on the host's loopback whose connections reach remote_host:remote_port in the guest."""
    listener = loopback_listener(local_port, bind)
    port = listener.getsockname()[1]

    def opener(transport: paramiko.Transport) -> paramiko.Channel:
        channel: paramiko.Channel = transport.open_channel(
            "direct-tcpip", (remote_host, remote_port), (bind, port), timeout=10)
        return channel

    return Forward(connection, listener, opener, f"tcp:{bind}:{port} -> {remote_host}:{remote_port}").start()
