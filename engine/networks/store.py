"""Networks and their endpoints in SQLite.

An endpoint is a container's membership of a network: its address, MAC and aliases. It is
kept from create (or connect) until removal (or disconnect), so a container keeps its address
across restarts of itself and of berthd; UNIQUE(network_id, ip) forbids handing an address out twice.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from engine.errors import Conflict, InvalidArgument, NotFound
from engine.networks.ipam import (
    Addr,
    Addr6,
    AddressPool,
    AnyAddr,
    Net,
    Net6,
    parse_address,
    parse_address6,
    parse_subnet,
    parse_subnet6,
)
from engine.networks.ports import Binding
from engine.state.db import Database, json_object

SCHEMA = """
CREATE TABLE IF NOT EXISTS networks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    driver TEXT NOT NULL,
    subnet TEXT NOT NULL DEFAULT '',
    gateway TEXT NOT NULL DEFAULT '',
    ip_range TEXT NOT NULL DEFAULT '',
    internal INTEGER NOT NULL DEFAULT 0,
    attachable INTEGER NOT NULL DEFAULT 0,
    labels TEXT NOT NULL DEFAULT '{}',
    options TEXT NOT NULL DEFAULT '{}',
    bridge TEXT NOT NULL DEFAULT '',
    predefined INTEGER NOT NULL DEFAULT 0,
    created_ns INTEGER NOT NULL,
    last_ip TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS endpoints (
    network_id TEXT NOT NULL,
    container_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    ip TEXT,
    mac TEXT NOT NULL DEFAULT '',
    static_ip TEXT NOT NULL DEFAULT '',
    aliases TEXT NOT NULL DEFAULT '[]',
    position INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (network_id, container_id),
    UNIQUE (network_id, ip)
);
CREATE INDEX IF NOT EXISTS endpoints_container ON endpoints(container_id);
CREATE TABLE IF NOT EXISTS port_bindings (
    container_id TEXT NOT NULL,
    proto TEXT NOT NULL,
    host_ip TEXT NOT NULL,
    host_port INTEGER NOT NULL,
    container_port INTEGER NOT NULL,
    PRIMARY KEY (proto, host_ip, host_port)
);
"""

# Columns added since the tables were first made: (table, column, declaration). A database of an
# older berthd gets them on open, with defaults that mean what the older berthd did.
ADDED_COLUMNS = (
    ("networks", "enable_ipv6", "INTEGER NOT NULL DEFAULT 0"),
    ("networks", "subnet6", "TEXT NOT NULL DEFAULT ''"),
    ("networks", "gateway6", "TEXT NOT NULL DEFAULT ''"),
    ("networks", "ip_range6", "TEXT NOT NULL DEFAULT ''"),
    ("networks", "last_ip6", "TEXT NOT NULL DEFAULT ''"),
    ("networks", "aux", "TEXT NOT NULL DEFAULT '{}'"),
    ("networks", "ipam_options", "TEXT NOT NULL DEFAULT 'null'"),
    ("networks", "ipam_config", "TEXT NOT NULL DEFAULT ''"),
    ("networks", "config_only", "INTEGER NOT NULL DEFAULT 0"),
    ("networks", "config_from", "TEXT NOT NULL DEFAULT ''"),
    ("networks", "scope", "TEXT NOT NULL DEFAULT 'local'"),
    ("networks", "ingress", "INTEGER NOT NULL DEFAULT 0"),
    ("endpoints", "ip6", "TEXT"),
    ("endpoints", "static_ip6", "TEXT NOT NULL DEFAULT ''"),
    ("endpoints", "static_mac", "TEXT NOT NULL DEFAULT ''"),
    ("endpoints", "links", "TEXT NOT NULL DEFAULT '[]'"),
    ("endpoints", "link_local_ips", "TEXT NOT NULL DEFAULT '[]'"),
    ("endpoints", "driver_opts", "TEXT NOT NULL DEFAULT 'null'"),
)
INDEXES = "CREATE UNIQUE INDEX IF NOT EXISTS endpoints_ip6 ON endpoints(network_id, ip6);"


@dataclass
class Network:
    id: str
    name: str
    driver: str  # bridge, host, null; overlay (in a swarm), carried by a bridge of this host all the same
    created_ns: int
    subnet: Net | None = None
    gateway: Addr | None = None
    ip_range: Net | None = None
    internal: bool = False
    attachable: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    bridge: str = ""
    predefined: bool = False
    enable_ipv6: bool = False
    subnet6: Net6 | None = None  # kept (and shown) even without enable_ipv6, as dockerd does; used only with it
    gateway6: Addr6 | None = None
    ip_range6: Net6 | None = None
    aux: dict[str, AnyAddr] = field(default_factory=dict)  # IPAM's auxiliary addresses, both families
    ipam_options: dict[str, str] | None = None
    # IPAM.Config as inspect shows it: what the request gave, in its own spelling ("2001:389::0/96"),
    # plus the subnet and gateway berthd chose when it gave none. None: derived from the fields.
    ipam_config: list[dict[str, Any]] | None = None
    config_only: bool = False  # holds configuration for other networks (ConfigFrom); no bridge, no endpoints
    config_from: str = ""  # the name of the config-only network this one took its configuration from
    scope: str = "local"  # or "swarm": made in the swarm, and removed when this node leaves it
    ingress: bool = False  # the swarm's routing-mesh network (at most one)

    @property
    def pool(self) -> AddressPool:
        assert self.subnet is not None and self.gateway is not None
        return AddressPool(self.subnet, self.gateway, self.ip_range,
                           frozenset(a for a in self.aux.values() if a.version == 4))

    @property
    def pool6(self) -> AddressPool | None:
        """The IPv6 addresses of its subnet; None without one. Endpoints take them only when `ipv6`."""
        if self.subnet6 is None or self.gateway6 is None:
            return None
        return AddressPool(self.subnet6, self.gateway6, self.ip_range6,
                           frozenset(a for a in self.aux.values() if a.version == 6))

    def pools(self) -> list[AddressPool]:
        return [pool for pool in (self.pool if self.subnet is not None else None, self.pool6) if pool is not None]

    @property
    def ipv6(self) -> bool:
        """Dual-stack: the bridge, and every endpoint, has an IPv6 address too."""
        return self.enable_ipv6 and self.subnet6 is not None and self.gateway6 is not None

    @property
    def is_bridge(self) -> bool:
        """Carried by a Linux bridge of this host: a bridge network, or an overlay one, which on a
        single-node swarm has no other node to reach (so no VXLAN: the bridge is all it needs)."""
        return self.driver in ("bridge", "overlay")

    @property
    def user_defined(self) -> bool:
        return self.is_bridge and not self.predefined

    @property
    def icc(self) -> bool:
        return _flag(self.options, ICC_OPT)

    @property
    def masquerade(self) -> bool:
        return _flag(self.options, MASQUERADE_OPT)

    @property
    def host_binding_ipv4(self) -> str:
        """Where ports published without a host address are bound on this network ("" for every address)."""
        value = self.options.get(HOST_BINDING_OPT, "")
        return "" if value in ("", "0.0.0.0") else value

    @property
    def mtu(self) -> int:
        """The MTU of the network's interfaces; 0 for the kernel's default."""
        return int(self.options.get(MTU_OPT) or 0)


ICC_OPT = "com.docker.network.bridge.enable_icc"
MASQUERADE_OPT = "com.docker.network.bridge.enable_ip_masquerade"
HOST_BINDING_OPT = "com.docker.network.bridge.host_binding_ipv4"
MTU_OPT = "com.docker.network.driver.mtu"


def _flag(options: dict[str, str], key: str) -> bool:
    return options.get(key, "true").lower() not in ("false", "0", "f")  # Go's ParseBool


@dataclass
class Endpoint:
    network_id: str
    container_id: str
    endpoint_id: str
    ip: Addr | None
    mac: str  # the interface's MAC while it exists (the asked-for one, or derived from the address)
    static_ip: str
    aliases: list[str]
    position: int  # order of attachment: the first is the container's primary network
    ip6: Addr6 | None = None
    static_ip6: str = ""
    static_mac: str = ""  # the MAC asked for (EndpointSettings.MacAddress); "" for one from the address
    links: list[str] = field(default_factory=list)  # "container:alias", resolvable by this endpoint only
    link_local_ips: list[str] = field(default_factory=list)
    driver_opts: dict[str, str] | None = None


@dataclass(frozen=True)
class Claim:
    """What a network holds that no other may: its name, bridge and subnets (read without the rest)."""

    id: str
    name: str
    bridge: str
    subnet: Net | None
    subnet6: Net6 | None
    config_only: bool
    ingress: bool


# Stored subnets, parsed once per distinct text (immutable values; the texts were checked when stored):
# every create reads the claims of all the networks.
_claimed_subnet = functools.lru_cache(maxsize=4096)(parse_subnet)
_claimed_subnet6 = functools.lru_cache(maxsize=4096)(parse_subnet6)


_stored_address = functools.lru_cache(maxsize=4096)(parse_address)
_stored_address6 = functools.lru_cache(maxsize=4096)(parse_address6)


def _json_or_none(text: str) -> Any:
    return json.loads(text) if text else None


def _network(row: sqlite3.Row) -> Network:
    # The stored texts were checked when stored; their parsed values are immutable, so shared.
    return Network(
        id=row["id"], name=row["name"], driver=row["driver"], created_ns=row["created_ns"],
        subnet=_claimed_subnet(row["subnet"]) if row["subnet"] else None,
        gateway=_stored_address(row["gateway"], "gateway") if row["gateway"] else None,
        ip_range=_claimed_subnet(row["ip_range"]) if row["ip_range"] else None,
        internal=bool(row["internal"]), attachable=bool(row["attachable"]), labels=json_object(row["labels"]),
        options=json_object(row["options"]), bridge=row["bridge"], predefined=bool(row["predefined"]),
        enable_ipv6=bool(row["enable_ipv6"]),
        subnet6=_claimed_subnet6(row["subnet6"]) if row["subnet6"] else None,
        gateway6=_stored_address6(row["gateway6"], "gateway") if row["gateway6"] else None,
        ip_range6=_claimed_subnet6(row["ip_range6"]) if row["ip_range6"] else None,
        aux={k: ipaddress.ip_address(v) for k, v in json_object(row["aux"]).items()},
        ipam_options=json_object(row["ipam_options"]), ipam_config=_json_or_none(row["ipam_config"]),
        config_only=bool(row["config_only"]), config_from=row["config_from"], scope=row["scope"],
        ingress=bool(row["ingress"]),
    )


def _endpoint(row: sqlite3.Row) -> Endpoint:
    return Endpoint(
        network_id=row["network_id"], container_id=row["container_id"], endpoint_id=row["endpoint_id"],
        ip=parse_address(row["ip"], "address") if row["ip"] else None, mac=row["mac"], static_ip=row["static_ip"],
        aliases=json.loads(row["aliases"]), position=row["position"],
        ip6=parse_address6(row["ip6"], "address") if row["ip6"] else None, static_ip6=row["static_ip6"],
        static_mac=row["static_mac"], links=json.loads(row["links"]), link_local_ips=json.loads(row["link_local_ips"]),
        driver_opts=json.loads(row["driver_opts"]),
    )


class NetworkStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)
        for table, column, decl in ADDED_COLUMNS:
            have = {r["name"] for r in db.query(f"PRAGMA table_info({table})")}
            if column not in have:
                db.ensure_schema(f"ALTER TABLE {table} ADD COLUMN {column} {decl};")
        db.ensure_schema(INDEXES)

    # ---- networks -----------------------------------------------------------------------

    def insert(self, n: Network) -> None:
        try:
            with self.db.transaction() as tx:
                tx.execute(
                    "INSERT INTO networks (id, name, driver, subnet, gateway, ip_range, internal, attachable, labels,"
                    " options, bridge, predefined, created_ns, enable_ipv6, subnet6, gateway6, ip_range6, aux,"
                    " ipam_options, ipam_config, config_only, config_from, scope, ingress)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (n.id, n.name, n.driver, str(n.subnet or ""), str(n.gateway or ""), str(n.ip_range or ""),
                     int(n.internal), int(n.attachable), json.dumps(n.labels), json.dumps(n.options), n.bridge,
                     int(n.predefined), n.created_ns, int(n.enable_ipv6), str(n.subnet6 or ""),
                     str(n.gateway6 or ""), str(n.ip_range6 or ""), json.dumps({k: str(v) for k, v in n.aux.items()}),
                     json.dumps(n.ipam_options), json.dumps(n.ipam_config) if n.ipam_config is not None else "",
                     int(n.config_only), n.config_from, n.scope, int(n.ingress)))
        except sqlite3.IntegrityError:
            raise Conflict(f"network with name {n.name} already exists") from None

    def delete(self, network_id: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM endpoints WHERE network_id = ?", (network_id,))
            tx.execute("DELETE FROM networks WHERE id = ?", (network_id,))

    def all(self) -> list[Network]:
        return [_network(r) for r in self.db.query("SELECT * FROM networks ORDER BY created_ns")]

    def claims(self) -> list[Claim]:
        """Every network's name, bridge and subnets: what a create checks, at a fraction of `all()`'s
        cost (0.7 against 12 ms with 500 networks)."""
        rows = self.db.query("SELECT id, name, bridge, subnet, subnet6, config_only, ingress FROM networks")
        return [Claim(r["id"], r["name"], r["bridge"], _claimed_subnet(r["subnet"]) if r["subnet"] else None,
                      _claimed_subnet6(r["subnet6"]) if r["subnet6"] else None, bool(r["config_only"]),
                      bool(r["ingress"])) for r in rows]

    def by_name(self, name: str) -> Network | None:
        row = self.db.query_one("SELECT * FROM networks WHERE name = ?", (name,))
        return _network(row) if row is not None else None

    def resolve(self, ref: str) -> Network:
        """By full id, by exact name, then by unique id prefix, as Docker does."""
        if not ref:
            raise InvalidArgument("a network id or name is required")
        row = self.db.query_one("SELECT * FROM networks WHERE id = ?", (ref,))
        if row is None:
            row = self.db.query_one("SELECT * FROM networks WHERE name = ?", (ref,))
        if row is None and all(ch in "0123456789abcdef" for ch in ref):
            rows = self.db.query("SELECT * FROM networks WHERE id LIKE ? LIMIT 2", (ref + "%",))
            if len(rows) > 1:
                raise InvalidArgument(f"network {ref} is ambiguous ({len(rows)} matches found based on ID prefix)")
            row = rows[0] if rows else None
        if row is None:
            raise NotFound(f"network {ref} not found")
        return _network(row)

    # ---- endpoints ----------------------------------------------------------------------

    def endpoints(self, *, network_id: str | None = None, container_id: str | None = None) -> list[Endpoint]:
        where, params = [], []
        if network_id is not None:
            where.append("network_id = ?")
            params.append(network_id)
        if container_id is not None:
            where.append("container_id = ?")
            params.append(container_id)
        sql = "SELECT * FROM endpoints" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY position"
        return [_endpoint(r) for r in self.db.query(sql, tuple(params))]

    def endpoint(self, network_id: str, container_id: str) -> Endpoint | None:
        row = self.db.query_one("SELECT * FROM endpoints WHERE network_id = ? AND container_id = ?",
                                (network_id, container_id))
        return _endpoint(row) if row is not None else None

    def add_endpoint(self, ep: Endpoint) -> None:
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT OR REPLACE INTO endpoints (network_id, container_id, endpoint_id, ip, mac, static_ip, aliases,"
                " position, ip6, static_ip6, static_mac, links, link_local_ips, driver_opts)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (ep.network_id, ep.container_id, ep.endpoint_id, str(ep.ip) if ep.ip else None, ep.mac,
                 ep.static_ip, json.dumps(ep.aliases), ep.position, str(ep.ip6) if ep.ip6 else None, ep.static_ip6,
                 ep.static_mac, json.dumps(ep.links), json.dumps(ep.link_local_ips), json.dumps(ep.driver_opts)))

    def remove_endpoint(self, network_id: str, container_id: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM endpoints WHERE network_id = ? AND container_id = ?", (network_id, container_id))

    def remove_container(self, container_id: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM endpoints WHERE container_id = ?", (container_id,))

    def used_addresses(self, network_id: str, running: Collection[str] | None = None) -> set[AnyAddr]:
        """Every address, either family, held or asked for by an endpoint of the network; with
        `running`, only those of these containers."""
        rows = self.db.query("SELECT container_id, ip, static_ip, ip6, static_ip6 FROM endpoints"
                             " WHERE network_id = ?", (network_id,))
        return {ipaddress.ip_address(text) for r in rows if running is None or r["container_id"] in running
                for text in (r["ip"], r["static_ip"], r["ip6"], r["static_ip6"]) if text}

    def assign_address(self, n: Network, ep: Endpoint, running: Collection[str] = ()) -> Addr:
        """Give `ep` its addresses (IPv4, and IPv6 on a dual-stack network; the static ones if it asked
        for them) in one transaction. A stopped container keeps its addresses for its next start,
        but a static address asked for by a container that starts is taken from a stopped holder
        (`running`: the containers whose addresses are in use now), as dockerd frees addresses at
        stop: `docker-compose up --force-recreate` starts the new container before removing the old."""
        with self.db.transaction() as tx:
            rows = tx.execute("SELECT container_id, ip, static_ip, ip6, static_ip6 FROM endpoints"
                              " WHERE network_id = ?", (n.id,)).fetchall()
            others = [r for r in rows if r["container_id"] != ep.container_id]
            live = {ipaddress.ip_address(text) for r in others if r["container_id"] in running
                    for text in (r["ip"], r["ip6"]) if text}
            row = tx.execute("SELECT ip, ip6 FROM endpoints WHERE network_id = ? AND container_id = ?",
                             (n.id, ep.container_id)).fetchone()
            kept = row is not None and row["ip"] and ipaddress.ip_address(row["ip"]) not in live and (
                not row["ip6"] or ipaddress.ip_address(row["ip6"]) not in live)
            if kept and (row["ip6"] or not n.ipv6):
                ep.ip = parse_address(row["ip"], "address")
                ep.ip6 = parse_address6(row["ip6"], "address") if row["ip6"] else None
                return ep.ip
            used = {ipaddress.ip_address(text) for r in others
                    for text in (r["ip"], r["static_ip"], r["ip6"], r["static_ip6"]) if text}
            last = tx.execute("SELECT last_ip, last_ip6 FROM networks WHERE id = ?", (n.id,)).fetchone()
            if ep.static_ip:
                addr: AnyAddr = n.pool.static(parse_address(ep.static_ip, "address"), live)
                self._release(tx, n.id, ep.container_id, str(addr))
            elif kept:
                addr = parse_address(row["ip"], "address")
            else:
                after = parse_address(last["last_ip"], "address") if last and last["last_ip"] else None
                addr = n.pool.allocate(used, after)
                tx.execute("UPDATE networks SET last_ip = ? WHERE id = ?", (str(addr), n.id))
            addr6: AnyAddr | None = None
            pool6 = n.pool6 if n.ipv6 else None
            if pool6 is not None:
                if ep.static_ip6:
                    addr6 = pool6.static(parse_address6(ep.static_ip6, "address"), live)
                    self._release(tx, n.id, ep.container_id, str(addr6))
                else:
                    after6 = parse_address6(last["last_ip6"], "address") if last and last["last_ip6"] else None
                    addr6 = pool6.allocate(used, after6)
                    tx.execute("UPDATE networks SET last_ip6 = ? WHERE id = ?", (str(addr6), n.id))
            tx.execute("UPDATE endpoints SET ip = ?, ip6 = ? WHERE network_id = ? AND container_id = ?",
                       (str(addr), str(addr6) if addr6 else None, n.id, ep.container_id))
        assert isinstance(addr, Addr) and (addr6 is None or isinstance(addr6, Addr6))
        ep.ip, ep.ip6 = addr, addr6
        return addr

    @staticmethod
    def _release(tx: sqlite3.Connection, network_id: str, taker: str, addr: str) -> None:
        """A stopped holder of `addr` gives it up: it gets another address at its next start."""
        tx.execute("UPDATE endpoints SET ip = NULL WHERE network_id = ? AND container_id != ? AND ip = ?",
                   (network_id, taker, addr))
        tx.execute("UPDATE endpoints SET ip6 = NULL WHERE network_id = ? AND container_id != ? AND ip6 = ?",
                   (network_id, taker, addr))

    def set_mac(self, ep: Endpoint) -> None:
        with self.db.transaction() as tx:
            tx.execute("UPDATE endpoints SET mac = ? WHERE network_id = ? AND container_id = ?",
                       (ep.mac, ep.network_id, ep.container_id))

    # ---- published ports of running containers (so a restarted berthd keeps the same ones) ----

    def set_bindings(self, container_id: str, bindings: list[Binding]) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM port_bindings WHERE container_id = ?", (container_id,))
            tx.executemany(
                "INSERT OR REPLACE INTO port_bindings (container_id, proto, host_ip, host_port, container_port)"
                " VALUES (?,?,?,?,?)",
                [(container_id, b.proto, b.host_ip, b.host_port, b.container_port) for b in bindings])

    def bindings(self, container_id: str | None = None) -> dict[str, list[Binding]]:
        sql = "SELECT * FROM port_bindings" + (" WHERE container_id = ?" if container_id else "")
        out: dict[str, list[Binding]] = {}
        for r in self.db.query(sql + " ORDER BY container_port, proto", (container_id,) if container_id else ()):
            out.setdefault(r["container_id"], []).append(
                Binding(r["container_port"], r["proto"], r["host_ip"], r["host_port"]))
        return out


def network_row_fields(n: Network) -> dict[str, Any]:
    """The IPAM block of NetworkResource."""
    config: list[dict[str, Any]] = []
    if n.ipam_config is not None:
        config = n.ipam_config
    else:
        for subnet, gateway, ip_range in ((n.subnet, n.gateway, n.ip_range), (n.subnet6, n.gateway6, n.ip_range6)):
            if subnet is not None:
                entry = {"Subnet": str(subnet), "Gateway": str(gateway or "")}
                if ip_range is not None:
                    entry["IPRange"] = str(ip_range)
                config.append(entry)
    return {"Driver": "default", "Options": n.ipam_options, "Config": config}
