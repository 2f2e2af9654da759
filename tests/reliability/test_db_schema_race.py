"""A lazily made table must not commit another thread's transaction half-way.

The crash test met it: the first build after berthd starts makes the build cache's table
(`Database.ensure_schema`, sqlite3's executescript, which COMMITs whatever transaction is open on the
shared connection) on the event loop's thread while a worker thread was inside `transaction()`
(volume refs dropped by `docker rm -f`). The worker's COMMIT then failed ("cannot commit - no
transaction is active"), the removal answered 500 and stopped half-done, and what the worker had
written so far was already committed: a transaction that is not atomic. ensure_schema now takes the
transactions' lock.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine.state.db import Database

pytestmark = pytest.mark.unit


def test_ensure_schema_waits_for_another_threads_transaction(tmp_path: Path) -> None:
    db = Database(tmp_path / "berth.db")
    db.ensure_schema("CREATE TABLE IF NOT EXISTS t (x INTEGER);")
    inside, schema_done = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            with db.transaction() as tx:
                tx.execute("INSERT INTO t VALUES (1)")
                inside.set()
                schema_done.wait(2)  # the other thread's DDL runs now, unless it waits for the lock
                tx.execute("INSERT INTO t VALUES (2)")
        except BaseException as e:  # the failure is what the test reports
            failures.append(e)

    def schema() -> None:
        inside.wait(5)
        db.ensure_schema("CREATE TABLE IF NOT EXISTS later (y INTEGER);")
        schema_done.set()

    threads = [threading.Thread(target=writer), threading.Thread(target=schema)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    db.close()
    assert failures == [], failures
