"""Bridges, veth pairs, addresses, routes and network namespaces, through netlink (pyroute2).

All calls block (netlink round trips, a short `unshare`): the service runs them in a worker
thread. Every link berthd makes carries an alias "berthd:<tag>:<owner>", so that start-up
reconciliation and teardown find exactly this berthd's links and never another engine's.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import ipaddress
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from engine import libc
from engine.errors import RuntimeFailure
from engine.laps import Laps
from engine.networks import rtnl
from engine.storage import overlay

if TYPE_CHECKING:
    from pyroute2 import IPRoute

# pyroute2 logs every netlink message at debug level: far too much for berthd's own debug log.
logging.getLogger("pyroute2").setLevel(logging.INFO)
log = logging.getLogger(__name__)


CLONE_NEWNET = 0x40000000
MS_BIND = 4096


def netlink() -> ModuleType:
    """pyroute2, imported at first use: its package imports every netlink family it knows, which
    costs seconds of a machine's boot under emulation. berthd serves first and loads it in a worker
    thread while it reconciles its networks (the import lock makes concurrent first uses safe)."""
    return importlib.import_module("pyroute2")


def _setns(fd: int) -> None:
    libc.setns(fd, CLONE_NEWNET)


@contextlib.contextmanager
def _inside(path: Path) -> Iterator[None]:
    """The calling (worker) thread in the network namespace at `path` for the block, then back.

    A netlink socket opened inside stays bound to that namespace after the thread returns. (pyroute2's
    own `IPRoute(netns=...)` forks a child instead, and a forked copy of berthd that gets SIGTERM
    reports it through the event loop's inherited signal wake-up fd: berthd would think it was told
    to stop.)
    """
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)  # cannot fail with a valid fd to our own namespace; if it did, we must not go on
    finally:
        os.close(own)


@contextlib.contextmanager
def netns_route(path: Path) -> Iterator[IPRoute]:
    """A pyroute2 netlink socket inside the namespace at `path`."""
    with _inside(path):
        ipr = netlink().IPRoute()
    try:
        yield ipr
    finally:
        ipr.close()


def _set_sysctl(path: str, value: str) -> bool:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError:
        return False
    return True


def enable_forwarding(ipv6: bool = False) -> None:
    """Routing between bridges and the host's uplinks; Docker turns it on too (IPv6's only for a
    dual-stack network, as dockerd: it also stops the host taking router advertisements)."""
    _set_sysctl("/proc/sys/net/ipv4/ip_forward", "1")
    if ipv6:
        for scope in ("default", "all"):
            _set_sysctl(f"/proc/sys/net/ipv6/conf/{scope}/forwarding", "1")


def find_link(ipr: IPRoute, name: str) -> int | None:
    try:
        found = ipr.link("get", ifname=name)  # one request, where link_lookup dumps every link
    except netlink().NetlinkError as e:
        if e.code == errno.ENODEV:
            return None
        raise
    return int(found[0]["index"]) if found else None


def _add_address(ipr: IPRoute, idx: int, address: str, prefixlen: int) -> None:
    if ":" in address:
        ipr.addr("add", index=idx, address=address, prefixlen=prefixlen, flags=rtnl.IFA_F_NODAD)
    else:
        ipr.addr("add", index=idx, address=address, prefixlen=prefixlen)


def ensure_bridge(name: str, gateway: str, prefixlen: int, alias: str, gateway6: str | None = None,
                  prefixlen6: int = 64) -> None:
    """The bridge `name` exists, is up and holds `gateway`/`prefixlen` (and the IPv6 gateway of a
    dual-stack network), and no other address (idempotent)."""
    with netlink().IPRoute() as ipr:
        idx = find_link(ipr, name)
        made = False  # by this call: it holds no address yet
        if idx is None:
            try:
                ipr.link("add", ifname=name, kind="bridge")
                made = True
            except netlink().NetlinkError as e:
                if e.code != errno.EEXIST:
                    raise RuntimeFailure(f"cannot create bridge {name}: {e}") from None
            idx = find_link(ipr, name)
            if idx is None:
                raise RuntimeFailure(f"bridge {name} vanished after creation")
        ipr.link("set", index=idx, ifalias=alias)
        if gateway6:
            # A host may turn IPv6 off for new interfaces; a dual-stack network needs it on its bridge.
            _set_sysctl(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "0")
        wanted = {(gateway, prefixlen)} | ({(gateway6, prefixlen6)} if gateway6 else set())
        for family in (2, 10):
            # Reading a link's addresses dumps every address of the host (pyroute2 filters them here):
            # ~100 ms with 500 bridges, so a bridge just made, which has none, is not read.
            have: set[tuple[str, int]] = set() if made else {
                (a.get("address"), a["prefixlen"]) for a in ipr.get_addr(index=idx, family=family)}
            for address, length in have - wanted:
                # An address the network no longer has (the bridge outlived a berthd whose state was
                # reset, and its network got another subnet): left there, it would keep its subnet
                # routed here and out of every later choice of pool. IPv6 link-local ones stay.
                if family == 2 or not ipaddress.IPv6Address(address).is_link_local:
                    with contextlib.suppress(netlink().NetlinkError):
                        ipr.addr("del", index=idx, address=address, prefixlen=length)
            for address, length in wanted - have:
                if (family == 10) == (":" in address):
                    with contextlib.suppress(netlink().NetlinkError):
                        _add_address(ipr, idx, address, length)
        ipr.link("set", index=idx, state="up")
    # Published ports answer on 127.0.0.1: DNAT to a container from a loopback source needs this.
    _set_sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1")


def delete_link(name: str) -> None:
    with netlink().IPRoute() as ipr:
        idx = find_link(ipr, name)
        if idx is not None:
            with contextlib.suppress(netlink().NetlinkError):
                ipr.link("del", index=idx)


@dataclass(frozen=True)
class OwnedLink:
    name: str
    kind: str
    owner: str  # what follows "berthd:<tag>:" in the alias


def owned_links(tag: str) -> list[OwnedLink]:
    prefix = f"berthd:{tag}:"
    out: list[OwnedLink] = []
    with netlink().IPRoute() as ipr:
        for link in ipr.get_links():
            alias = link.get("ifalias") or ""
            if alias.startswith(prefix):
                linkinfo = link.get("linkinfo")
                kind = linkinfo.get("kind") if linkinfo is not None else ""
                out.append(OwnedLink(link.get("ifname"), kind or "", alias[len(prefix):]))
    return out


def create_netns(path: Path) -> None:
    """A new network namespace kept alive by a bind mount on `path` (like `ip netns add`).

    Made in the calling (worker) thread, which unshares its own network namespace, binds it on `path`
    and goes back: a fraction of a millisecond, where running `unshare` cost 5-10 ms of every start.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o711)
    if path.exists() and overlay.is_mounted(path):
        return
    path.touch(mode=0o644)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        libc.unshare(CLONE_NEWNET)
        try:
            libc.mount(b"/proc/thread-self/ns/net", os.fsencode(path), None, MS_BIND, None,
                       f"binding a network namespace on {path}")
        finally:
            _setns(own)  # cannot fail with a valid fd to our own namespace; if it did, we must not go on
    except OSError as e:
        with contextlib.suppress(OSError):
            path.unlink()
        raise RuntimeFailure(f"cannot create a network namespace: {e.strerror or e}") from None
    finally:
        os.close(own)


def delete_netns(path: Path) -> bool:
    """Unbind and remove `path`; True if a namespace was bound there. Once no process is left in it, the
    kernel destroys the namespace and, with it, every veth pair with an end inside (in the background:
    deleting each veth here instead costs 20-30 ms of every stop, the kernel's wait for readers)."""
    was_bound = path.exists() and overlay.is_mounted(path)
    with contextlib.suppress(RuntimeFailure):
        overlay.unmount(path, lazy=True)
    with contextlib.suppress(OSError):
        path.unlink()
    return was_bound


class BridgeMissing(RuntimeFailure):
    pass


@dataclass(frozen=True)
class Plug:
    """One interface of a container: a veth from `bridge` into the namespace at `netns`."""

    bridge: str
    host_name: str  # the host end, enslaved to the bridge
    ifname: str  # the container end's name inside: eth0, eth1...
    mac: str
    address: str
    prefixlen: int
    gateway: str | None  # a default route through this interface; None for none
    alias: str
    address6: str | None = None  # a dual-stack network's
    prefixlen6: int = 64
    gateway6: str | None = None  # an IPv6 default route through this interface
    link_local: tuple[str, ...] = ()  # extra link-local addresses asked for (IPAMConfig.LinkLocalIPs)
    mtu: int = 0  # 0: the kernel's default


_bridge_index: dict[str, int] = {}  # by name: a bridge made again gets a new index, never an old one


def plug(netns: Path, p: Plug) -> None:
    """Two batches of requests, one in each namespace: the veth pair made with the host end enslaved to
    the bridge and up, its alias and hairpin mode set, the container end made inside the namespace under
    its final name and MAC; then, inside, lo up and the container end's addresses, state and routes."""
    laps = Laps()
    with rtnl.Socket() as host:
        laps.mark("socket")
        peer = _host_end(host, netns, p)
        laps.mark("veth")
    try:
        with _inside(netns):  # one entry for the sysctl and the socket
            if p.address6:
                _set_sysctl(f"/proc/sys/net/ipv6/conf/{p.ifname}/disable_ipv6", "0")
            inside = rtnl.Socket()
        with inside:
            laps.mark("socket inside")
            requests = [rtnl.link("bringing lo up", index=rtnl.LOOPBACK_INDEX, up=True),
                        rtnl.address(peer, p.address, p.prefixlen)]
            if p.address6:
                requests.append(rtnl.address(peer, p.address6, p.prefixlen6))
            # As dockerd: on the interface, with the whole link-local prefix.
            requests += [rtnl.address(peer, local, 64 if ":" in local else 16) for local in p.link_local]
            requests.append(rtnl.link(f"bringing {p.ifname} up", index=peer, up=True))
            requests += [rtnl.default_route(peer, gateway) for gateway in (p.gateway, p.gateway6) if gateway]
            inside.send(*requests)
            laps.mark("addresses and routes")
    except rtnl.NetlinkError as e:
        delete_link(p.host_name)
        raise RuntimeFailure(f"cannot set up {p.ifname} of a container: {e.strerror}") from None
    except BaseException:
        delete_link(p.host_name)
        raise
    log.debug("plugged %s: %s", p.ifname, laps)


def _host_end(host: rtnl.Socket, netns: Path, p: Plug) -> int:
    """The veth pair of `p`, host end on the bridge; the index of its container end, inside."""
    for attempt in range(2):
        bridge = _bridge_index.get(p.bridge)
        try:
            if bridge is None:
                bridge = _bridge_index[p.bridge] = rtnl.link_index(host.send(rtnl.get_link(p.bridge))[0])
            fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                # Hairpin: a container reaching its own published port through the host is DNATed back to
                # itself, and the bridge must be allowed to send that frame out of the port it came in by.
                # The batch looks the bridge up again: an index gone stale fails the veth's creation.
                made = host.send(rtnl.get_link(p.bridge),
                                 rtnl.veth(p.host_name, p.ifname, p.mac, fd, master=bridge, mtu=p.mtu),
                                 rtnl.bridge_port(p.host_name, p.alias, hairpin=True), rtnl.get_link(p.host_name))
            finally:
                os.close(fd)
            if rtnl.link_index(made[0]) == bridge:
                return rtnl.peer_index(made[3])
        except rtnl.NetlinkError as e:
            if e.position == 2:  # the veth is there, on the bridge: only its hairpin mode was refused
                log.warning("no hairpin mode on %s (a container cannot reach its own published port): %s",
                            p.host_name, e)
                made = host.send(rtnl.bridge_port(p.host_name, p.alias, hairpin=False), rtnl.get_link(p.host_name))
                return rtnl.peer_index(made[1])
            delete_link(p.host_name)  # whatever of it was made
            _bridge_index.pop(p.bridge, None)
            if e.missing and e.position == 0:
                raise BridgeMissing(f"bridge {p.bridge} is missing") from None
            if attempt or e.position != 1:
                raise RuntimeFailure(f"cannot plug {p.ifname} of a container into {p.bridge}: {e.strerror}") from None
            continue  # the bridge may have been made again since its index was read
        delete_link(p.host_name)
        _bridge_index.pop(p.bridge, None)
    raise RuntimeFailure(f"cannot plug {p.ifname} of a container into {p.bridge}: it keeps being made again")


def unplug(host_name: str) -> None:
    """Deleting one end of a veth pair deletes the other, inside the container too."""
    delete_link(host_name)


def set_default_route(netns: Path, ifname: str, gateway: str | None) -> None:
    with netns_route(netns) as ns:
        idx = find_link(ns, ifname)
        if gateway and idx is not None:
            ns.route("replace", dst="0.0.0.0/0", gateway=gateway, oif=idx)


def ns_ifnames(netns: Path) -> list[str]:
    with netns_route(netns) as ns:
        return [str(link.get("ifname")) for link in ns.get_links()]


def host_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 destination routed or assigned on the host (any table): what a new subnet must avoid."""
    out: list[ipaddress.IPv4Network] = []
    with netlink().IPRoute() as ipr:
        for route in ipr.get_routes(family=2, table=254):
            dst = route.get("dst")
            if dst:
                out.append(ipaddress.IPv4Network(f"{dst}/{route['dst_len']}", strict=False))
        for addr in ipr.get_addr(family=2):
            out.append(ipaddress.IPv4Network(f"{addr.get('address')}/{addr['prefixlen']}", strict=False))
    return out
