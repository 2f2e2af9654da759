"""`MetricsStore`: containers' metrics and events on disk, per engine, in one SQLite file in the
app's data directory.

Seconds are kept for an hour; each finished minute is rolled up (`metrics_history.rollup`, done in
SQL) into minutes kept for a week; events for a week. The file is bounded: past `max_bytes` of
used pages the oldest minutes go first. Writes come in one transaction a second from the one stats
reader; everything here is synchronous and small (tens of rows), so it runs on the GUI thread.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from app.models.metrics_events import ContainerEvent
from app.models.metrics_history import MINUTE_RETENTION, SECOND_RETENTION, MetricPoint

DEFAULT_MAX_BYTES = 256 << 20
CPU_SCALE = 100  # CPU % kept as an integer of hundredths: integers are smaller in SQLite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (
    key INTEGER PRIMARY KEY, engine TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL DEFAULT '',
    project TEXT NOT NULL DEFAULT '', seen INTEGER NOT NULL DEFAULT 0, UNIQUE (engine, id));
CREATE TABLE IF NOT EXISTS seconds (
    c INTEGER NOT NULL, t INTEGER NOT NULL, cpu INTEGER, mem INTEGER, lim INTEGER, rx INTEGER, tx INTEGER,
    br INTEGER, bw INTEGER, pids INTEGER, PRIMARY KEY (c, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS minutes (
    c INTEGER NOT NULL, t INTEGER NOT NULL, cpu INTEGER, mem INTEGER, lim INTEGER, rx INTEGER, tx INTEGER,
    br INTEGER, bw INTEGER, pids INTEGER, PRIMARY KEY (c, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    c INTEGER NOT NULL, t REAL NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS events_by_time ON events (c, t);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_COLUMNS = "t, cpu, mem, lim, rx, tx, br, bw, pids"


@dataclass(frozen=True, slots=True)
class StoredContainer:
    id: str
    name: str
    project: str
    seen: int  # the last second a sample or event of it was stored


def data_dir() -> Path:
    """$BERTH_DATA_DIR; else beside the settings when $BERTH_CONFIG_DIR moves them (tests, portable
    installs); else the platform's app data directory."""
    if os.environ.get("BERTH_DATA_DIR"):
        return Path(os.environ["BERTH_DATA_DIR"])
    if os.environ.get("BERTH_CONFIG_DIR"):
        return Path(os.environ["BERTH_CONFIG_DIR"])
    from PySide6.QtCore import QStandardPaths

    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    return Path(base or Path.home() / ".local" / "share") / "berth"


def default_path() -> Path:
    return data_dir() / "metrics.sqlite"


class MetricsStore:
    def __init__(self, path: Path | str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # a crash may lose the last second, never the file
        self._db.executescript(_SCHEMA)
        self._keys: dict[tuple[str, str], int] = {}
        row = self._db.execute("SELECT value FROM meta WHERE name = 'rolled'").fetchone()
        self._rolled = int(row[0]) if row else 0  # seconds before this minute are rolled up

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()

    # -- writing ---------------------------------------------------------------------------------

    def note_container(self, engine: str, id: str, name: str = "", project: str = "") -> int:
        """The container's key, recording its name and project when given."""
        key = self._keys.get((engine, id))
        if key is None:
            self._db.execute("INSERT OR IGNORE INTO containers (engine, id, name, project, seen) "
                             "VALUES (?, ?, ?, ?, ?)", (engine, id, name, project, int(time.time())))
            key = int(self._db.execute("SELECT key FROM containers WHERE engine = ? AND id = ?",
                                       (engine, id)).fetchone()[0])
            self._keys[(engine, id)] = key
        if name or project:
            self._db.execute("UPDATE containers SET name = coalesce(nullif(?, ''), name), "
                             "project = coalesce(nullif(?, ''), project) WHERE key = ?", (name, project, key))
        return key

    def add(self, engine: str, samples: Iterable[tuple[str, MetricPoint]]) -> None:
        """A batch of readings (one a second per container), in one transaction."""
        rows = []
        seen: dict[int, int] = {}
        for id, p in samples:
            key = self.note_container(engine, id)
            t = int(p.t)
            rows.append((key, t, round(p.cpu * CPU_SCALE), p.memory, p.memory_limit, p.net_rx, p.net_tx,
                         p.block_read, p.block_write, p.pids))
            seen[key] = max(seen.get(key, 0), t)
        if not rows:
            return
        with self._transaction():
            self._db.executemany(f"INSERT OR REPLACE INTO seconds (c, {_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
            self._db.executemany("UPDATE containers SET seen = max(seen, ?) WHERE key = ?",
                                 [(t, key) for key, t in seen.items()])

    def add_minutes(self, engine: str, samples: Iterable[tuple[str, MetricPoint]]) -> None:
        """Minute rollups written directly (benchmarks and imports fill a week this way)."""
        rows = [(self.note_container(engine, id), int(p.t) // 60 * 60, round(p.cpu * CPU_SCALE), p.memory,
                 p.memory_limit, p.net_rx, p.net_tx, p.block_read, p.block_write, p.pids) for id, p in samples]
        with self._transaction():
            self._db.executemany(f"INSERT OR REPLACE INTO minutes (c, {_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
            self._db.executemany("UPDATE containers SET seen = max(seen, ?) WHERE key = ?",
                                 [(r[1], r[0]) for r in rows])

    def add_event(self, engine: str, event: ContainerEvent) -> None:
        key = self.note_container(engine, event.container, event.name)
        with self._transaction():
            self._db.execute("INSERT INTO events (c, t, kind, detail) VALUES (?, ?, ?, ?)",
                             (key, event.t, event.kind, event.detail))
            self._db.execute("UPDATE containers SET seen = max(seen, ?) WHERE key = ?", (int(event.t), key))

    def maintain(self, now: float | None = None) -> None:
        """Roll finished minutes up, drop what is past its retention, keep the file under its bound."""
        now = time.time() if now is None else now
        minute = int(now) // 60 * 60
        with self._transaction():
            if minute > self._rolled:
                self._db.execute(
                    "INSERT OR REPLACE INTO minutes (c, t, cpu, mem, lim, rx, tx, br, bw, pids) "
                    "SELECT c, t / 60 * 60, CAST(round(avg(cpu)) AS INTEGER), max(mem), max(lim), max(rx), max(tx), "
                    "max(br), max(bw), max(pids) FROM seconds WHERE t >= ? AND t < ? GROUP BY c, t / 60",
                    (self._rolled // 60 * 60 if self._rolled else 0, minute))
                self._rolled = minute
                self._db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('rolled', ?)", (minute,))
            self._db.execute("DELETE FROM seconds WHERE t < ?", (int(now) - SECOND_RETENTION,))
            self._db.execute("DELETE FROM minutes WHERE t < ?", (int(now) - MINUTE_RETENTION,))
            self._db.execute("DELETE FROM events WHERE t < ?", (now - MINUTE_RETENTION,))
            self._db.execute("DELETE FROM containers WHERE seen < ?", (int(now) - MINUTE_RETENTION,))
        self._keys.clear()  # containers may have gone: look keys up again
        while self.used_bytes() > self.max_bytes and self._drop_oldest():
            pass

    def _drop_oldest(self) -> bool:
        """The oldest tenth of the minutes (then seconds) goes; False when nothing is left to drop."""
        for table in ("minutes", "seconds"):
            count = int(self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            if count:
                row = self._db.execute(f"SELECT t FROM {table} ORDER BY t LIMIT 1 OFFSET ?",
                                       (max(0, count // 10),)).fetchone()
                with self._transaction():
                    self._db.execute(f"DELETE FROM {table} WHERE t <= ?", (int(row[0]),))
                return True
        return False

    def used_bytes(self) -> int:
        """Bytes the data takes: pages in use (freed pages are reused, so the file stops growing)."""
        pages = int(self._db.execute("PRAGMA page_count").fetchone()[0])
        free = int(self._db.execute("PRAGMA freelist_count").fetchone()[0])
        size = int(self._db.execute("PRAGMA page_size").fetchone()[0])
        return (pages - free) * size

    def row_counts(self) -> tuple[int, int]:
        """(minute rows, second rows)."""
        return (int(self._db.execute("SELECT count(*) FROM minutes").fetchone()[0]),
                int(self._db.execute("SELECT count(*) FROM seconds").fetchone()[0]))

    def file_bytes(self) -> int:
        """The file with its write-ahead log, as a disk usage figure."""
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- reading ---------------------------------------------------------------------------------

    def containers(self, engine: str) -> list[StoredContainer]:
        """Every container of the engine with stored history, the most recently seen first."""
        rows = self._db.execute("SELECT id, name, project, seen FROM containers WHERE engine = ? ORDER BY seen DESC",
                                (engine,)).fetchall()
        return [StoredContainer(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]

    def container(self, engine: str, id: str) -> StoredContainer | None:
        row = self._db.execute("SELECT id, name, project, seen FROM containers WHERE engine = ? AND id = ?",
                               (engine, id)).fetchone()
        return StoredContainer(str(row[0]), str(row[1]), str(row[2]), int(row[3])) if row else None

    def series(self, engine: str, id: str, start: float, end: float, now: float | None = None) -> list[MetricPoint]:
        """The container's points in [start, end]: seconds when the range lies within the last hour,
        else minutes (with the seconds of the minute not rolled up yet)."""
        now = time.time() if now is None else now
        key = self._key(engine, id)
        if key is None:
            return []
        if start >= now - SECOND_RETENTION:
            return self._points("seconds", key, start, end)
        points = self._points("minutes", key, start, end)
        return points + self._points("seconds", key, max(start, self._rolled, (points[-1].t + 60) if points else 0),
                                     end)

    def events(self, engine: str, id: str, start: float, end: float) -> list[ContainerEvent]:
        key = self._key(engine, id)
        if key is None:
            return []
        rows = self._db.execute("SELECT t, kind, detail FROM events WHERE c = ? AND t >= ? AND t <= ? ORDER BY t",
                                (key, start, end)).fetchall()
        return [ContainerEvent(float(r[0]), id, str(r[1]), str(r[2])) for r in rows]

    def _key(self, engine: str, id: str) -> int | None:
        key = self._keys.get((engine, id))
        if key is None:
            row = self._db.execute("SELECT key FROM containers WHERE engine = ? AND id = ?", (engine, id)).fetchone()
            if row is None:
                return None
            key = self._keys[(engine, id)] = int(row[0])
        return key

    def _points(self, table: str, key: int, start: float, end: float) -> list[MetricPoint]:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM {table} WHERE c = ? AND t >= ? AND t <= ? ORDER BY t",
                                (key, int(start), int(end))).fetchall()
        return [MetricPoint(float(r[0]), r[1] / CPU_SCALE, r[2], r[3], r[4], r[5], r[6], r[7], r[8]) for r in rows]
