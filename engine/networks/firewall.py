"""NAT, forwarding and isolation rules, in chains of berthd's own.

The rules are a pure function of the networks and published ports (`rules()`), written whole
with one `iptables-restore --noflush` per change: declaring a chain there flushes it, so each
write replaces berthd's chains atomically and stale rules (after a crash, say) cannot survive a
sync. The built-in chains only get one jump each, inserted first: a stock dockerd sets the
FORWARD policy to DROP, so nothing here relies on a default policy.

iptables is used whichever backend it has (nft or legacy): that is the host's choice, and the
rules must sit in the same tables as other engines' (an accept in a separate nft table would
not override a drop in iptables' FORWARD).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from dataclasses import dataclass, field

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


def rules(chains: Chains, state: FirewallState) -> str:
    """The iptables-restore input that makes our chains say exactly what `state` needs."""
    fwd: list[str] = []
    iso: list[str] = []
    inp: list[str] = []
    nat_pre: list[str] = []
    nat_post: list[str] = []
    for n in state.networks:
        b = n.bridge
        iso.append(f"-A {chains.isolate} -o {b} -j DROP")
        # Traffic leaving a network for another of ours is dropped (Docker's isolation).
        fwd.append(f"-A {chains.forward} -i {b} ! -o {b} -j {chains.isolate}")
        fwd.append(f"-A {chains.forward} -i {b} -o {b} -j {'ACCEPT' if n.icc else 'DROP'}")
        if n.internal:
            fwd.append(f"-A {chains.forward} -i {b} -j DROP")
            fwd.append(f"-A {chains.forward} -o {b} -j DROP")
        else:
            fwd.append(f"-A {chains.forward} -o {b} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
            fwd.append(f"-A {chains.forward} -o {b} -m conntrack --ctstate DNAT -j ACCEPT")
            fwd.append(f"-A {chains.forward} -i {b} -j ACCEPT")
            fwd.append(f"-A {chains.forward} -o {b} -j DROP")
            if n.masquerade:
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
    lines = ["*filter", f":{chains.forward} - [0:0]", f":{chains.isolate} - [0:0]", f":{chains.input} - [0:0]",
             *iso, *fwd, *inp, "COMMIT",
             "*nat", f":{chains.prerouting} - [0:0]", f":{chains.output} - [0:0]", f":{chains.postrouting} - [0:0]",
             *nat_pre, *nat_out, *nat_post, "COMMIT", ""]
    return "\n".join(lines)


class Firewall:
    """Writes `rules()` with iptables; without iptables it logs once and does nothing."""

    def __init__(self, chains: Chains, iptables: str | None = None) -> None:
        self.chains = chains
        self.iptables = iptables if iptables is not None else (shutil.which("iptables") or "")
        self.restore = (shutil.which("iptables-restore") or "") if self.iptables else ""
        if not self.iptables or not self.restore:
            log.warning("iptables not found: no NAT, published ports or network isolation")
        self._jumps_checked = -JUMP_RECHECK

    @property
    def available(self) -> bool:
        return bool(self.iptables and self.restore)

    def _run(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([*args], input=stdin, capture_output=True, text=True, timeout=60)
        if check and out.returncode != 0:
            raise RuntimeFailure(f"{' '.join(args[:3])} failed: {out.stderr.strip()}")
        return out

    def sync(self, state: FirewallState, check_jumps: bool = False) -> None:
        if not self.available:
            return
        self._run(self.restore, "-w", "--noflush", stdin=rules(self.chains, state))
        # Checking the jumps costs a process each: done at start and then at most every JUMP_RECHECK
        # seconds, which puts them back soon after someone flushes the built-in chains.
        now = time.monotonic()
        if not check_jumps and now - self._jumps_checked < JUMP_RECHECK:
            return
        self._jumps_checked = now
        for table, chain, rule in self.chains.jumps():
            if self._run(self.iptables, "-w", "-t", table, "-C", chain, *rule, check=False).returncode != 0:
                self._run(self.iptables, "-w", "-t", table, "-I", chain, "1", *rule)

    def teardown(self) -> None:
        """Remove our jumps and chains: nothing of this berthd's stays in the host's tables."""
        if not self.available:
            return
        for table, chain, rule in self.chains.jumps():
            for _ in range(20):  # bounded: a jump inserted twice by a crash is removed twice
                if self._run(self.iptables, "-w", "-t", table, "-D", chain, *rule, check=False).returncode != 0:
                    break
        c = self.chains
        for table, names in (("filter", (c.forward, c.isolate, c.input)),
                             ("nat", (c.prerouting, c.output, c.postrouting))):
            for name in names:
                self._run(self.iptables, "-w", "-t", table, "-F", name, check=False)
            for name in names:
                self._run(self.iptables, "-w", "-t", table, "-X", name, check=False)

    def leftovers(self) -> list[str]:
        """Any rule or chain of ours still in the host's tables (what tests check is empty)."""
        if not self.available:
            return []
        found: list[str] = []
        for table in ("filter", "nat"):
            out = self._run(self.iptables, "-w", "-t", table, "-S", check=False).stdout
            found += [line for line in out.splitlines() if f"{self.chains.prefix}-" in line]
        return found
