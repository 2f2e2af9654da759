"""A network namespace of the benchmark's own for each engine on its default network.

With its default bridge an engine makes a bridge, veths, addresses, routes, NAT rules and DNS for every
container; dockerd and podman also rewrite the firewall's policies. Each engine's daemon (and podman's
CLI, which sets up networking itself) runs inside a namespace made here, so all three do that work in
full and none of it reaches the host's interfaces or rules. Only the network namespace is entered: the
daemons share the host's mounts, so sockets and data roots stay where the benchmark put them.
"""

from __future__ import annotations

import contextlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

NETNS_DIR = Path("/run/netns")


@dataclass(frozen=True)
class BenchNetns:
    name: str

    @property
    def path(self) -> Path:
        return NETNS_DIR / self.name

    def wrap(self, argv: list[str]) -> list[str]:
        """`argv` run inside this namespace (its network only)."""
        return ["nsenter", f"--net={self.path}", "--", *argv]

    @classmethod
    def create(cls, name: str) -> BenchNetns:
        netns = cls(name)
        if netns.path.exists():  # a previous run's, interrupted
            netns.delete()
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, capture_output=True)
        return netns

    def delete(self) -> None:
        """The namespace and everything in it: bridges, veths, addresses and firewall rules go with it."""
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=30)

    def describe(self) -> str:
        """What the engine made in its namespace: interfaces by kind, and the firewall rules it added."""
        kinds: dict[str, int] = {}
        for line in _out(["ip", "-n", self.name, "-d", "-o", "link", "show"]).splitlines():
            # `-d -o` puts the link's kind after a "\\    " separator: "...\\    bridge forward_delay ..."
            details = [part.split()[0] for part in line.split("\\    ")[2:] if part.split()]
            kind = next((d for d in details if d in ("bridge", "veth", "vxlan", "dummy")), "other")
            kinds[kind] = kinds.get(kind, 0) + 1
        iptables = [r for r in _out(self.wrap(["iptables-save"])).splitlines() if r.startswith("-A ")]
        nft = [r for r in _out(self.wrap(["nft", "list", "ruleset"])).splitlines()
               if r.strip() and not r.strip().startswith(("table", "chain", "type", "}", "policy"))]
        shown = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        return f"netns {self.name}: links {shown}; {len(iptables)} iptables rules, {len(nft)} nft rules"


def _out(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
