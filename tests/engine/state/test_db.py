"""The database's schema step: all of a service's DDL or none, and never inside a transaction
(sqlite3's executescript would commit that transaction half-way). The race with another thread's
transaction is tests/reliability/test_db_schema_race.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine.state.db import Database

pytestmark = pytest.mark.unit


def _tables(db: Database) -> set[str]:
    return {r["name"] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_schema_that_fails_half_way_leaves_nothing(tmp_path: Path) -> None:
    db = Database(tmp_path / "berth.db")
    with pytest.raises(sqlite3.OperationalError):
        db.ensure_schema("CREATE TABLE IF NOT EXISTS a (x INTEGER); CREATE TABLE b (y INTEGER REFERENCES);")
    assert "a" not in _tables(db)
    assert not db.conn.in_transaction
    db.ensure_schema("CREATE TABLE IF NOT EXISTS a (x INTEGER);")  # the connection is usable after
    assert "a" in _tables(db)
    db.close()


def test_schema_inside_a_transaction_is_refused_and_the_transaction_kept(tmp_path: Path) -> None:
    db = Database(tmp_path / "berth.db")
    db.ensure_schema("CREATE TABLE IF NOT EXISTS t (x INTEGER);")
    with pytest.raises(RuntimeError), db.transaction() as tx:
        tx.execute("INSERT INTO t VALUES (1)")
        db.ensure_schema("CREATE TABLE IF NOT EXISTS later (y INTEGER);")
    assert db.query("SELECT x FROM t") == []  # rolled back whole, not committed half-way
    assert "later" not in _tables(db)
    db.close()


def test_a_read_from_another_thread_never_sees_a_transaction_half_made(tmp_path: Path) -> None:
    """A worker thread's transaction (volume copy-up, for one) is seen whole or not at all by the
    event loop's reads on the shared connection."""
    import threading

    db = Database(tmp_path / "berth.db")
    db.ensure_schema("CREATE TABLE IF NOT EXISTS t (x INTEGER);")
    inside, done = threading.Event(), threading.Event()

    def writer() -> None:
        with db.transaction() as tx:
            tx.execute("INSERT INTO t VALUES (1)")
            inside.set()
            done.wait(0.3)  # a read comes now, while the row is not committed
            tx.execute("INSERT INTO t VALUES (2)")

    thread = threading.Thread(target=writer)
    thread.start()
    assert inside.wait(5)
    seen = [r["x"] for r in db.query("SELECT x FROM t")]
    done.set()
    thread.join(5)
    assert seen in ([], [1, 2]), f"a read saw a transaction half made: {seen}"
    db.close()
