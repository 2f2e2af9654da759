"""NAT, forwarding and isolation rules, in chains of berthd's own.

The rules are a pure function of the networks and published ports (`ruleset()`), written with one
`iptables-restore --noflush` per family and change. The first write of a berthd is whole: declaring a
chain there flushes it, so it replaces berthd's chains atomically and stale rules (after a crash, say)
cannot survive it. Later writes carry only the difference from what the previous one wrote
(`changes()`): a new network's rules appended, a removed one's deleted, a chain whose order would
change rewritten whole; the result is exactly what a whole write would give. A difference that fails
to apply (someone flushed our chains) is followed by a whole write, and so is the first write after
each check of the jumps into our chains (at most every JUMP_RECHECK seconds), so that rules removed
behind our back come back. With iptables' nft backend a whole write costs time in proportion to all
of our rules (~45 ms with 100 networks), an append ~2 ms.

The built-in chains only get one jump each, inserted first: a stock dockerd sets the
FORWARD policy to DROP, so nothing here relies on a default policy.

iptables is used whichever backend it has (nft or legacy): that is the host's choice, and the
rules must sit in the same tables as other engines' (an accept in a separate nft table would
not override a drop in iptables' FORWARD).

IPv6 gets the same chains through ip6tables (`ruleset6()`): the same isolation and forwarding for
every bridge, and masquerade for dual-stack networks. Published ports stay IPv4 (no IPv6 DNAT).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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


Ruleset = dict[tuple[str, str], list[str]]
"""(table, chain) -> that chain's rules in order, as iptables-restore lines ("-A <chain> ...")."""

TABLES = ("filter", "nat")


def _ruleset(chains: Chains, iso: list[str], fwd: list[str], inp: list[str], nat_pre: list[str],
             nat_out: list[str], nat_post: list[str]) -> Ruleset:
    return {("filter", chains.forward): fwd, ("filter", chains.isolate): iso, ("filter", chains.input): inp,
            ("nat", chains.prerouting): nat_pre, ("nat", chains.output): nat_out,
            ("nat", chains.postrouting): nat_post}


def document(rules: Ruleset) -> str:
    """The iptables-restore input that makes each chain of `rules` say exactly that (a whole write)."""
    lines: list[str] = []
    for table in TABLES:
        mine = [(chain, lines_) for (t, chain), lines_ in rules.items() if t == table]
        lines += [f"*{table}", *(f":{chain} - [0:0]" for chain, _ in mine)]
        lines += [line for _, lines_ in mine for line in lines_]
        lines.append("COMMIT")
    return "\n".join([*lines, ""])


def changes(old: Ruleset, new: Ruleset) -> str:
    """The iptables-restore input that turns chains saying `old` into chains saying `new` ("" for none).

    A chain whose kept rules stay in order with the new ones after them gets deletes and appends;
    any other changed chain (an insertion in the middle, a rule twice) is declared, which flushes it,
    and written whole. Either way the chain then says exactly `new`'s lines in `new`'s order."""
    out: list[str] = []
    for table in TABLES:
        declared: list[str] = []
        edits: list[str] = []
        for (t, chain), wanted in new.items():
            if t != table:
                continue
            had = old.get((t, chain))
            if had == wanted:
                continue
            if had is None or len(set(had)) != len(had) or len(set(wanted)) != len(wanted):
                declared.append(chain)
                edits += wanted
                continue
            keep = set(wanted)
            kept = [line for line in had if line in keep]
            gone = [line for line in had if line not in keep]
            # Deleting costs more than writing (nft compares every rule): a chain mostly gone is rewritten.
            if wanted[:len(kept)] != kept or len(gone) > len(wanted):
                declared.append(chain)
                edits += wanted
                continue
            edits += ["-D" + line[2:] for line in gone]
            edits += wanted[len(kept):]
        if declared or edits:
            out += [f"*{table}", *(f":{chain} - [0:0]" for chain in declared), *edits, "COMMIT"]
    return "\n".join([*out, ""]) if out else ""


def ruleset(chains: Chains, state: FirewallState) -> Ruleset:
    """IPv4: the rules of each of our chains that `state` needs."""
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
    return _ruleset(chains, iso, fwd, inp, nat_pre, nat_out, nat_post)


def rules(chains: Chains, state: FirewallState) -> str:
    """The iptables-restore input that makes our chains say exactly what `state` needs."""
    return document(ruleset(chains, state))


def rules6(chains: Chains, state: FirewallState) -> str:
    """The ip6tables-restore input for `state`, written whole."""
    return document(ruleset6(chains, state))


def ruleset6(chains: Chains, state: FirewallState) -> Ruleset:
    """IPv6: every bridge isolated as in IPv4 (so IPv6 cannot go round the isolation), dual-stack
    networks masqueraded on their way out."""
    fwd: list[str] = []
    iso: list[str] = []
    nat_post: list[str] = []
    for n in state.networks:
        n_iso, n_fwd = _forwarding(chains, n)
        iso += n_iso
        fwd += n_fwd
        if n.subnet6 and not n.internal and n.masquerade:
            nat_post.append(f"-A {chains.postrouting} -s {n.subnet6} ! -o {n.bridge} -j MASQUERADE")
    return _ruleset(chains, iso, fwd, [], [], [], nat_post)


@dataclass(frozen=True)
class _Family:
    """One address family's tools and rules."""

    name: str
    tool: str  # iptables or ip6tables
    restore: str  # its -restore
    render: Callable[[Chains, FirewallState], Ruleset]


class Firewall:
    """Writes `ruleset()` with iptables and `ruleset6()` with ip6tables, both at once, each whole the
    first time and then as differences; without iptables it logs once and does nothing (without
    ip6tables, IPv6 goes unfiltered: logged too). One sync at a time: the caller serialises them."""

    def __init__(self, chains: Chains, iptables: str | None = None, ip6tables: str | None = None) -> None:
        self.chains = chains
        self.iptables = iptables if iptables is not None else (shutil.which("iptables") or "")
        # No IPv4 firewall (a test's stand-in, a host without iptables): no IPv6 one either, unless asked.
        v6 = ip6tables if ip6tables is not None else (shutil.which("ip6tables") or "" if self.iptables else "")
        self.families = [f for f in (_family("IPv4", self.iptables, ruleset), _family("IPv6", v6, ruleset6))
                         if f.tool and f.restore]
        # What each family's chains say since our last write; none: unknown, so the next write is whole.
        self._written: dict[str, Ruleset] = {}
        self._pool: ThreadPoolExecutor | None = None
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
        """Make our chains say what `state` needs. `check_jumps` (at start): a whole write, and the
        jumps into our chains checked; otherwise both are done at most every JUMP_RECHECK seconds."""
        if not self.available:
            return
        now = time.monotonic()
        jumps = check_jumps or now - self._jumps_checked >= JUMP_RECHECK
        if jumps:
            self._jumps_checked = now
        if jumps:
            # Whole at start, and then with the jumps' check: rules someone removed from our chains
            # behind our back (which an append would not notice) are back within JUMP_RECHECK seconds.
            self._written.clear()
        if len(self.families) == 1:
            self._sync_family(self.families[0], state, jumps)
            return
        # The families' tools run side by side: each is a process and a kernel transaction of its own.
        if self._pool is None:
            self._pool = ThreadPoolExecutor(len(self.families), thread_name_prefix="firewall")
        for done in [self._pool.submit(self._sync_family, f, state, jumps) for f in self.families]:
            done.result()

    def _sync_family(self, family: _Family, state: FirewallState, jumps: bool) -> None:
        wanted = family.render(self.chains, state)
        had = self._written.pop(family.name, None)
        if had is None:
            self._run(family.restore, "-w", "--noflush", stdin=document(wanted))
        else:
            edits = changes(had, wanted)
            if edits:
                try:
                    self._run(family.restore, "-w", "--noflush", stdin=edits)
                except RuntimeFailure as e:  # our chains are not what we wrote: write them whole
                    log.info("%s rules changed behind berthd's back, rewriting them: %s", family.name, e.message)
                    self._run(family.restore, "-w", "--noflush", stdin=document(wanted))
        self._written[family.name] = wanted
        # Checking the jumps costs a process each: done at start and then at most every JUMP_RECHECK
        # seconds, which puts them back soon after someone flushes the built-in chains.
        if jumps:
            for table, chain, rule in self.chains.jumps():
                if self._run(family.tool, "-w", "-t", table, "-C", chain, *rule, check=False).returncode != 0:
                    self._run(family.tool, "-w", "-t", table, "-I", chain, "1", *rule)

    def teardown(self) -> None:
        """Remove our jumps and chains: nothing of this berthd's stays in the host's tables."""
        self._written.clear()
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


def _family(name: str, tool: str, render: Callable[[Chains, FirewallState], Ruleset]) -> _Family:
    return _Family(name, tool, (shutil.which(f"{Path(tool).name}-restore") or "") if tool else "", render)
