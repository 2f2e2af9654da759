"""Network create requests and endpoint settings, parsed once: dockerd's words for wrong types,
one subnet per family kept in the request's spelling, MACs, links and link-local addresses checked."""

from __future__ import annotations

import ipaddress
import sqlite3
from pathlib import Path

import pytest

from engine.errors import Forbidden, InvalidArgument, NotFound
from engine.networks.spec import NOT_A_MANAGER, SwarmScope, link_target, parse_create, parse_endpoint
from engine.networks.store import NetworkStore
from engine.state.db import Database

pytestmark = pytest.mark.unit


def test_pools_per_family_keep_the_requests_spelling() -> None:
    spec = parse_create({"Name": "n", "EnableIPv6": True, "IPAM": {"Config": [
        {"Subnet": "2001:389::/64", "IPRange": "2001:389::0/96", "Gateway": "2001:389::ffff"},
        {"Subnet": "172.28.0.0/16", "AuxiliaryAddresses": {"a": "172.28.1.5"}}]}})
    assert spec.ipv6 is not None and spec.ipv6.ip_range == ipaddress.IPv6Network("2001:389::/96")
    assert spec.ipv4 is not None and spec.ipv4.gateway is None and spec.ipv4.aux == {
        "a": ipaddress.IPv4Address("172.28.1.5")}
    assert spec.shown == [{"Subnet": "2001:389::/64", "IPRange": "2001:389::0/96", "Gateway": "2001:389::ffff"},
                          {"Subnet": "172.28.0.0/16", "AuxiliaryAddresses": {"a": "172.28.1.5"}}]
    with pytest.raises(InvalidArgument, match="one IPv4 subnet"):
        parse_create({"Name": "n", "IPAM": {"Config": [{"Subnet": "10.1.0.0/24"}, {"Subnet": "10.2.0.0/24"}]}})
    with pytest.raises(InvalidArgument, match="not an IPv6 address"):
        parse_create({"Name": "n", "IPAM": {"Config": [{"Subnet": "fd00:1::/64", "Gateway": "10.0.0.1"}]}})
    with pytest.raises(InvalidArgument, match="needs a subnet"):
        parse_create({"Name": "n", "IPAM": {"Config": [{"Gateway": "10.0.0.1"}]}})


def test_refusals_in_dockerds_words() -> None:
    with pytest.raises(InvalidArgument, match=r"cannot unmarshal array into Go struct field NetworkCreateRequest"
                                              r"\.Labels of type map\[string\]string"):
        parse_create({"Name": "n", "Labels": ["a=b"]})
    with pytest.raises(InvalidArgument, match=r"cannot unmarshal string into Go struct field NetworkCreateRequest"
                                              r"\.Internal of type bool"):
        parse_create({"Name": "n", "Internal": "yes"})
    with pytest.raises(Forbidden, match='only one instance of "host" network is allowed'):
        parse_create({"Name": "n", "Driver": "host"})
    with pytest.raises(Forbidden, match=NOT_A_MANAGER.split(".")[0]):
        parse_create({"Name": "n", "Driver": "overlay"})
    with pytest.raises(Forbidden, match="cannot create a swarm scoped network when swarm is not active"):
        parse_create({"Name": "n", "Scope": "swarm"})
    with pytest.raises(NotFound, match='plugin "macvlan" not found'):
        parse_create({"Name": "n", "Driver": "macvlan"})
    # the bridge options dockerd parses must parse; Go's booleans are accepted, others are kept
    spec = parse_create({"Name": "n", "Options": {"com.docker.network.bridge.enable_icc": "F", "x.y": "z"}})
    assert spec.options == {"com.docker.network.bridge.enable_icc": "F", "x.y": "z"}
    for key, value in (("com.docker.network.driver.mtu", "abc"), ("com.docker.network.driver.mtu", "10"),
                       ("com.docker.network.bridge.enable_ip_masquerade", "maybe"),
                       ("com.docker.network.bridge.host_binding_ipv4", "nowhere"),
                       ("com.docker.network.bridge.name", "a-name-much-too-long")):
        with pytest.raises(InvalidArgument):
            parse_create({"Name": "n", "Options": {key: value}})


def test_swarm_networks_need_a_swarm_and_have_its_scope() -> None:
    swarm = SwarmScope((ipaddress.IPv4Network("10.0.0.0/8"),), 24)
    assert next(swarm.candidates()) == ipaddress.IPv4Network("10.0.0.0/24")
    overlay = parse_create({"Name": "n", "Driver": "overlay", "Attachable": True}, swarm)
    assert (overlay.driver, overlay.scope, overlay.attachable, overlay.ingress) == ("overlay", "swarm", True, False)
    assert parse_create({"Name": "n", "Driver": "overlay", "Ingress": True}, swarm).ingress
    assert parse_create({"Name": "n", "Scope": "swarm"}, swarm).scope == "swarm"
    assert parse_create({"Name": "n", "Scope": "local"}, swarm).scope == "local"
    with pytest.raises(Forbidden, match="cannot downgrade network scope for overlay networks"):
        parse_create({"Name": "n", "Driver": "overlay", "Scope": "local"}, swarm)
    with pytest.raises(Forbidden, match="Ingress network can only be global scope network"):
        parse_create({"Name": "n", "Ingress": True}, swarm)
    with pytest.raises(InvalidArgument, match="invalid scope"):
        parse_create({"Name": "n", "Scope": "galaxy"}, swarm)


def test_endpoint_settings() -> None:
    spec = parse_endpoint({"Aliases": ["foo"], "Links": ["/upstream:bar", "solo"], "MacAddress": "02:42:AC:11:00:02",
                           "DriverOpts": {"k": "v"}, "IPAMConfig": {"IPv4Address": "10.0.0.5",
                                                                    "IPv6Address": "fd00::5",
                                                                    "LinkLocalIPs": ["169.254.8.8", "fe80::8"]}})
    assert (spec.mac, spec.driver_opts, str(spec.ipv4), str(spec.ipv6)) == (
        "02:42:AC:11:00:02", {"k": "v"}, "10.0.0.5", "fd00::5")
    assert [link_target(link) for link in spec.links] == [("upstream", "bar"), ("solo", "solo")]
    assert parse_endpoint(None, mac="02:42:ac:11:00:09").mac == "02:42:ac:11:00:09"  # Config.MacAddress
    assert parse_endpoint({"MacAddress": "02:42:ac:11:00:03"}, mac="02:42:ac:11:00:09").mac == "02:42:ac:11:00:03"
    for bad in ({"MacAddress": "zz"}, {"IPAMConfig": {"LinkLocalIPs": ["10.0.0.1"]}},
                {"IPAMConfig": {"IPv6Address": "10.0.0.1"}}, {"Links": ["a:b:c"]}, {"Aliases": "x"}):
        with pytest.raises(InvalidArgument):
            parse_endpoint(bad)


def test_an_older_database_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "berth.db"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE networks (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, driver TEXT NOT NULL,
            subnet TEXT NOT NULL DEFAULT '', gateway TEXT NOT NULL DEFAULT '', ip_range TEXT NOT NULL DEFAULT '',
            internal INTEGER NOT NULL DEFAULT 0, attachable INTEGER NOT NULL DEFAULT 0,
            labels TEXT NOT NULL DEFAULT '{}', options TEXT NOT NULL DEFAULT '{}', bridge TEXT NOT NULL DEFAULT '',
            predefined INTEGER NOT NULL DEFAULT 0, created_ns INTEGER NOT NULL, last_ip TEXT NOT NULL DEFAULT '');
        CREATE TABLE endpoints (network_id TEXT NOT NULL, container_id TEXT NOT NULL, endpoint_id TEXT NOT NULL,
            ip TEXT, mac TEXT NOT NULL DEFAULT '', static_ip TEXT NOT NULL DEFAULT '',
            aliases TEXT NOT NULL DEFAULT '[]', position INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (network_id, container_id), UNIQUE (network_id, ip));
        INSERT INTO networks (id, name, driver, subnet, gateway, bridge, created_ns)
            VALUES ('n1', 'old', 'bridge', '10.9.0.0/24', '10.9.0.1', 'br-old', 1);
        INSERT INTO endpoints (network_id, container_id, endpoint_id, ip, mac) VALUES ('n1', 'c1', 'e1', '10.9.0.2',
            '02:42:0a:09:00:02');
    """)
    old.close()
    store = NetworkStore(Database(path))
    n = store.resolve("old")
    assert (n.enable_ipv6, n.subnet6, n.ipam_options, n.ipam_config, n.config_only) == (False, None, None, None, False)
    ep = store.endpoint("n1", "c1")
    assert ep is not None and (str(ep.ip), ep.ip6, ep.static_mac, ep.links, ep.driver_opts) == (
        "10.9.0.2", None, "", [], None)
