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
Net6 = ipaddress.IPv6Network
Addr6 = ipaddress.IPv6Address
AnyNet = Net | Net6
AnyAddr = Addr | Addr6


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


def parse_subnet6(text: str) -> Net6:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidArgument(f"invalid subnet {text!r}: use CIDR notation like fd00:1::/64") from None
    if not isinstance(net, ipaddress.IPv6Network):
        raise InvalidArgument(f"subnet {text} is not an IPv6 network")
    if net.prefixlen > 126:
        raise InvalidArgument(f"subnet {text} is too small: it needs room for a gateway and a container (/126 or more)")
    if ipaddress.ip_interface(text).ip != net.network_address:
        raise InvalidArgument(f"invalid subnet {text}: it has host bits set (did you mean {net}?)")
    return net


def parse_address6(text: str, what: str) -> Addr6:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidArgument(f"invalid {what} {text!r}: not an IPv6 address") from None
    if not isinstance(addr, ipaddress.IPv6Address):
        raise InvalidArgument(f"invalid {what} {text}: not an IPv6 address")
    return addr


def family_of(text: str) -> int:
    """4 or 6 for an address or subnet in text; 0 when it is neither."""
    try:
        return ipaddress.ip_interface(text).version
    except ValueError:
        return 0


@dataclass(frozen=True)
class AddressPool:
    """The addresses of one network and family (IPv4 or IPv6) that endpoints may take."""

    subnet: AnyNet
    gateway: AnyAddr
    ip_range: AnyNet | None = None
    reserved: frozenset[AnyAddr] = frozenset()  # IPAM's auxiliary addresses: never handed out

    @property
    def family(self) -> str:
        return f"IPv{self.subnet.version}"

    def _reserved(self, addr: AnyAddr) -> bool:
        if addr == self.subnet.network_address or addr == self.gateway or addr in self.reserved:
            return True
        # IPv4's broadcast address; IPv6 has none, and its last address is an ordinary one.
        return self.subnet.version == 4 and addr == self.subnet.broadcast_address

    def check(self) -> None:
        if self.gateway not in self.subnet:
            raise InvalidArgument(f"gateway {self.gateway} is not in subnet {self.subnet}")
        if self.gateway == self.subnet.network_address or (
                self.subnet.version == 4 and self.gateway == self.subnet.broadcast_address):
            raise InvalidArgument(f"gateway {self.gateway} cannot be the network or broadcast address")
        if self.ip_range is not None and not (
                self.ip_range.version == self.subnet.version
                and int(self.ip_range.network_address) >= int(self.subnet.network_address)
                and int(self.ip_range.broadcast_address) <= int(self.subnet.broadcast_address)):
            raise InvalidArgument(f"ip-range {self.ip_range} is not inside subnet {self.subnet}")
        for addr in self.reserved:
            if addr not in self.subnet:
                raise InvalidArgument(f"auxiliary address {addr} is not in subnet {self.subnet}")

    def usable(self, addr: AnyAddr) -> bool:
        return addr in self.subnet and not self._reserved(addr)

    def _address(self, value: int) -> AnyAddr:
        return Addr(value) if self.subnet.version == 4 else Addr6(value)

    def allocate(self, used: set[AnyAddr], after: AnyAddr | None = None) -> AnyAddr:
        """The first free address after `after` (wrapping round), in the ip-range if there is one.

        An IPv6 span is huge, but the walk stops at the first free address, a few steps past the
        cursor; only a full IPv4 span is ever walked to its end."""
        span = self.ip_range or self.subnet
        first, last = int(span.network_address), int(span.broadcast_address)
        start = int(after) + 1 if after is not None and first <= int(after) < last else first
        size = last - first + 1
        for i in range(min(size, len(used) + len(self.reserved) + 4)):
            candidate = self._address(first + (start - first + i) % size)
            if self.usable(candidate) and candidate not in used:
                return candidate
        raise Conflict(f"no available {self.family} addresses on network {self.subnet}: all are in use")

    def static(self, addr: AnyAddr, used: set[AnyAddr]) -> AnyAddr:
        if addr not in self.subnet:
            raise InvalidArgument(f"address {addr} is not in the network's subnet {self.subnet}")
        if not self.usable(addr):
            raise InvalidArgument(f"address {addr} is reserved (network, broadcast, gateway or auxiliary address)")
        if addr in used:
            raise Conflict(f"Address already in use: {addr}")
        return addr


def mac_for(addr: AnyAddr) -> str:
    """Docker's scheme: 02:42 then the four bytes of the address, so a MAC is stable per address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in addr.packed[-4:])
