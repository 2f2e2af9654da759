"""Bridges, namespaces and veths through netlink, found again by their alias and removed."""

from __future__ import annotations

import os
import random
import uuid
from pathlib import Path

import pytest

from engine.networks import links
from engine.networks.config import NetworkConfig
from engine.networks.service import teardown

pytestmark = pytest.mark.integration


def test_bridge_netns_and_veth_then_teardown(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    tag = "t" + uuid.uuid4().hex[:7]
    config = NetworkConfig(exec_root=tmp_path, tag=tag, bridge_name="bt" + tag[1:])
    third = random.randrange(256)
    gateway, address = f"198.19.{third}.1", f"198.19.{third}.2"  # on our bridge only
    netns = config.netns_dir / "c1"
    try:
        links.ensure_bridge(config.bridge_name, gateway, 29, f"berthd:{tag}:net:x")
        links.ensure_bridge(config.bridge_name, gateway, 29, f"berthd:{tag}:net:x")  # idempotent
        links.create_netns(netns)
        links.plug(netns, links.Plug(bridge=config.bridge_name, host_name="vb" + uuid.uuid4().hex[:10],
                                     ifname="eth0", mac="02:42:c6:13:00:02", address=address, prefixlen=29,
                                     gateway=gateway, alias=f"berthd:{tag}:c1:x"))
        assert links.ns_ifnames(netns) == ["lo", "eth0"]
        owned = {(link.kind, link.owner) for link in links.owned_links(tag)}
        assert owned == {("bridge", "net:x"), ("veth", "c1:x")}
        assert Path(f"/proc/sys/net/ipv4/conf/{config.bridge_name}/route_localnet").read_text().strip() == "1"
    finally:
        teardown(config)
    assert links.owned_links(tag) == []
    assert not netns.exists()


def test_bridge_holds_its_gateways_and_no_stale_address(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    tag = "t" + uuid.uuid4().hex[:7]
    config = NetworkConfig(exec_root=tmp_path, tag=tag, bridge_name="bt" + tag[1:])
    third = random.randrange(256)
    six = f"fd42:{random.randrange(1, 0xffff):x}:{random.randrange(1, 0xffff):x}::"

    def addresses() -> set[str]:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            idx = links.find_link(ipr, config.bridge_name)
            assert idx is not None
            return {f"{a.get('address')}/{a['prefixlen']}" for a in ipr.get_addr(index=idx)
                    if not str(a.get("address")).startswith("fe80:")}

    try:
        links.ensure_bridge(config.bridge_name, f"198.19.{third}.1", 29, f"berthd:{tag}:net:x", f"{six}1", 64)
        assert addresses() == {f"198.19.{third}.1/29", f"{six}1/64"}
        # the same bridge for a network that now has another subnet (a berthd whose state was reset)
        links.ensure_bridge(config.bridge_name, f"198.19.{third}.9", 29, f"berthd:{tag}:net:x")
        assert addresses() == {f"198.19.{third}.9/29"}
    finally:
        teardown(config)
    assert links.owned_links(tag) == []
