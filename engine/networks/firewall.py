"""NAT, forwarding and isolation rules, in chains of berthd's own.

The rules are a pure function of the networks and published ports (`rules()`), written whole
with one `iptables-restore --noflush` per change: declaring a chain there flushes it, so each
write replaces berthd's chains atomically and stale rules (after a crash, say) cannot survive a
sync. The built-in chains only get one jump each, inserted first: a stock dockerd sets the
FORWARD policy to DROP, so nothing here relies on a default policy.

iptables is used whichever backend it has (nft or legacy): that is the host's choice, and the
rules must sit in the same tables as other engines' (an accept in a separate nft table would
not override a drop in iptables' FORWARD).

IPv6 gets the same chains through ip6tables (`rules6()`): the same isolation and forwarding for
every bridge, and masquerade for dual-stack networks. Published ports stay IPv4 (no IPv6 DNAT).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import RuntimeFailure

log = logging.getLogger(__name__)

JUMP_RECHECK = 30.0  # seconds


@dataclass(frozen=True)
class NetworkRules:
    bridge: str
    subnet: str
    internal: bool = False
    icc: bool = True  # containers on the network may talk to each other
    masquerade: bool = True
    dns: bool = False  # the embedded DNS responder listens on the gateway
    subnet6: str = ""  # a dual-stack network's IPv6 subnet


@dataclass(frozen=True)
class PortMapping:
    proto: str  # tcp or udp
    host_ip: str  # "" for every address
    host_port: int
    container_ip: str
    container_port: int


@dataclass
class FirewallState:
    networks: list[NetworkRules] = field(default_factory=list)
    mappings: list[PortMapping] = field(default_factory=list)


@dataclass(frozen=True)
class Chains:
    """This berthd's chain names; a test berthd gets its own set."""

    prefix: str

    @property
    def forward(self) -> str:
        return f"{self.prefix}-FWD"

    @property
    def isolate(self) -> str:
        return f"{self.prefix}-ISO"

    @property
    def input(self) -> str:
        return f"{self.prefix}-IN"

    @property
    def prerouting(self) -> str:
        return f"{self.prefix}-PRE"

    @property
    def output(self) -> str:
        return f"{self.prefix}-OUT"

    @property
    def postrouting(self) -> str:
        return f"{self.prefix}-POST"

    def jumps(self) -> list[tuple[str, str, list[str]]]:
        """(table, built-in chain, rule) for the one jump into each of ours."""
        local = ["-m", "addrtype", "--dst-type", "LOCAL"]
        return [
            ("filter", "FORWARD", ["-j", self.forward]),
            ("filter", "INPUT", ["-j", self.input]),
            ("nat", "PREROUTING", [*local, "-j", self.prerouting]),
            ("nat", "OUTPUT", [*local, "-j", self.output]),
            ("nat", "POSTROUTING", ["-j", self.postrouting]),
        ]


def _forwarding(chains: Chains, n: NetworkRules) -> tuple[list[str], list[str]]:
    """The isolation and forward rules of one bridge: the same for IPv4 and IPv6."""
    b = n.bridge
    iso = [f"-A {chains.isolate} -o {b} -j DROP"]
    # Traffic leaving a network for another of ours is dropped (Docker's isolation).
    fwd = [f"-A {chains.forward} -i {b} ! -o {b} -j {chains.isolate}",
           f"-A {chains.forward} -i {b} -o {b} -j {'ACCEPT' if n.icc else 'DROP'}"]
    if n.internal:
        fwd.append(f"-A {chains.forward} -i {b} -j DROP")
        fwd.append(f"-A {chains.forward} -o {b} -j DROP")
    else:
        fwd.append(f"-A {chains.forward} -o {b} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
        fwd.append(f"-A {chains.forward} -o {b} -m conntrack --ctstate DNAT -j ACCEPT")
        fwd.append(f"-A {chains.forward} -i {b} -j ACCEPT")
        fwd.append(f"-A {chains.forward} -o {b} -j DROP")
    return iso, fwd


def _document(chains: Chains, iso: list[str], fwd: list[str], inp: list[str], nat_pre: list[str],
              nat_out: list[str], nat_post: list[str]) -> str:
    lines = ["*filter", f":{chains.forward} - [0:0]", f":{chains.isolate} - [0:0]", f":{chains.input} - [0:0]",
             *iso, *fwd, *inp, "COMMIT",
             "*nat", f":{chains.prerouting} - [0:0]", f":{chains.output} - [0:0]", f":{chains.postrouting} - [0:0]",
             *nat_pre, *nat_out, *nat_post, "COMMIT", ""]
    return "\n".join(lines)


def rules(chains: Chains, state: FirewallState) -> str:
    """The iptables-restore input that makes our chains say exactly what `state` needs."""
    fwd: list[str] = []
    iso: list[str] = []
    inp: list[str] = []
    nat_pre: list[str] = []
    nat_post: list[str] = []
    for n in state.networks:
        b = n.bridge
        n_iso, n_fwd = _forwarding(chains, n)
        iso += n_iso
        fwd += n_fwd
        if not n.internal and n.masquerade:
            nat_post.append(f"-A {chains.postrouting} -s {n.subnet} ! -o {b} -j MASQUERADE")
        # After a DNAT from 127.0.0.1 the container could not answer a loopback source.
        nat_post.append(f"-A {chains.postrouting} -s 127.0.0.0/8 -o {b} -j MASQUERADE")
        if not n.internal:  # (an internal network publishes nothing)
            # Hairpin: a container reaching a published port of its own network through the host's
            # address is answered via the host, not straight back to a caller expecting the host.
            nat_post.append(f"-A {chains.postrouting} -s {n.subnet} -o {b} -m conntrack --ctstate DNAT"
                            " -j MASQUERADE")
        if n.dns:
            for proto in ("udp", "tcp"):
                inp.append(f"-A {chains.input} -i {b} -p {proto} --dport 53 -j ACCEPT")
    for m in state.mappings:
        dst = f" -d {m.host_ip}" if m.host_ip else ""
        nat_pre.append(f"-A {chains.prerouting} -p {m.proto}{dst} --dport {m.host_port}"
                       f" -j DNAT --to-destination {m.container_ip}:{m.container_port}")
    nat_out = [line.replace(f"-A {chains.prerouting} ", f"-A {chains.output} ", 1) for line in nat_pre]
    return _document(chains, iso, fwd, inp, nat_pre, nat_out, nat_post)


def rules6(chains: Chains, state: FirewallState) -> str:
    """The ip6tables-restore input: every bridge isolated as in IPv4 (so IPv6 cannot go round the
    isolation), dual-stack networks masqueraded on their way out."""
    fwd: list[str] = []
    iso: list[str] = []
    nat_post: list[str] = []
    for n in state.networks:
        n_iso, n_fwd = _forwarding(chains, n)
        iso += n_iso
        fwd += n_fwd
        if n.subnet6 and not n.internal and n.masquerade:
            nat_post.append(f"-A {chains.postrouting} -s {n.subnet6} ! -o {n.bridge} -j MASQUERADE")
    return _document(chains, iso, fwd, [], [], [], nat_post)


@dataclass(frozen=True)
class _Family:
    """One address family's tools and rules."""

    name: str
    tool: str  # iptables or ip6tables
    restore: str  # its -restore
    render: Callable[[Chains, FirewallState], str]


class Firewall:
    """Writes `rules()` with iptables and `rules6()` with ip6tables; without iptables it logs once
    and does nothing (without ip6tables, IPv6 goes unfiltered: logged too)."""

    def __init__(self, chains: Chains, iptables: str | None = None, ip6tables: str | None = None) -> None:
        self.chains = chains
        self.iptables = iptables if iptables is not None else (shutil.which("iptables") or "")
        # No IPv4 firewall (a test's stand-in, a host without iptables): no IPv6 one either, unless asked.
        v6 = ip6tables if ip6tables is not None else (shutil.which("ip6tables") or "" if self.iptables else "")
        self.families = [f for f in (_family("IPv4", self.iptables, rules), _family("IPv6", v6, rules6))
                         if f.tool and f.restore]
        if not any(f.name == "IPv4" for f in self.families):
            log.warning("iptables not found: no NAT, published ports or network isolation")
        elif self.iptables and not any(f.name == "IPv6" for f in self.families) and ip6tables is None:
            log.warning("ip6tables not found: no IPv6 masquerade or isolation")
        self._jumps_checked = -JUMP_RECHECK

    @property
    def available(self) -> bool:
        return any(f.name == "IPv4" for f in self.families)

    def _run(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([*args], input=stdin, capture_output=True, text=True, timeout=60)
        if check and out.returncode != 0:
            raise RuntimeFailure(f"{' '.join(args[:3])} failed: {out.stderr.strip()}")
        return out

    def sync(self, state: FirewallState, check_jumps: bool = False) -> None:
        if not self.available:
            return
        for family in self.families:
            self._run(family.restore, "-w", "--noflush", stdin=family.render(self.chains, state))
        # Checking the jumps costs a process each: done at start and then at most every JUMP_RECHECK
        # seconds, which puts them back soon after someone flushes the built-in chains.
        now = time.monotonic()
        if not check_jumps and now - self._jumps_checked < JUMP_RECHECK:
            return
        self._jumps_checked = now
        for family in self.families:
            for table, chain, rule in self.chains.jumps():
                if self._run(family.tool, "-w", "-t", table, "-C", chain, *rule, check=False).returncode != 0:
                    self._run(family.tool, "-w", "-t", table, "-I", chain, "1", *rule)

    def teardown(self) -> None:
        """Remove our jumps and chains: nothing of this berthd's stays in the host's tables."""
        c = self.chains
        for family in self.families:
            for table, chain, rule in c.jumps():
                for _ in range(20):  # bounded: a jump inserted twice by a crash is removed twice
                    if self._run(family.tool, "-w", "-t", table, "-D", chain, *rule, check=False).returncode != 0:
                        break
            for table, names in (("filter", (c.forward, c.isolate, c.input)),
                                 ("nat", (c.prerouting, c.output, c.postrouting))):
                for name in names:
                    self._run(family.tool, "-w", "-t", table, "-F", name, check=False)
                for name in names:
                    self._run(family.tool, "-w", "-t", table, "-X", name, check=False)

    def leftovers(self) -> list[str]:
        """Any rule or chain of ours still in the host's tables, either family (what tests check is empty)."""
        found: list[str] = []
        for family in self.families:
            for table in ("filter", "nat"):
                out = self._run(family.tool, "-w", "-t", table, "-S", check=False).stdout
                found += [f"{family.name} {line}" for line in out.splitlines() if f"{self.chains.prefix}-" in line]
        return found


def _family(name: str, tool: str, render: Callable[[Chains, FirewallState], str]) -> _Family:
    return _Family(name, tool, (shutil.which(f"{Path(tool).name}-restore") or "") if tool else "", render)
