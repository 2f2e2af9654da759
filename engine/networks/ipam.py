"""Address management: which subnet a new network gets, and which address an endpoint gets.

Subnets come from Docker's default pools (172.17-31/16, then 192.168.x/20), skipping any that
overlaps a route or address already on the host (another engine's bridge, a VPN, the LAN) or
another network of ours. Addresses are handed out from a persisted cursor, so a released
address is not reused at once, and the store's UNIQUE constraint makes a double allocation
impossible even across restarts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from engine.errors import Conflict, InvalidArgument

Net = ipaddress.IPv4Network
Addr = ipaddress.IPv4Address


def default_pools() -> Iterator[Net]:
    for second in range(17, 32):
        yield ipaddress.IPv4Network(f"172.{second}.0.0/16")
    for third in range(0, 256, 16):
        yield ipaddress.IPv4Network(f"192.168.{third}.0/20")


def pick_subnet(taken: Iterable[Net], pools: Iterable[Net] | None = None) -> Net:
    """The first pool that overlaps nothing in `taken`."""
    used = [t for t in taken if t.prefixlen > 0]  # the default route overlaps everything: ignore it
    for candidate in pools if pools is not None else default_pools():
        if not any(candidate.overlaps(t) for t in used):
            return candidate
    raise Conflict("could not find an available, non-overlapping IPv4 address pool among the defaults "
                   "to assign to the network: give a --subnet")


def parse_subnet(text: str) -> Net:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidArgument(f"invalid subnet {text!r}: use CIDR notation like 172.28.0.0/16") from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise InvalidArgument(f"subnet {text}: only IPv4 networks are supported")
    if net.prefixlen > 30:
        raise InvalidArgument(f"subnet {text} is too small: it needs room for a gateway and a container (/30 or wider)")
    if str(net) != text:
        raise InvalidArgument(f"invalid subnet {text}: it has host bits set (did you mean {net}?)")
    return net


def parse_address(text: str, what: str) -> Addr:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidArgument(f"invalid {what} {text!r}: not an IPv4 address") from None
    if not isinstance(addr, ipaddress.IPv4Address):
        raise InvalidArgument(f"invalid {what} {text}: only IPv4 is supported")
    return addr


@dataclass(frozen=True)
class AddressPool:
    """The addresses of one network that endpoints may take."""

    subnet: Net
    gateway: Addr
    ip_range: Net | None = None

    def check(self) -> None:
        if self.gateway not in self.subnet:
            raise InvalidArgument(f"gateway {self.gateway} is not in subnet {self.subnet}")
        if self.gateway in (self.subnet.network_address, self.subnet.broadcast_address):
            raise InvalidArgument(f"gateway {self.gateway} cannot be the network or broadcast address")
        if self.ip_range is not None and not self.ip_range.subnet_of(self.subnet):
            raise InvalidArgument(f"ip-range {self.ip_range} is not inside subnet {self.subnet}")

    def usable(self, addr: Addr) -> bool:
        return (addr in self.subnet and addr != self.gateway
                and addr not in (self.subnet.network_address, self.subnet.broadcast_address))

    def allocate(self, used: set[Addr], after: Addr | None = None) -> Addr:
        """The first free address after `after` (wrapping round), in the ip-range if there is one."""
        span = self.ip_range or self.subnet
        first, last = int(span.network_address), int(span.broadcast_address)
        start = int(after) + 1 if after is not None and first <= int(after) < last else first
        size = last - first + 1
        for i in range(size):
            candidate = Addr(first + (start - first + i) % size)
            if self.usable(candidate) and candidate not in used:
                return candidate
        raise Conflict(f"no available IPv4 addresses on network {self.subnet}: all are in use")

    def static(self, addr: Addr, used: set[Addr]) -> Addr:
        if addr not in self.subnet:
            raise InvalidArgument(f"address {addr} is not in the network's subnet {self.subnet}")
        if not self.usable(addr):
            raise InvalidArgument(f"address {addr} is reserved (network, broadcast or gateway address)")
        if addr in used:
            raise Conflict(f"Address already in use: {addr}")
        return addr


def mac_for(addr: Addr) -> str:
    """Docker's scheme: 02:42 then the four bytes of the address, so a MAC is stable per address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in addr.packed)
