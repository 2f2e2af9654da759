"""Subnets avoid what the host routes; addresses are never handed out twice, restarts included."""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path

import pytest

from engine.errors import Conflict, InvalidArgument
from engine.networks.ipam import AddressPool, mac_for, parse_subnet, parse_subnet6, pick_subnet
from engine.networks.store import Endpoint, Network, NetworkStore
from engine.state.db import Database

pytestmark = pytest.mark.unit
N = ipaddress.IPv4Network
A = ipaddress.IPv4Address


def test_pick_subnet_skips_routed_and_taken_ranges() -> None:
    assert pick_subnet([]) == N("172.17.0.0/16")
    assert pick_subnet([N("0.0.0.0/0"), N("172.17.5.0/24"), N("172.18.0.0/16")]) == N("172.19.0.0/16")
    assert pick_subnet([N("172.16.0.0/12")]) == N("192.168.0.0/20")
    with pytest.raises(Conflict, match="give a --subnet"):
        pick_subnet([N("172.16.0.0/12"), N("192.168.0.0/16")])


def test_parse_subnet_explains() -> None:
    assert parse_subnet("10.1.0.0/16") == N("10.1.0.0/16")
    with pytest.raises(InvalidArgument, match="host bits set"):
        parse_subnet("10.1.2.3/16")
    with pytest.raises(InvalidArgument, match="too small"):
        parse_subnet("10.1.2.0/31")
    with pytest.raises(InvalidArgument, match="IPv4"):
        parse_subnet("fd00::/64")


def test_allocation_skips_reserved_follows_cursor_and_wraps() -> None:
    pool = AddressPool(N("10.0.0.0/29"), A("10.0.0.1"))
    assert pool.allocate(set()) == A("10.0.0.2")
    assert pool.allocate(set(), after=A("10.0.0.2")) == A("10.0.0.3")
    assert pool.allocate({A("10.0.0.2")}, after=A("10.0.0.6")) == A("10.0.0.3")  # wraps past broadcast
    with pytest.raises(Conflict, match="no available"):
        pool.allocate({A(f"10.0.0.{i}") for i in range(2, 7)})
    ranged = AddressPool(N("10.0.0.0/24"), A("10.0.0.254"), N("10.0.0.128/25"))
    assert ranged.allocate(set()) == A("10.0.0.128")
    with pytest.raises(Conflict, match="in use"):
        pool.static(A("10.0.0.4"), {A("10.0.0.4")})
    with pytest.raises(InvalidArgument, match="reserved"):
        pool.static(A("10.0.0.1"), set())
    with pytest.raises(InvalidArgument, match="not in subnet"):
        AddressPool(N("10.0.0.0/24"), A("10.0.1.1")).check()
    assert mac_for(A("172.17.0.2")) == "02:42:ac:11:00:02"


def test_store_never_hands_an_address_out_twice_across_restarts(tmp_path: Path) -> None:
    db_path = tmp_path / "berth.db"
    store = NetworkStore(Database(db_path))
    net = Network(id=secrets.token_hex(32), name="n", driver="bridge", created_ns=1, subnet=N("10.9.0.0/29"),
                  gateway=A("10.9.0.1"), bridge="br-x")
    store.insert(net)

    def endpoint(cid: str, static: str = "") -> Endpoint:
        ep = Endpoint(net.id, cid, secrets.token_hex(4), None, "", static, [], 0)
        store.add_endpoint(ep)
        return ep

    first = store.assign_address(net, endpoint("a"))
    again = store.endpoint(net.id, "a")
    assert again is not None and store.assign_address(net, again) == first  # stable for the same container
    store.remove_endpoint(net.id, "a")
    # a fresh store on the same file: what berthd sees after a restart
    store = NetworkStore(Database(db_path))
    second = store.assign_address(net, endpoint("b"))
    assert second != first  # the cursor moves on: a just-released address is not reused at once
    static = store.assign_address(net, endpoint("c", "10.9.0.5"))
    assert static == A("10.9.0.5")
    seen = {second, static}
    for cid in ("d", "e"):
        seen.add(store.assign_address(net, endpoint(cid)))
    assert len(seen) == 4
    with pytest.raises(Conflict):  # c runs with it
        store.assign_address(net, endpoint("f", "10.9.0.5"), running={"c", "d", "e"})
    # c stopped: a container asking for its static address takes it (as dockerd frees addresses at
    # stop; compose's --force-recreate starts the new container before removing the old one) ...
    store.remove_endpoint(net.id, "f")
    assert store.assign_address(net, endpoint("g", "10.9.0.5"), running={"d", "e"}) == A("10.9.0.5")
    # ... and c, started again while g runs, may not have it back
    c = store.endpoint(net.id, "c")
    assert c is not None
    with pytest.raises(Conflict, match=r"Address already in use: 10\.9\.0\.5"):
        store.assign_address(net, c, running={"d", "e", "g"})
    with pytest.raises(Conflict, match="network with name n already exists"):
        store.insert(Network(id="other", name="n", driver="bridge", created_ns=2))


def test_ipv6_pools_allocate_from_a_huge_span_and_keep_reserved_addresses() -> None:
    N6, A6 = ipaddress.IPv6Network, ipaddress.IPv6Address
    assert parse_subnet6("2001:389::0/96") == N6("2001:389::/96")  # a spelling dockerd accepts
    with pytest.raises(InvalidArgument, match="host bits"):
        parse_subnet6("fd00::1/64")
    with pytest.raises(InvalidArgument, match="not an IPv6"):
        parse_subnet6("10.0.0.0/8")
    pool = AddressPool(N6("2001:389::/64"), A6("2001:389::ffff"), N6("2001:389::/96"),
                       frozenset({A6("2001:389::2")}))
    pool.check()
    # the network address, the auxiliary one and anything used are skipped; the walk is short
    assert pool.allocate(set()) == A6("2001:389::1")
    assert pool.allocate({A6("2001:389::1")}) == A6("2001:389::3")
    assert pool.allocate(set(), after=A6("2001:389::ffff:ffff")) == A6("2001:389::1")  # wraps in the range
    assert pool.static(A6("2001:389::f00d"), set()) == A6("2001:389::f00d")
    with pytest.raises(InvalidArgument, match="reserved"):
        pool.static(A6("2001:389::2"), set())
    with pytest.raises(InvalidArgument, match="not inside"):
        AddressPool(N6("2001:389::/64"), A6("2001:389::1"), N6("2001:390::/96")).check()
    v4 = AddressPool(N("10.0.0.0/29"), A("10.0.0.1"), reserved=frozenset({A("10.0.0.2")}))
    assert v4.allocate(set()) == A("10.0.0.3")
