"""Networks and their endpoints in SQLite.

An endpoint is a container's membership of a network: its address, MAC and aliases. It is
kept from create (or connect) until removal (or disconnect), so a container keeps its address
across restarts of itself and of berthd; UNIQUE(network_id, ip) forbids handing an address out twice.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from engine.errors import Conflict, InvalidArgument, NotFound
from engine.networks.ipam import Addr, AddressPool, Net, parse_address, parse_subnet
from engine.networks.ports import Binding
from engine.state.db import Database

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


@dataclass
class Network:
    id: str
    name: str
    driver: str  # bridge, host, null
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

    @property
    def pool(self) -> AddressPool:
        assert self.subnet is not None and self.gateway is not None
        return AddressPool(self.subnet, self.gateway, self.ip_range)

    @property
    def is_bridge(self) -> bool:
        return self.driver == "bridge"

    @property
    def user_defined(self) -> bool:
        return self.is_bridge and not self.predefined

    @property
    def icc(self) -> bool:
        return self.options.get("com.docker.network.bridge.enable_icc", "true").lower() != "false"

    @property
    def masquerade(self) -> bool:
        return self.options.get("com.docker.network.bridge.enable_ip_masquerade", "true").lower() != "false"


@dataclass
class Endpoint:
    network_id: str
    container_id: str
    endpoint_id: str
    ip: Addr | None
    mac: str
    static_ip: str
    aliases: list[str]
    position: int  # order of attachment: the first is the container's primary network


def _network(row: sqlite3.Row) -> Network:
    return Network(
        id=row["id"], name=row["name"], driver=row["driver"], created_ns=row["created_ns"],
        subnet=parse_subnet(row["subnet"]) if row["subnet"] else None,
        gateway=parse_address(row["gateway"], "gateway") if row["gateway"] else None,
        ip_range=parse_subnet(row["ip_range"]) if row["ip_range"] else None,
        internal=bool(row["internal"]), attachable=bool(row["attachable"]), labels=json.loads(row["labels"]),
        options=json.loads(row["options"]), bridge=row["bridge"], predefined=bool(row["predefined"]),
    )


def _endpoint(row: sqlite3.Row) -> Endpoint:
    return Endpoint(
        network_id=row["network_id"], container_id=row["container_id"], endpoint_id=row["endpoint_id"],
        ip=parse_address(row["ip"], "address") if row["ip"] else None, mac=row["mac"], static_ip=row["static_ip"],
        aliases=json.loads(row["aliases"]), position=row["position"],
    )


class NetworkStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)

    # ---- networks -----------------------------------------------------------------------

    def insert(self, n: Network) -> None:
        try:
            with self.db.transaction() as tx:
                tx.execute(
                    "INSERT INTO networks (id, name, driver, subnet, gateway, ip_range, internal, attachable, labels,"
                    " options, bridge, predefined, created_ns) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (n.id, n.name, n.driver, str(n.subnet or ""), str(n.gateway or ""), str(n.ip_range or ""),
                     int(n.internal), int(n.attachable), json.dumps(n.labels), json.dumps(n.options), n.bridge,
                     int(n.predefined), n.created_ns))
        except sqlite3.IntegrityError:
            raise Conflict(f"network with name {n.name} already exists") from None

    def delete(self, network_id: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM endpoints WHERE network_id = ?", (network_id,))
            tx.execute("DELETE FROM networks WHERE id = ?", (network_id,))

    def all(self) -> list[Network]:
        return [_network(r) for r in self.db.query("SELECT * FROM networks ORDER BY created_ns")]

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
                " position) VALUES (?,?,?,?,?,?,?,?)",
                (ep.network_id, ep.container_id, ep.endpoint_id, str(ep.ip) if ep.ip else None, ep.mac,
                 ep.static_ip, json.dumps(ep.aliases), ep.position))

    def remove_endpoint(self, network_id: str, container_id: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM endpoints WHERE network_id = ? AND container_id = ?", (network_id, container_id))

    def remove_container(self, container_id: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM endpoints WHERE container_id = ?", (container_id,))

    def used_addresses(self, network_id: str) -> set[Addr]:
        rows = self.db.query("SELECT ip, static_ip FROM endpoints WHERE network_id = ?", (network_id,))
        out: set[Addr] = set()
        for r in rows:
            for text in (r["ip"], r["static_ip"]):
                if text:
                    out.add(parse_address(text, "address"))
        return out

    def assign_address(self, n: Network, ep: Endpoint) -> Addr:
        """Give `ep` its address (its static one if it asked for one) in one transaction."""
        with self.db.transaction() as tx:
            row = tx.execute("SELECT ip FROM endpoints WHERE network_id = ? AND container_id = ?",
                             (n.id, ep.container_id)).fetchone()
            if row is not None and row["ip"]:
                return parse_address(row["ip"], "address")
            used = {parse_address(r["ip"], "address") for r in tx.execute(
                "SELECT ip FROM endpoints WHERE network_id = ? AND ip IS NOT NULL", (n.id,))}
            used |= {parse_address(r["static_ip"], "address") for r in tx.execute(
                "SELECT static_ip FROM endpoints WHERE network_id = ? AND static_ip != '' AND container_id != ?",
                (n.id, ep.container_id))}
            if ep.static_ip:
                addr = n.pool.static(parse_address(ep.static_ip, "address"), used)
            else:
                last = tx.execute("SELECT last_ip FROM networks WHERE id = ?", (n.id,)).fetchone()
                after = parse_address(last["last_ip"], "address") if last and last["last_ip"] else None
                addr = n.pool.allocate(used, after)
                tx.execute("UPDATE networks SET last_ip = ? WHERE id = ?", (str(addr), n.id))
            tx.execute("UPDATE endpoints SET ip = ? WHERE network_id = ? AND container_id = ?",
                       (str(addr), n.id, ep.container_id))
        ep.ip = addr
        return addr

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
    config: list[dict[str, str]] = []
    if n.subnet is not None:
        entry = {"Subnet": str(n.subnet), "Gateway": str(n.gateway or "")}
        if n.ip_range is not None:
            entry["IPRange"] = str(n.ip_range)
        config.append(entry)
    return {"Driver": "default", "Options": None if n.predefined else {}, "Config": config}
