"""The embedded DNS: answers from berthd's records, forwards the rest (on loopback here)."""

from __future__ import annotations

import asyncio
import socket
import struct
from pathlib import Path

import pytest

from engine.networks import dns

pytestmark = pytest.mark.unit


def query(name: str, qtype: int = 1, qid: int = 0x1234) -> bytes:
    body = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack("!HH", qtype, 1)
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + body


def test_parse_and_answer() -> None:
    data = query("Web")
    q = dns.parse_question(data)
    assert q is not None and q.name == "web" and q.qtype == 1
    reply = dns.answer(data, q, ["172.18.0.2", "172.18.0.3"])
    qid, flags, _, ancount = struct.unpack("!HHHH", reply[:8])
    assert qid == 0x1234 and flags & 0x8000 and flags & 0xF == 0 and ancount == 2
    assert reply.endswith(socket.inet_aton("172.18.0.3"))
    aaaa = dns.parse_question(query("web", qtype=28))
    assert aaaa is not None
    assert struct.unpack("!HHHH", dns.answer(query("web", 28), aaaa, ["172.18.0.2"])[:8])[3] == 0  # no AAAA
    assert struct.unpack("!H", dns.answer(data, q, None)[2:4])[0] & 0xF == 3  # NXDOMAIN
    # a dual-stack name: AAAA answers its IPv6 address, A its IPv4 one, each alone
    both = ["172.18.0.2", "fd42:1:2::f00d"]
    six = dns.answer(query("web", 28), aaaa, both)
    assert struct.unpack("!HHHH", six[:8])[3] == 1
    assert six[-18:] == struct.pack("!H", 16) + socket.inet_pton(socket.AF_INET6, "fd42:1:2::f00d")
    assert struct.unpack("!HH", six[-26:-22]) == (28, 1)  # TYPE AAAA, CLASS IN
    four = dns.answer(data, q, both)
    assert struct.unpack("!HHHH", four[:8])[3] == 1 and four.endswith(socket.inet_aton("172.18.0.2"))
    for junk in (b"", b"\x00" * 11, query("x")[:14], b"\x12\x34\x81\x80" + query("x")[4:]):
        assert dns.parse_question(junk) is None


async def _ask(addr: tuple[str, int], data: bytes, source: str = "127.0.0.1") -> bytes:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        s.bind((source, 0))
        s.connect(addr)
        s.send(data)
        return await asyncio.wait_for(loop.sock_recv(s, 512), 5)


async def _ask_tcp(addr: tuple[str, int], *queries: bytes) -> list[bytes]:
    """Several queries on one TCP connection, each behind its two-byte length (RFC 7766)."""
    reader, writer = await asyncio.open_connection(*addr)
    try:
        answers = []
        for data in queries:
            writer.write(struct.pack("!H", len(data)) + data)
            size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 5))[0]
            answers.append(await asyncio.wait_for(reader.readexactly(size), 5))
        return answers
    finally:
        writer.close()
        await writer.wait_closed()


class _Upstream(asyncio.DatagramProtocol):
    """A fake resolver on loopback that answers every name with 10.0.0.9 (never sent anywhere)."""

    def __init__(self, address: str = "10.0.0.9") -> None:
        self.address = address

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        q = dns.parse_question(data)
        assert q is not None
        self.transport.sendto(dns.answer(data, q, [self.address]), addr)  # type: ignore[attr-defined]


def test_responder_answers_known_names_and_forwards_the_rest() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        upstream, _ = await loop.create_datagram_endpoint(_Upstream, local_addr=("127.0.0.1", 0))
        seen: list[tuple[str, str, str]] = []

        def lookup(network: str, client: str, name: str) -> list[str] | None:
            seen.append((network, client, name))
            return ["172.18.0.2"] if name == "web" else None

        responder = dns.DnsResponder("net1", lookup, [upstream.get_extra_info("sockname")])
        closed = dns.DnsResponder("net2", lookup, [upstream.get_extra_info("sockname")], forward=False)
        await responder.start("127.0.0.1", 0)
        await closed.start("127.0.0.1", 0)
        try:
            assert (await _ask(responder.address, query("web"))).endswith(socket.inet_aton("172.18.0.2"))
            assert (await _ask(responder.address, query("example.test"))).endswith(socket.inet_aton("10.0.0.9"))
            refused = await _ask(closed.address, query("example.test"))
            assert struct.unpack("!H", refused[2:4])[0] & 0xF == 3
            # The same over TCP, on the same address and port: ours, then a forwarded one.
            ours, forwarded = await _ask_tcp(responder.address, query("web", qid=7), query("example.test", qid=8))
            assert ours[:2] == b"\x00\x07" and ours.endswith(socket.inet_aton("172.18.0.2"))
            assert forwarded[:2] == b"\x00\x08" and forwarded.endswith(socket.inet_aton("10.0.0.9"))
            assert seen[0] == ("net1", "127.0.0.1", "web")
        finally:
            responder.close()
            closed.close()
            upstream.close()

    asyncio.run(main())


def test_host_resolvers(tmp_path: Path) -> None:
    host = tmp_path / "resolv.conf"
    host.write_text("# comment\nnameserver 127.0.0.53\nnameserver 10.1.1.1\nnameserver ::1\nsearch corp.test\n")
    assert dns.host_resolvers(str(host)) == [("127.0.0.53", 53), ("10.1.1.1", 53)]


def test_each_client_forwards_to_its_own_servers() -> None:
    """`--dns`: a container that named servers has its queries sent there, the others to the default
    ones; one whose servers are all unusable gets NXDOMAIN rather than the host's answer."""
    async def main() -> None:
        loop = asyncio.get_running_loop()
        default, _ = await loop.create_datagram_endpoint(_Upstream, local_addr=("127.0.0.1", 0))
        own, _ = await loop.create_datagram_endpoint(lambda: _Upstream("10.0.0.7"), local_addr=("127.0.0.1", 0))
        asked: list[tuple[str, str]] = []

        def upstreams(network: str, client: str) -> list[tuple[str, int]] | None:
            asked.append((network, client))
            return {"127.0.0.1": [own.get_extra_info("sockname")], "127.0.0.2": []}.get(client)

        responder = dns.DnsResponder("net1", lambda *_: None, [default.get_extra_info("sockname")],
                                     upstreams=upstreams)
        await responder.start("127.0.0.1", 0)
        try:
            assert (await _ask(responder.address, query("example.test"))).endswith(socket.inet_aton("10.0.0.7"))
            _, by_tcp = await _ask_tcp(responder.address, query("web", qid=7), query("example.test", qid=8))
            assert by_tcp.endswith(socket.inet_aton("10.0.0.7"))
            none = await _ask(responder.address, query("example.test"), source="127.0.0.2")
            assert struct.unpack("!H", none[2:4])[0] & 0xF == 3
            other = await _ask(responder.address, query("example.test"), source="127.0.0.3")
            assert other.endswith(socket.inet_aton("10.0.0.9"))
            assert asked[0] == ("net1", "127.0.0.1") and ("net1", "127.0.0.3") in asked
        finally:
            responder.close()
            default.close()
            own.close()

    asyncio.run(main())
