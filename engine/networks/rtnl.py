"""A few rtnetlink requests, encoded here and sent several to a datagram: the hot path of a start.

pyroute2 serves berthd's other netlink work, but each of its requests costs about half a millisecond of
Python (building and parsing its message objects) and it opens its sockets slowly: a container's veth,
addresses and routes took 6-10 ms through it. The same requests packed by hand, batched into one send
per namespace and answered by the kernel's acks, take a fraction of that (docs/performance.md).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count

# <linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_link.h>, <linux/if_addr.h>
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLMSG_ERROR = 2
RTM_NEWLINK = 16
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINK = 5
IFLA_MASTER = 10
IFLA_LINKINFO = 18
IFLA_IFALIAS = 20
IFLA_NET_NS_FD = 28
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
IFLA_INFO_SLAVE_KIND = 4
IFLA_INFO_SLAVE_DATA = 5
VETH_INFO_PEER = 1
IFLA_BRPORT_MODE = 4  # hairpin
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_FLAGS = 8
IFA_F_NODAD = 0x02  # no duplicate address detection: an IPv6 address works at once, not "tentative"
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
IFF_UP = 0x1
LOOPBACK_INDEX = 1  # the kernel registers lo first in every namespace
RT_TABLE_MAIN = 254
RTPROT_STATIC = 4
RTN_UNICAST = 1

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefix length, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg: family, dst/src length, tos, table, protocol, scope, type, flags
_ATTR = struct.Struct("=HH")


class NetlinkError(OSError):
    """The kernel refused a request: `errno` says why, the message and `position` (in its batch) which."""

    def __init__(self, code: int, request: Request, position: int) -> None:
        super().__init__(code, f"{request.what}: {os.strerror(code)}")
        self.position = position

    @property
    def missing(self) -> bool:
        return self.errno in (errno.ENODEV, errno.ENOENT)


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def attr(kind: int, payload: bytes) -> bytes:
    return _pad(_ATTR.pack(_ATTR.size + len(payload), kind) + payload)


def nest(kind: int, *attrs: bytes) -> bytes:
    return attr(kind, b"".join(attrs))


def text(kind: int, value: str) -> bytes:
    return attr(kind, value.encode() + b"\0")


def u32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=I", value))


def _ip(value: str) -> tuple[int, bytes]:
    parsed = ipaddress.ip_address(value)
    return (socket.AF_INET6 if parsed.version == 6 else socket.AF_INET), parsed.packed


@dataclass(frozen=True)
class Request:
    """One message's body (after the netlink header) and what it does, for the error that names it."""

    kind: int
    flags: int
    body: bytes
    what: str


def link(what: str, *attrs: bytes, index: int = 0, up: bool = False, create: bool = False) -> Request:
    flags = NLM_F_CREATE | NLM_F_EXCL if create else 0
    head = _IFINFO.pack(socket.AF_UNSPEC, 0, index, IFF_UP if up else 0, IFF_UP if up else 0)
    return Request(RTM_NEWLINK, flags, head + b"".join(attrs), what)


def veth(name: str, peer: str, mac: str, netns_fd: int, master: int, mtu: int = 0) -> Request:
    """A veth pair: `name` enslaved to the bridge `master` and up, its peer made inside the namespace
    of `netns_fd` under its final name and MAC."""
    sized = [u32(IFLA_MTU, mtu)] if mtu else []
    peer_info = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + b"".join(
        [text(IFLA_IFNAME, peer), attr(IFLA_ADDRESS, bytes.fromhex(mac.replace(":", ""))),
         u32(IFLA_NET_NS_FD, netns_fd), *sized])
    return link(f"creating the veth pair {name}", text(IFLA_IFNAME, name), u32(IFLA_MASTER, master), *sized,
                nest(IFLA_LINKINFO, text(IFLA_INFO_KIND, "veth"),
                     nest(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_info))),
                up=True, create=True)


def bridge_port(name: str, alias: str, hairpin: bool) -> Request:
    """The alias of the existing link `name` (the kernel ignores one given at creation) and, as a
    bridge port, its hairpin mode: named, so it goes in the same batch as the link's creation."""
    port = [nest(IFLA_LINKINFO, text(IFLA_INFO_SLAVE_KIND, "bridge"),
                 nest(IFLA_INFO_SLAVE_DATA, attr(IFLA_BRPORT_MODE, b"\x01")))] if hairpin else []
    return link(f"setting the alias of {name}", text(IFLA_IFNAME, name), text(IFLA_IFALIAS, alias), *port)


def get_link(name: str) -> Request:
    return Request(RTM_GETLINK, 0, _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + text(IFLA_IFNAME, name),
                   f"looking up {name}")


def address(index: int, value: str, prefixlen: int) -> Request:
    family, packed = _ip(value)
    # Without NODAD an IPv6 address stays "tentative" (unusable) for a second or more after it is
    # added; berthd hands out addresses itself, so no other node can hold it.
    flags = [u32(IFA_FLAGS, IFA_F_NODAD)] if family == socket.AF_INET6 else []
    local = [attr(IFA_LOCAL, packed)] if family == socket.AF_INET else []
    body = _IFADDR.pack(family, prefixlen, 0, 0, index) + attr(IFA_ADDRESS, packed) + b"".join([*local, *flags])
    return Request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body, f"adding the address {value}/{prefixlen}")


def default_route(index: int, gateway: str) -> Request:
    family, packed = _ip(gateway)
    body = _RTMSG.pack(family, 0, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, 0, RTN_UNICAST, 0) + b"".join(
        [attr(RTA_DST, bytes(len(packed))), attr(RTA_GATEWAY, packed), u32(RTA_OIF, index)])
    return Request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, body, f"routing through {gateway}")


class Socket:
    """A NETLINK_ROUTE socket of the calling thread's network namespace (fixed at creation)."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
        self._sock.bind((0, 0))
        self._seq = count(1)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def send(self, *requests: Request) -> list[bytes]:
        """Every request in one datagram, each acknowledged; the kernel runs them in order. Returns each
        one's answer (the body of a GET's reply, b"" for the others); the first refused raises."""
        numbered: dict[int, tuple[int, Request]] = {}
        out = bytearray()
        for position, r in enumerate(requests):
            seq = next(self._seq)
            numbered[seq] = position, r
            out += _HEADER.pack(_HEADER.size + len(r.body), r.kind, NLM_F_REQUEST | NLM_F_ACK | r.flags, seq, 0)
            out += r.body
        self._sock.send(out)
        answers: dict[int, bytes] = {}
        failed: tuple[int, int] | None = None
        acked = 0
        while acked < len(numbered):
            data = self._sock.recv(65536)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, kind, _, seq, _ = _HEADER.unpack_from(data, offset)
                body = data[offset + _HEADER.size:offset + length]
                offset += (length + 3) & ~3
                if seq not in numbered:
                    continue  # an answer to an earlier exchange on this socket
                if kind != NLMSG_ERROR:
                    answers[seq] = body
                    continue
                acked += 1
                code = -struct.unpack_from("=i", body)[0]
                if code and (failed is None or numbered[seq][0] < failed[0]):
                    failed = numbered[seq][0], code
        if failed is not None:
            position, code = failed
            raise NetlinkError(code, requests[position], position)
        return [answers.get(seq, b"") for seq in numbered]


def link_index(answer: bytes) -> int:
    """The index in a link's description (a GET_LINK answer)."""
    return int(_IFINFO.unpack_from(answer)[2])


def peer_index(answer: bytes) -> int:
    """The index, in its own namespace, of the other end of a veth (its IFLA_LINK)."""
    for kind, payload in attrs(answer[_IFINFO.size:]):
        if kind == IFLA_LINK:
            return int(struct.unpack("=I", payload)[0])
    raise ValueError("the link has no peer")


def attrs(data: bytes) -> Iterator[tuple[int, bytes]]:
    offset = 0
    while offset + _ATTR.size <= len(data):
        length, kind = _ATTR.unpack_from(data, offset)
        if length < _ATTR.size:
            return
        yield kind & 0x3FFF, data[offset + _ATTR.size:offset + length]  # without the nested/byte-order bits
        offset += (length + 3) & ~3
