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


def _bridge_and_netns(tmp_path: Path) -> tuple[NetworkConfig, str, Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    tag = "t" + uuid.uuid4().hex[:7]
    config = NetworkConfig(exec_root=tmp_path, tag=tag, bridge_name="bt" + tag[1:])
    return config, tag, config.netns_dir / "c1"


def _inside(netns: Path, command: str) -> str:
    import subprocess

    return subprocess.run(["nsenter", f"--net={netns}", *command.split()], check=True, capture_output=True,
                          text=True).stdout


def test_plug_dual_stack_link_local_and_mtu(tmp_path: Path) -> None:
    """Every part of a plug lands: the host end on the bridge in hairpin mode under its alias, and inside
    the MAC, both addresses, a link-local one, the MTU, both default routes, lo up."""
    config, tag, netns = _bridge_and_netns(tmp_path)
    third = random.randrange(256)
    six = f"fd42:{random.randrange(1, 0xffff):x}:{random.randrange(1, 0xffff):x}::"
    host_name = "vb" + uuid.uuid4().hex[:10]
    try:
        links.ensure_bridge(config.bridge_name, f"198.19.{third}.1", 29, f"berthd:{tag}:net:x", f"{six}1", 64)
        links.create_netns(netns)
        links.plug(netns, links.Plug(bridge=config.bridge_name, host_name=host_name, ifname="eth0",
                                     mac="02:42:c6:13:00:02", address=f"198.19.{third}.2", prefixlen=29,
                                     gateway=f"198.19.{third}.1", alias=f"berthd:{tag}:c1:x",
                                     address6=f"{six}2", prefixlen6=64, gateway6=f"{six}1",
                                     link_local=("169.254.7.7",), mtu=1400))
        host = _inside(Path("/proc/self/ns/net"), f"ip -d link show {host_name}")
        assert f"master {config.bridge_name}" in host and "hairpin on" in host and "mtu 1400" in host
        assert f"alias berthd:{tag}:c1:x" in host
        eth0 = _inside(netns, "ip addr show eth0")
        for part in ("02:42:c6:13:00:02", f"198.19.{third}.2/29", f"{six}2/64", "169.254.7.7/16", "mtu 1400",
                     ",UP,"):
            assert part in eth0
        assert "tentative" not in _inside(netns, "ip -6 addr show eth0 scope global")
        assert f"default via 198.19.{third}.1 dev eth0" in _inside(netns, "ip route")
        assert f"default via {six}1 dev eth0" in _inside(netns, "ip -6 route")
        assert ",UP," in _inside(netns, "ip link show lo")
    finally:
        teardown(config)
    assert links.owned_links(tag) == []


def test_plug_follows_a_bridge_made_again_and_reports_one_missing(tmp_path: Path) -> None:
    config, tag, netns = _bridge_and_netns(tmp_path)
    third = random.randrange(256)

    def plug(ifname: str, last: int) -> None:
        links.plug(netns, links.Plug(bridge=config.bridge_name, host_name="vb" + uuid.uuid4().hex[:10],
                                     ifname=ifname, mac=f"02:42:c6:13:00:0{last}", address=f"198.19.{third}.{last}",
                                     prefixlen=29, gateway=None, alias=f"berthd:{tag}:c1:{ifname}"))

    try:
        links.ensure_bridge(config.bridge_name, f"198.19.{third}.1", 29, f"berthd:{tag}:net:x")
        links.create_netns(netns)
        plug("eth0", 2)
        # someone's `ip link del` and a new bridge of the same name: a new index, the old one remembered
        links.delete_link(config.bridge_name)
        links.ensure_bridge(config.bridge_name, f"198.19.{third}.1", 29, f"berthd:{tag}:net:x")
        plug("eth1", 3)
        enslaved = _inside(Path("/proc/self/ns/net"), f"ip -o link show master {config.bridge_name}")
        assert len(enslaved.splitlines()) == 1 and f"alias berthd:{tag}:c1:eth1" in _inside(
            Path("/proc/self/ns/net"), f"ip -o -d link show master {config.bridge_name}")
        links.delete_link(config.bridge_name)
        with pytest.raises(links.BridgeMissing):
            plug("eth2", 4)
        assert links.ns_ifnames(netns) == ["lo", "eth0", "eth1"]  # and no half-made eth2
        assert "c1:eth2" not in {link.owner for link in links.owned_links(tag)}
    finally:
        teardown(config)
    assert {link.owner for link in links.owned_links(tag)} == set()
