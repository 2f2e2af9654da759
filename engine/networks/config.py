"""Which bridge, chains and link aliases belong to this berthd.

The system berthd (exec root /run/berth) owns bridge "berth0" and chains "BERTH-*". Any other
exec root (a test's private berthd, a second engine) derives its own names from a hash of the
exec root, so two berthds on one host never touch each other's bridge, rules or links.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from engine.config import DEFAULT_EXEC_ROOT

DEFAULT_BRIDGE = "berth0"


@dataclass(frozen=True)
class NetworkConfig:
    exec_root: Path
    tag: str  # "" for the system berthd
    bridge_name: str  # the default "bridge" network's device
    bridge_subnet: str | None = None  # None: the first free default pool
    forwarders: list[tuple[str, int]] | None = None  # where the DNS sends other names; None: the host's

    @property
    def chain_prefix(self) -> str:
        return f"BERTH-{self.tag}" if self.tag else "BERTH"

    @property
    def alias_tag(self) -> str:
        return self.tag or "system"

    @property
    def netns_dir(self) -> Path:
        return self.exec_root / "netns"


def config_for(exec_root: Path) -> NetworkConfig:
    """The names for a berthd on `exec_root`.

    BERTH_BRIDGE_NAME and BERTH_BRIDGE_SUBNET override the default bridge's; BERTH_DNS_FORWARDERS
    ("ip[:port],...", empty for none) replaces the host's resolvers for names that are not containers'.
    """
    exec_root = exec_root.resolve()
    tag = "" if exec_root == DEFAULT_EXEC_ROOT else hashlib.sha256(str(exec_root).encode()).hexdigest()[:8]
    bridge = os.environ.get("BERTH_BRIDGE_NAME") or (f"bb{tag}" if tag else DEFAULT_BRIDGE)
    forwarders = None
    if "BERTH_DNS_FORWARDERS" in os.environ:
        forwarders = []
        for item in filter(None, os.environ["BERTH_DNS_FORWARDERS"].split(",")):
            host, _, port = item.strip().partition(":")
            forwarders.append((host, int(port or 53)))
    return NetworkConfig(exec_root=exec_root, tag=tag, bridge_name=bridge,
                         bridge_subnet=os.environ.get("BERTH_BRIDGE_SUBNET") or None, forwarders=forwarders)
