"""Containers persisted in SQLite: one row each, written on every state transition.

Listing is one query on this table; nothing here touches a container's directories.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from engine.containers.configspec import ConfigSpec
from engine.containers.hostspec import HostSpec
from engine.containers.model import Container, State
from engine.errors import Conflict, InvalidArgument, NotFound
from engine.state.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    image TEXT NOT NULL,
    image_id TEXT NOT NULL,
    config TEXT NOT NULL,
    host_config TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    state TEXT NOT NULL,
    pid INTEGER NOT NULL DEFAULT 0,
    conmon_pid INTEGER NOT NULL DEFAULT 0,
    exit_code INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    started_ns INTEGER NOT NULL DEFAULT 0,
    finished_ns INTEGER NOT NULL DEFAULT 0,
    restart_count INTEGER NOT NULL DEFAULT 0,
    oom_killed INTEGER NOT NULL DEFAULT 0,
    manually_stopped INTEGER NOT NULL DEFAULT 0,
    health TEXT
);
CREATE INDEX IF NOT EXISTS containers_created ON containers(created_ns);
"""

_COLUMNS = ("id", "name", "image", "image_id", "config", "host_config", "created_ns", "state", "pid",
            "conmon_pid", "exit_code", "error", "started_ns", "finished_ns", "restart_count", "oom_killed",
            "manually_stopped", "health")
_CONFIG, _HOST_CONFIG = _COLUMNS.index("config"), _COLUMNS.index("host_config")


T = TypeVar("T")


class _Parsed:
    """The typed Config and HostConfig of each container, parsed when its row is first loaded and
    kept with the JSON they came from: a row read again (every request reads its row) reuses them
    until that JSON changes. A row that no longer parses (an older berthd's) still loads: its
    container's `spec` raises the parse's own error when asked."""

    def __init__(self) -> None:
        self._hosts: dict[str, tuple[str, HostSpec | None]] = {}  # by id: (HostConfig's JSON, its spec)
        self._configs: dict[str, tuple[str, ConfigSpec | None]] = {}

    def specs(self, cid: str, config: str, host_config: str) -> tuple[HostSpec | None, ConfigSpec | None]:
        return _kept(self._hosts, cid, host_config, HostSpec.parse), _kept(self._configs, cid, config, ConfigSpec.parse)

    def keep(self, c: Container, config: str, host_config: str) -> None:
        """A new row's specs, as its create parsed them from this JSON: its first load reuses them."""
        if c._spec is not None:
            self._hosts[c.id] = (host_config, c._spec)
        if c._config_spec is not None:
            self._configs[c.id] = (config, c._config_spec)

    def forget(self, cid: str) -> None:
        self._hosts.pop(cid, None)
        self._configs.pop(cid, None)


def _kept(cache: dict[str, tuple[str, T | None]], cid: str, text: str,
          parse: Callable[[dict[str, Any]], T]) -> T | None:
    kept = cache.get(cid)
    if kept is not None and kept[0] == text:
        return kept[1]
    spec = _parsed(parse, text)
    cache[cid] = (text, spec)
    return spec


def _parsed(parse: Callable[[dict[str, Any]], T], text: str) -> T | None:
    try:
        return parse(json.loads(text))
    except (InvalidArgument, TypeError, ValueError, AttributeError):
        return None


def _row_to_container(row: sqlite3.Row, parsed: _Parsed) -> Container:
    host_spec, config_spec = parsed.specs(row["id"], row["config"], row["host_config"])
    return Container(
        id=row["id"], name=row["name"], image=row["image"], image_id=row["image_id"],
        config=json.loads(row["config"]), host_config=json.loads(row["host_config"]),
        _spec=host_spec, _config_spec=config_spec,
        created_ns=row["created_ns"], state=State(row["state"]), pid=row["pid"],
        conmon_pid=row["conmon_pid"], exit_code=row["exit_code"], error=row["error"],
        started_ns=row["started_ns"], finished_ns=row["finished_ns"],
        restart_count=row["restart_count"], oom_killed=bool(row["oom_killed"]),
        manually_stopped=bool(row["manually_stopped"]),
        health=json.loads(row["health"]) if row["health"] else None,
    )


def _values(c: Container) -> tuple[object, ...]:
    return (c.id, c.name, c.image, c.image_id, json.dumps(c.config), json.dumps(c.host_config),
            c.created_ns, c.state.value, c.pid, c.conmon_pid, c.exit_code, c.error, c.started_ns,
            c.finished_ns, c.restart_count, int(c.oom_killed), int(c.manually_stopped),
            json.dumps(c.health) if c.health is not None else None)


class ContainerStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)
        self._parsed = _Parsed()

    def insert(self, c: Container) -> None:
        placeholders = ",".join("?" * len(_COLUMNS))
        values = _values(c)
        try:
            with self.db.transaction() as tx:
                tx.execute(f"INSERT INTO containers ({','.join(_COLUMNS)}) VALUES ({placeholders})",
                           values)
        except sqlite3.IntegrityError as e:
            other = self.db.query_one("SELECT id FROM containers WHERE name = ?", (c.name,))
            if other is not None:
                raise Conflict(
                    f'Conflict. The container name "/{c.name}" is already in use by container '
                    f'"{other["id"]}". You have to remove (or rename) that container to be able to '
                    "reuse that name."
                ) from e
            raise
        self._parsed.keep(c, config=str(values[_CONFIG]), host_config=str(values[_HOST_CONFIG]))

    def save(self, c: Container) -> None:
        """Persist the row but its name; called on every transition. The name is rename's alone: an
        exit saved from a copy loaded before a rename must not write the old name back."""
        sets = ",".join(f"{col} = ?" for col in _COLUMNS[2:])
        with self.db.transaction() as tx:
            tx.execute(f"UPDATE containers SET {sets} WHERE id = ?", (*_values(c)[2:], c.id))

    def rename(self, c: Container) -> None:
        try:
            with self.db.transaction() as tx:
                tx.execute("UPDATE containers SET name = ? WHERE id = ?", (c.name, c.id))
        except sqlite3.IntegrityError as e:
            raise Conflict(
                f'Error when allocating new name: Conflict. The container name "/{c.name}" is already in use. '
                "You have to remove (or rename) that container to be able to reuse that name.") from e

    def delete(self, container_id: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM containers WHERE id = ?", (container_id,))
        self._parsed.forget(container_id)

    def all(self) -> list[Container]:
        rows = self.db.query("SELECT * FROM containers ORDER BY created_ns DESC")
        return [_row_to_container(r, self._parsed) for r in rows]

    def in_states(self, states: Iterable[State]) -> list[Container]:
        values = [s.value for s in states]
        marks = ",".join("?" * len(values))
        rows = self.db.query(f"SELECT * FROM containers WHERE state IN ({marks})", tuple(values))
        return [_row_to_container(r, self._parsed) for r in rows]

    def uses_image(self, image_id: str) -> bool:
        return self.db.query_one("SELECT 1 FROM containers WHERE image_id = ? LIMIT 1", (image_id,)) is not None

    def resolve(self, ref: str) -> Container:
        """By full id, by name (with or without "/"), then by unique id prefix, as Docker does."""
        if not ref:
            raise InvalidArgument("a container id or name is required")
        row = self.db.query_one("SELECT * FROM containers WHERE id = ?", (ref,))
        if row is None:
            row = self.db.query_one("SELECT * FROM containers WHERE name = ?", (ref.lstrip("/"),))
        if row is None and all(ch in "0123456789abcdef" for ch in ref):
            rows = self.db.query("SELECT * FROM containers WHERE id LIKE ? LIMIT 2", (ref + "%",))
            if len(rows) > 1:
                raise InvalidArgument(f"multiple containers found with provided prefix: {ref}")
            row = rows[0] if rows else None
        if row is None:
            raise NotFound(f"No such container: {ref}")
        return _row_to_container(row, self._parsed)
