"""The swarm this node is in, kept in SQLite so that it outlives a restart of berthd.

One row at most: berthd's swarm has one node, this one, and its own cluster. Tokens and ids
are made as swarmkit makes them (base-36, 25 characters; `SWMTKN-1-...`) so that tools that
parse them keep working; they open nothing: no node can ever present one.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from engine.state.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS swarm (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    state TEXT NOT NULL
);
"""

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36(number: int, width: int) -> str:
    out = ""
    while number:
        number, digit = divmod(number, 36)
        out = _DIGITS[digit] + out
    return out.rjust(width, "0")


def new_id() -> str:
    """A swarmkit object id: 128 random bits in base 36."""
    return base36(secrets.randbits(128), 25)


def new_secret() -> str:
    return base36(secrets.randbits(128), 25)


@dataclass
class Swarm:
    id: str
    node_id: str
    created_ns: int
    updated_ns: int
    version: int
    node_version: int
    spec: dict[str, Any]
    listen_addr: str  # recorded, as given: berthd opens no listener for it
    advertise_addr: str
    data_path_addr: str
    default_addr_pool: list[str]
    subnet_size: int
    data_path_port: int
    # The CA digest part of the join tokens: shared by both, as in swarmkit.
    token_root: str = field(default_factory=lambda: base36(secrets.randbits(256), 50))
    worker_secret: str = field(default_factory=new_secret)
    manager_secret: str = field(default_factory=new_secret)

    def token(self, secret: str) -> str:
        return f"SWMTKN-1-{self.token_root}-{secret}"


class SwarmStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)

    def load(self) -> Swarm | None:
        row = self.db.query_one("SELECT state FROM swarm WHERE one = 1")
        return Swarm(**json.loads(row["state"])) if row is not None else None

    def save(self, swarm: Swarm) -> None:
        with self.db.transaction() as tx:
            tx.execute("INSERT OR REPLACE INTO swarm (one, state) VALUES (1, ?)",
                       (json.dumps(dataclasses.asdict(swarm)),))

    def clear(self) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM swarm")
