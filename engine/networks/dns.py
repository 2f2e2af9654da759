"""The embedded DNS responder of user-defined networks.

One UDP socket and one TCP listener per network on its gateway address, port 53 (containers
find it in their resolv.conf; resolvers retry over TCP when an answer was truncated, and some
always use it). A query for a container name or alias is answered from berthd's own records,
scoped to the networks of the container that asks; any other name is forwarded to the servers
that container was given (`--dns`), or else to the host's resolvers (not on internal networks,
which have no way out).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from engine.networks import resolvconf

log = logging.getLogger(__name__)

TYPE_A = 1
TYPE_AAAA = 28
CLASS_IN = 1
TTL = 600
FORWARD_TIMEOUT = 3.0
MAX_PENDING = 256  # forwarded queries in flight per network: bounded, so a flood cannot grow memory
MAX_TCP_CLIENTS = 64  # open TCP connections per network, for the same reason
TCP_IDLE = 10.0  # seconds a TCP client may stay quiet between queries

# (network id, asking address, name) -> the name's addresses; None when the name is not ours.
Lookup = Callable[[str, str, str], list[str] | None]
# (network id, asking address) -> the servers that container's other queries go to; None: the default.
Upstreams = Callable[[str, str], list[tuple[str, int]] | None]


@dataclass(frozen=True)
class Question:
    id: int
    flags: int
    name: str
    qtype: int
    qclass: int
    end: int  # offset just past the question


def parse_question(data: bytes) -> Question | None:
    if len(data) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", data[:6])
    if qdcount != 1 or flags & 0x8000:
        return None
    labels: list[str] = []
    pos = 12
    for _ in range(128):  # bounded: a name has at most 127 labels
        if pos >= len(data):
            return None
        length = data[pos]
        pos += 1
        if length == 0:
            break
        if length & 0xC0 or pos + length > len(data):
            return None
        labels.append(data[pos:pos + length].decode("ascii", "replace"))
        pos += length
    else:
        return None
    if pos + 4 > len(data):
        return None
    qtype, qclass = struct.unpack("!HH", data[pos:pos + 4])
    return Question(qid, flags, ".".join(labels).lower(), qtype, qclass, pos + 4)


def answer(query: bytes, q: Question, addresses: list[str] | None) -> bytes:
    """Our reply: A (IPv4) and AAAA (IPv6) records for a name we know, no records for other types
    (or for a family the name lacks), NXDOMAIN otherwise."""
    rd = q.flags & 0x0100
    rcode = 3 if addresses is None else 0
    wanted = {TYPE_A: 4, TYPE_AAAA: 6}.get(q.qtype) if q.qclass == CLASS_IN else None
    records = [ip for ip in (ipaddress.ip_address(a) for a in addresses or []) if ip.version == wanted]
    header = struct.pack("!HHHHHH", q.id, 0x8000 | 0x0400 | rd | 0x0080 | rcode, 1, len(records), 0, 0)
    body = query[12:q.end]
    for ip in records:
        body += struct.pack("!HHHIH", 0xC00C, q.qtype, CLASS_IN, TTL, len(ip.packed)) + ip.packed
    return header + body


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, responder: DnsResponder) -> None:
        self.responder = responder
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.responder.received(data, addr)


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, reply: asyncio.Future[bytes], query_id: bytes) -> None:
        self.reply = reply
        self.query_id = query_id

    def datagram_received(self, payload: bytes, _addr: tuple[str | Any, int]) -> None:
        if not self.reply.done() and payload[:2] == self.query_id:
            self.reply.set_result(payload)


class DnsResponder:
    def __init__(self, network_id: str, lookup: Lookup, forwarders: list[tuple[str, int]],
                 forward: bool = True, upstreams: Upstreams | None = None) -> None:
        self.network_id = network_id
        self.lookup = lookup
        self.forwarders = forwarders
        self.forward = forward
        self.upstreams = upstreams
        self._protocol: _Protocol | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._tcp: asyncio.Server | None = None
        self._tcp_clients = 0

    async def start(self, address: str, port: int = 53) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # IP_FREEBIND: the bridge's address may still be settling when berthd starts.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_IP, 15, 1)
        sock.bind((address, port))
        _, protocol = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        self._protocol = protocol
        # TCP on the same address and port (the one UDP took, when asked for port 0).
        port = self.address[1]
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):
            listener.setsockopt(socket.SOL_IP, 15, 1)
        try:
            listener.bind((address, port))
        except OSError:
            listener.close()
            self.close()
            raise
        self._tcp = await asyncio.start_server(self._serve_tcp, sock=listener)

    @property
    def address(self) -> tuple[str, int]:
        assert self._protocol is not None and self._protocol.transport is not None
        name: tuple[str, int] = self._protocol.transport.get_extra_info("sockname")
        return name

    def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None
        for task in self._pending:
            task.cancel()
        self._protocol = None

    def _send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.sendto(data, addr)

    def _servers_for(self, client: str) -> list[tuple[str, int]]:
        """Where `client`'s queries for other names go: its own servers, or the default ones."""
        if not self.forward:
            return []
        own = None
        if self.upstreams is not None:
            try:
                own = self.upstreams(self.network_id, client)
            except Exception:
                log.exception("DNS servers of %s unknown", client)
        return self.forwarders if own is None else own

    def _resolve(self, data: bytes, q: Question, client: str) -> bytes | list[tuple[str, int]]:
        """The answer from berthd's records (or NXDOMAIN where nothing is forwarded), else the
        servers to forward the query to (looked for only then: most queries are for containers)."""
        try:
            found = self.lookup(self.network_id, client, q.name)
        except Exception:
            log.exception("DNS lookup of %s failed", q.name)
            found = None
        servers = self._servers_for(client) if found is None else []
        return servers or answer(data, q, found)

    def received(self, data: bytes, addr: tuple[str, int]) -> None:
        q = parse_question(data)
        if q is None:
            return
        resolved = self._resolve(data, q, addr[0])
        if isinstance(resolved, bytes):
            self._send(resolved, addr)
            return
        if len(self._pending) >= MAX_PENDING:
            return  # the client retries; we do not queue without bound
        task = asyncio.get_running_loop().create_task(self._forward(data, q, addr, resolved))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """DNS over TCP (RFC 7766): each message behind its two-byte length, several per connection."""
        client = str(writer.get_extra_info("peername")[0])
        self._tcp_clients += 1
        try:
            if self._tcp_clients > MAX_TCP_CLIENTS:
                return
            while True:
                try:
                    size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), TCP_IDLE))[0]
                    data = await asyncio.wait_for(reader.readexactly(size), TCP_IDLE)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    return
                q = parse_question(data)
                if q is None:
                    return
                resolved = self._resolve(data, q, client)
                reply = resolved if isinstance(resolved, bytes) else await self._upstream_answer(data, q, resolved)
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        finally:
            self._tcp_clients -= 1
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _forward(self, data: bytes, q: Question, addr: tuple[str, int],
                       servers: list[tuple[str, int]]) -> None:
        self._send(await self._upstream_answer(data, q, servers), addr)

    async def _upstream_answer(self, data: bytes, q: Question, servers: list[tuple[str, int]]) -> bytes:
        """The first of `servers` to answer (over UDP), or SERVFAIL when none answers in time."""
        loop = asyncio.get_running_loop()
        for server in servers[:3]:
            reply: asyncio.Future[bytes] = loop.create_future()
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    functools.partial(_Upstream, reply, data[:2]), remote_addr=server)
            except OSError:
                continue
            try:
                transport.sendto(data)
                return await asyncio.wait_for(reply, FORWARD_TIMEOUT)
            except (TimeoutError, OSError):
                continue
            finally:
                transport.close()
        return struct.pack("!HH", q.id, 0x8000 | (q.flags & 0x0100) | 0x0080 | 2) + data[4:q.end]


def host_resolvers(path: str | None = None) -> list[tuple[str, int]]:
    """The host's IPv4 nameservers, for names that are not containers'."""
    return [(s, 53) for s in resolvconf.ResolvFile.read(path).nameservers if ipaddress.ip_address(s).version == 4]
