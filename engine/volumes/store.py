"""Named and anonymous volumes of the local driver: a row each in SQLite and a directory
`<root>/volumes/<name>/_data`, as Docker lays them out.

Options follow Docker's local driver (`--opt type=tmpfs --opt device=tmpfs --opt o=size=64m`,
or `type=none o=bind device=/path`): such a volume's filesystem is mounted on its `_data` when a
container first uses it and unmounted when the last one stops. Which containers use a volume is
recorded in `volume_refs` at create, so `rm` can answer 409 while any container refers to it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import Conflict, InvalidArgument, NotFound
from engine.formats import now_ns, rfc3339_seconds
from engine.labels import prune_labels_match
from engine.state.db import Database, json_object
from engine.storage import overlay
from engine.volumes.specs import check_volume_name

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS volumes (
    name TEXT PRIMARY KEY,
    driver TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    labels TEXT NOT NULL,
    options TEXT NOT NULL,
    anonymous INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS volume_refs (
    container_id TEXT NOT NULL,
    destination TEXT NOT NULL,
    volume TEXT NOT NULL,
    PRIMARY KEY (container_id, destination)
);
CREATE INDEX IF NOT EXISTS volume_refs_volume ON volume_refs(volume);
"""

ANONYMOUS_LABEL = "com.docker.volume.anonymous"
DRIVER_OPTIONS = ("type", "device", "o")


@dataclass
class Volume:
    name: str
    data_dir: str  # the _data dir containers see; a string, as a list of 5,000 reports it
    created_ns: int
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    anonymous: bool = False
    driver: str = "local"

    @property
    def mountpoint(self) -> Path:
        return Path(self.data_dir)

    def to_api(self, usage: tuple[int, int] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "Name": self.name, "Driver": self.driver, "Mountpoint": self.data_dir,
            "CreatedAt": rfc3339_seconds(self.created_ns), "Labels": self.labels or None,
            "Scope": "local", "Options": self.options or None,
        }
        if usage is not None:
            body["UsageData"] = {"Size": usage[0], "RefCount": usage[1]}
        return body


ContainerExists = Callable[[str], bool]


class VolumeStore:
    def __init__(self, root: Path, db: Database, container_exists: ContainerExists | None = None) -> None:
        self.root = root
        self.db = db
        self.container_exists: ContainerExists = container_exists or (lambda _cid: True)
        root.mkdir(parents=True, exist_ok=True, mode=0o701)
        db.ensure_schema(SCHEMA)

    # ---- volumes ------------------------------------------------------------------------

    def create(self, name: str | None = None, labels: dict[str, str] | None = None,
               options: dict[str, str] | None = None, driver: str | None = None) -> Volume:
        """Create a volume; creating an existing name returns it, as Docker does."""
        if driver not in (None, "", "local"):
            raise NotFound(f"volume driver {driver!r} is not available: only the local driver is")
        options = {str(k): str(v) for k, v in (options or {}).items()}
        _check_options(options)
        anonymous = not name
        name = name or secrets.token_hex(32)
        check_volume_name(name, "invalid volume")
        existing = self._row(name)
        if existing is not None:
            return existing
        labels = dict(labels or {})
        if anonymous:
            labels.setdefault(ANONYMOUS_LABEL, "")
        vol = Volume(name=name, data_dir=self._data_dir(name), created_ns=now_ns(), labels=labels,
                     options=options, anonymous=anonymous)
        vol.mountpoint.mkdir(parents=True, exist_ok=True)
        with self.db.transaction() as tx:
            tx.execute("INSERT OR IGNORE INTO volumes (name, driver, created_ns, labels, options, anonymous) "
                       "VALUES (?, 'local', ?, ?, ?, ?)",
                       (name, vol.created_ns, json.dumps(labels), json.dumps(options), int(anonymous)))
        return vol

    def get(self, name: str) -> Volume:
        vol = self._row(name)
        if vol is None:
            raise NotFound(f"get {name}: no such volume")
        return vol

    def _row(self, name: str) -> Volume | None:
        row = self.db.query_one("SELECT * FROM volumes WHERE name = ?", (name,))
        return None if row is None else self._volume(row)

    def _data_dir(self, name: str) -> str:
        return f"{self.root}/{name}/_data"

    def _volume(self, row: Any) -> Volume:
        return Volume(name=row["name"], data_dir=self._data_dir(row["name"]), created_ns=row["created_ns"],
                      labels=json_object(row["labels"]), options=json_object(row["options"]),
                      anonymous=bool(row["anonymous"]), driver=row["driver"])

    def all(self) -> list[Volume]:
        # One query for the list (5,000 volumes: one per volume cost 34 ms for 1,000).
        return [self._volume(r) for r in self.db.query("SELECT * FROM volumes ORDER BY created_ns")]

    def users(self, name: str) -> list[str]:
        """Ids of the existing containers that refer to the volume (stale references are dropped)."""
        ids = sorted({r["container_id"] for r in self.db.query(
            "SELECT container_id FROM volume_refs WHERE volume = ?", (name,))})
        stale = [cid for cid in ids if not self.container_exists(cid)]
        if stale:
            with self.db.transaction() as tx:
                tx.executemany("DELETE FROM volume_refs WHERE container_id = ?", [(cid,) for cid in stale])
        return [cid for cid in ids if cid not in stale]

    def remove(self, name: str, force: bool = False) -> None:
        vol = self.get(name)
        users = self.users(name)
        if users:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
        self.unmount(vol)
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM volumes WHERE name = ?", (name,))
        shutil.rmtree(self.root / name, ignore_errors=True)

    def prune(self, all_volumes: bool = False, labels: list[str] | None = None) -> tuple[list[str], int]:
        """Remove unused volumes: anonymous ones only, unless `all_volumes` (API >= 1.42 semantics)."""
        removed: list[str] = []
        reclaimed = 0
        for vol in self.all():
            if not (all_volumes or vol.anonymous) or not prune_labels_match(vol.labels, labels or []):
                continue
            if self.users(vol.name):
                continue
            size = disk_usage(vol.mountpoint) if not vol.options else 0
            with contextlib.suppress(Conflict, NotFound):
                self.remove(vol.name)
                removed.append(vol.name)
                reclaimed += size
        return removed, reclaimed

    def usage(self, vol: Volume) -> tuple[int, int]:
        """(bytes used, containers referring to it); size -1 for a volume with its own filesystem."""
        size = -1 if vol.options and not self.is_mounted(vol) else disk_usage(vol.mountpoint)
        return size, len(self.users(vol.name))

    # ---- references ---------------------------------------------------------------------

    def add_ref(self, container_id: str, destination: str, volume: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("INSERT OR REPLACE INTO volume_refs (container_id, destination, volume) VALUES (?, ?, ?)",
                       (container_id, destination, volume))

    def refs(self, container_id: str) -> dict[str, str]:
        """destination -> volume name, for one container."""
        rows = self.db.query("SELECT destination, volume FROM volume_refs WHERE container_id = ?", (container_id,))
        return {r["destination"]: r["volume"] for r in rows}

    def drop_refs(self, container_id: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM volume_refs WHERE container_id = ?", (container_id,))

    # ---- filesystems of volumes with options --------------------------------------------

    def is_mounted(self, vol: Volume) -> bool:
        return overlay.is_mounted(vol.mountpoint)

    def mount(self, vol: Volume) -> None:
        """Mount a volume's own filesystem (type/device/o options) on its _data, once."""
        if not vol.options.get("type") or self.is_mounted(vol):
            return
        vol.mountpoint.mkdir(parents=True, exist_ok=True)
        fstype, device, opts = vol.options["type"], vol.options.get("device", ""), vol.options.get("o", "")
        argv = ["mount"]
        if fstype != "none":
            argv += ["-t", fstype]
        if opts:
            argv += ["-o", opts]
        argv += ["--", device or fstype, str(vol.mountpoint)]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise InvalidArgument(f"error while mounting volume {vol.name}: {out.stderr.strip() or out.stdout.strip()}")

    def unmount(self, vol: Volume) -> None:
        if vol.options.get("type") and self.is_mounted(vol):
            overlay.unmount(vol.mountpoint, lazy=True)


def _check_options(options: dict[str, str]) -> None:
    for key in options:
        if key not in DRIVER_OPTIONS:
            raise InvalidArgument(f"invalid option key: {key!r} (the local driver takes type, device and o)")
    if options and not options.get("type"):
        raise InvalidArgument("the local driver's options need type= (for example type=tmpfs or type=none)")
    if options.get("type") == "none" and "bind" not in options.get("o", "").split(","):
        raise InvalidArgument("type=none needs o=bind and device=/host/path")
    if options.get("type") == "none" and not options.get("device", "").startswith("/"):
        raise InvalidArgument("a bind volume needs device= set to an absolute host path")


def disk_usage(path: Path) -> int:
    """Bytes in regular files under `path`, without following symlinks or crossing filesystems."""
    total = 0
    try:
        dev = os.lstat(path).st_dev
    except OSError:
        return 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in filenames:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(dirpath, name))
                if st.st_dev == dev:
                    total += st.st_blocks * 512
        dirnames[:] = [d for d in dirnames if os.lstat(os.path.join(dirpath, d)).st_dev == dev]
    return total
