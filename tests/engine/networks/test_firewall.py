"""The firewall's rules are a function of networks and ports; applying them and tearing down
leaves the host's tables as they were."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

from engine.networks.firewall import Chains, Firewall, FirewallState, NetworkRules, PortMapping, rules, rules6


def _state() -> FirewallState:
    return FirewallState(
        networks=[NetworkRules("br-a", "172.30.0.0/16", dns=True),
                  NetworkRules("br-i", "172.31.0.0/16", internal=True)],
        mappings=[PortMapping("tcp", "127.0.0.1", 8080, "172.30.0.2", 80),
                  PortMapping("udp", "", 5353, "172.30.0.2", 53)])


@pytest.mark.unit
def test_rules_isolate_nat_and_publish() -> None:
    text = rules(Chains("BT"), _state())
    lines = text.splitlines()
    assert lines[0] == "*filter" and ":BT-FWD - [0:0]" in lines and lines[-1] == "COMMIT"
    # leaving a network for another of ours goes through isolation first
    assert lines.index("-A BT-FWD -i br-a ! -o br-a -j BT-ISO") < lines.index("-A BT-FWD -i br-a -j ACCEPT")
    assert "-A BT-ISO -o br-i -j DROP" in lines
    # internal: no way out, no way in, no masquerade
    assert "-A BT-FWD -i br-i -j DROP" in lines and "-A BT-FWD -o br-i -j DROP" in lines
    assert not any("172.31.0.0/16" in line and "MASQUERADE" in line for line in lines)
    assert "-A BT-POST -s 172.30.0.0/16 ! -o br-a -j MASQUERADE" in lines
    assert "-A BT-PRE -p tcp -d 127.0.0.1 --dport 8080 -j DNAT --to-destination 172.30.0.2:80" in lines
    assert "-A BT-OUT -p udp --dport 5353 -j DNAT --to-destination 172.30.0.2:53" in lines
    # hairpin: a container reaching its network's published port through the host is answered via it
    assert "-A BT-POST -s 172.30.0.0/16 -o br-a -m conntrack --ctstate DNAT -j MASQUERADE" in lines
    assert "-A BT-IN -i br-a -p udp --dport 53 -j ACCEPT" in lines
    assert not any("br-i" in line and "--dport 53" in line for line in lines)


@pytest.mark.integration
def test_sync_then_teardown_leaves_nothing() -> None:
    if os.geteuid() != 0 or not shutil.which("iptables"):
        pytest.skip("needs root and iptables")
    fw = Firewall(Chains("BERTH-t" + uuid.uuid4().hex[:6]))
    try:
        fw.sync(_state())
        fw.sync(_state())  # idempotent: one jump per built-in chain, not two
        saved = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
        assert saved.count(f"-j {fw.chains.forward}") == 1
        assert "--to-destination 172.30.0.2:80" in saved
        fw.sync(FirewallState())  # everything gone: the chains empty out
        assert not [line for line in fw.leftovers() if " -A BERTH-t" in line]
    finally:
        fw.teardown()
    assert fw.leftovers() == []


def _dual_stack() -> FirewallState:
    return FirewallState(networks=[NetworkRules("br-6", "172.30.0.0/16", dns=True, subnet6="fd42:1:2::/64"),
                                   NetworkRules("br-4", "172.31.0.0/16"),
                                   NetworkRules("br-q", "172.29.0.0/16", masquerade=False, subnet6="fd42:1:3::/64")],
                         mappings=[PortMapping("tcp", "", 8080, "172.30.0.2", 80)])


@pytest.mark.unit
def test_ipv6_rules_isolate_every_bridge_and_masquerade_dual_stack_ones() -> None:
    lines = rules6(Chains("BT"), _dual_stack()).splitlines()
    # every bridge is isolated in IPv6 too, so IPv6 cannot go round the IPv4 isolation
    for bridge in ("br-6", "br-4", "br-q"):
        assert f"-A BT-ISO -o {bridge} -j DROP" in lines
        assert f"-A BT-FWD -i {bridge} ! -o {bridge} -j BT-ISO" in lines
    assert "-A BT-POST -s fd42:1:2::/64 ! -o br-6 -j MASQUERADE" in lines
    assert not any("fd42:1:3::/64" in line for line in lines)  # enable_ip_masquerade=false
    # nothing of IPv4's: no DNAT to IPv4 addresses, no loopback masquerade, no IPv4 subnet
    assert not any("-j DNAT" in line or "127.0.0.0/8" in line or "172." in line for line in lines)
    assert lines[0] == "*filter" and lines[-1] == "COMMIT"


@pytest.mark.integration
def test_ipv6_sync_then_teardown_leaves_nothing() -> None:
    if os.geteuid() != 0 or not shutil.which("ip6tables"):
        pytest.skip("needs root and ip6tables")
    fw = Firewall(Chains("BERTH-t" + uuid.uuid4().hex[:6]))
    try:
        fw.sync(_dual_stack())
        saved = subprocess.run(["ip6tables-save"], capture_output=True, text=True, check=True).stdout
        assert saved.count(f"-j {fw.chains.forward}") == 1
        assert f"-A {fw.chains.postrouting} -s fd42:1:2::/64 ! -o br-6 -j MASQUERADE" in saved
    finally:
        fw.teardown()
    assert fw.leftovers() == []
    assert fw.chains.prefix not in subprocess.run(["ip6tables-save"], capture_output=True, text=True).stdout
