"""The firewall's rules are a function of networks and ports; applying them and tearing down
leaves the host's tables as they were."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import uuid

import pytest

from engine.networks.firewall import (
    Chains,
    Firewall,
    FirewallState,
    NetworkRules,
    PortMapping,
    changes,
    rules,
    rules6,
    ruleset,
)


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


def _many(count: int, internal_from: int = 10**6) -> FirewallState:
    return FirewallState(networks=[NetworkRules(f"br-{i}", f"10.{128 + i // 256}.{i % 256}.0/24", dns=True,
                                                internal=i >= internal_from) for i in range(count)])


def _apply(old: list[str], document_text: str) -> list[str]:
    """What a chain's rules become under an iptables-restore --noflush document (declare flushes, -A
    appends, -D deletes the first rule that matches)."""
    rules_ = list(old)
    for line in document_text.splitlines():
        if line.startswith(":"):
            rules_ = []
        elif line.startswith("-A "):
            rules_.append(line)
        elif line.startswith("-D "):
            rules_.remove("-A" + line[2:])
    return rules_


@pytest.mark.unit
def test_changes_append_a_new_network_and_delete_a_removed_one() -> None:
    c = Chains("BT")
    hundred, more = ruleset(c, _many(100)), ruleset(c, _many(101))
    edits = changes(hundred, more).splitlines()
    # only the new network's rules, appended: no chain declared (which would flush and rewrite it)
    assert not any(line.startswith(":") for line in edits)
    assert all("br-100" in line for line in edits if line.startswith("-"))
    assert "-A BT-FWD -i br-100 ! -o br-100 -j BT-ISO" in edits
    fewer = FirewallState(networks=[n for n in _many(100).networks if n.bridge != "br-42"])
    edits = changes(hundred, ruleset(c, fewer)).splitlines()
    assert [line for line in edits if line.startswith("-")] == [
        line.replace("-A", "-D", 1) for lines in ruleset(c, FirewallState(networks=[
            n for n in _many(100).networks if n.bridge == "br-42"])).values() for line in lines]
    assert changes(hundred, ruleset(c, _many(100))) == ""


@pytest.mark.unit
def test_changes_leave_every_chain_as_a_whole_write_would() -> None:
    """Whatever the change, the chains end as `new` says, in its order (an insertion in the middle
    rewrites that chain)."""
    c = Chains("BT")
    states = [_many(5), _many(8), _many(3), FirewallState(networks=_many(8).networks[::-1]), _many(8, internal_from=4),
              _state(), FirewallState(), _many(2)]
    for old_state, new_state in itertools.pairwise(states):
        old, new = ruleset(c, old_state), ruleset(c, new_state)
        edits = changes(old, new)
        for key, wanted in new.items():
            table, chain = key
            section = edits.partition(f"*{table}\n")[2].partition("COMMIT")[0]
            mine = "\n".join(line for line in section.splitlines() if line.split(" ")[:2] in (
                [f":{chain}", "-"], ["-A", chain], ["-D", chain]) or line.startswith(f":{chain} "))
            assert _apply(old[key], mine) == wanted, (key, edits)


@pytest.mark.integration
def test_incremental_syncs_leave_what_a_whole_write_leaves() -> None:
    if os.geteuid() != 0 or not shutil.which("iptables"):
        pytest.skip("needs root and iptables")
    fw = Firewall(Chains("BERTH-t" + uuid.uuid4().hex[:6]))
    whole = Firewall(fw.chains)

    def ours() -> list[str]:
        return [line for line in fw.leftovers() if " -A " in line]

    try:
        fw.sync(_many(6), check_jumps=True)
        for state in (_many(7), _many(4), _state(), _many(9, internal_from=5)):
            fw.sync(state)
            incremental = ours()
            whole.sync(state, check_jumps=True)  # a berthd starting now would write this
            assert ours() == incremental
        # someone flushed our chains: the next difference (a delete) fails to apply, a whole write follows
        fw.sync(_many(9, internal_from=5))
        for family in fw.families:
            subprocess.run([family.tool, "-w", "-F", fw.chains.forward], check=True)
        fw.sync(_many(8, internal_from=5))
        after_flush = ours()
        whole.sync(_many(8, internal_from=5), check_jumps=True)
        assert ours() == after_flush and any(f"-A {fw.chains.forward} -i br-2 " in line for line in after_flush)
    finally:
        fw.teardown()
    assert fw.leftovers() == []
