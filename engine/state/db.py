"""The engine's SQLite database.

One connection, mostly used from the event loop thread; a service may also write from a
worker thread (volume copy-up, for one), so transactions are serialised by a lock. WAL
mode with synchronous=FULL so that an acknowledged write survives a crash. Each service
declares its own tables with `ensure_schema`; writes go through `transaction()`, which
must not span an `await`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class Database:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self._lock = threading.RLock()

    def ensure_schema(self, ddl: str) -> None:
        """Run idempotent DDL (CREATE TABLE IF NOT EXISTS ...), all of it or none.

        A service may make its tables late (the build cache's, at the first build) while another
        thread is inside `transaction()`. executescript COMMITs whatever transaction is open on the
        shared connection, so it waits for the lock like any writer; from inside a transaction on
        this thread it would commit that one half-way, which is refused.
        """
        with self._lock:
            if self.conn.in_transaction:
                raise RuntimeError("ensure_schema inside a transaction would commit it half-way")
            try:
                self.conn.executescript(f"BEGIN IMMEDIATE;\n{ddl}\nCOMMIT;")
            finally:
                # a statement failed between BEGIN and COMMIT: none of the DDL stays
                self._rollback_open()

    def _rollback_open(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    # Reads take the lock too: on the one shared connection, a read from another thread while a
    # worker thread is inside `transaction()` would see that transaction's uncommitted half.
    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self.conn.execute(sql, params))

    def query_one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
        return row

    def close(self) -> None:
        self.conn.close()


def json_object(text: str) -> Any:
    """A JSON object column (labels, options). Most are empty: `{}` skips the decoder, which counts
    when a list reads thousands of rows."""
    return {} if text == "{}" else json.loads(text)

