"""`berthd --check`: verify the data root and the exec root while berthd is stopped, repair what is
safe to repair, and report what was found.

What is checked, and what "safe" means for each:

- blobs: every `blobs/sha256/<hex>` is re-hashed. A blob whose bytes no longer match its name is
  useless to every reader (they verify), so it is moved to `blobs/corrupt/` (kept for a
  post-mortem, never served); a re-pull fetches it again. Temp files of writes that never
  committed are deleted.
- layers: a layer dir without a row, or a half-extracted temp dir, is a crash leftover: deleted.
  A row whose dir is missing, or an image whose config blob or top layer is gone, cannot be
  repaired from here: reported (remove the image and pull it again).
- mounts: anything mounted under the data root or the exec root for a container that is not
  running (or not known at all) is unmounted, deepest first.
- state: a container's data dir or bundle without a row is deleted; a row without its data dir is
  reported; a row saying "running" whose conmon is gone and that left no exit file is reported
  (berthd settles it as exited with code 255 at its next start); a `removing` row is finished by
  berthd's restore, so it is only reported. Runtime state (runc/crun) and network namespaces of
  containers that have no row are removed. A row saying paused of a container the runtime runs
  (or the reverse: a crash between the two writes) is made to say what the runtime says.

The check refuses to run while a berthd holds the exec root's lock: it would race the daemon.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from engine import mountinfo
from engine.config import DEFAULT_EXEC_ROOT, DEFAULT_ROOT, EnginePaths
from engine.runtime.conmon import process_alive

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20
_LIVE_STATES = ("running", "paused")


@dataclass
class Finding:
    area: str  # blobs, layers, images, mounts, state, runtime, network
    what: str
    repaired: bool


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    def add(self, area: str, what: str, repaired: bool) -> None:
        self.findings.append(Finding(area, what, repaired))

    @property
    def clean(self) -> bool:
        return not self.findings

    @property
    def unrepaired(self) -> list[Finding]:
        return [f for f in self.findings if not f.repaired]

    def to_json(self) -> dict[str, object]:
        return {"checked": self.checked, "clean": self.clean,
                "findings": [{"area": f.area, "what": f.what, "repaired": f.repaired} for f in self.findings]}

    def render(self) -> str:
        lines = ["checked: " + ", ".join(f"{n} {area}" for area, n in self.checked.items())]
        for f in self.findings:
            lines.append(f"{'repaired' if f.repaired else 'FOUND   '} [{f.area}] {f.what}")
        repaired = sum(f.repaired for f in self.findings)
        lines.append(f"{len(self.findings)} problem(s): {repaired} repaired, {len(self.unrepaired)} left")
        return "\n".join(lines)


class DaemonRunning(Exception):
    """A berthd holds the exec root: checking now would race it."""


@contextlib.contextmanager
def _exec_root_lock(paths: EnginePaths) -> Iterator[None]:
    lock = paths.exec_root / "berthd.pid"
    if not lock.exists():
        yield
        return
    fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DaemonRunning(f"a berthd is running on {paths.exec_root}: stop it before checking") from None
        yield
    finally:
        os.close(fd)  # closing drops the lock


def check(paths: EnginePaths, repair: bool = True) -> Report:
    """Check (and, with `repair`, fix what is safe to fix) a stopped berthd's roots."""
    report = Report()
    with _exec_root_lock(paths):
        db = _open_db(paths.database)
        try:
            containers = _container_rows(db)
            _check_blobs(paths, report, repair)
            _check_layers(paths, db, report, repair)
            _check_images(paths, db, report)
            live = {cid for cid, (state, _) in containers.items() if state in _LIVE_STATES}
            # the runtime first: a process it still runs keeps its rootfs busy
            _check_runtime(paths, containers, report, repair)
            _check_mounts(paths, live, report, repair)
            _check_state(paths, containers, report, repair)
            _check_netns(paths, live, report, repair)
        finally:
            if db is not None:
                db.close()
    return report


# ---- helpers ------------------------------------------------------------------------------------

def _open_db(path: Path) -> sqlite3.Connection | None:
    if not path.exists():
        return None
    db = sqlite3.connect(str(path), isolation_level=None)
    db.row_factory = sqlite3.Row
    return db


def _table_exists(db: sqlite3.Connection | None, name: str) -> bool:
    if db is None:
        return False
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def _container_rows(db: sqlite3.Connection | None) -> dict[str, tuple[str, int]]:
    """id -> (state, conmon pid)."""
    if db is None or not _table_exists(db, "containers"):
        return {}
    return {r["id"]: (r["state"], r["conmon_pid"]) for r in db.execute("SELECT id, state, conmon_pid FROM containers")}


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# ---- the checks ---------------------------------------------------------------------------------

def _check_blobs(paths: EnginePaths, report: Report, repair: bool) -> None:
    root = paths.images / "blobs"
    tmp = root / "tmp"
    if tmp.is_dir():
        for stale in tmp.iterdir():
            if repair:
                stale.unlink(missing_ok=True)
            report.add("blobs", f"uncommitted temp file {stale.name}", repair)
    count = 0
    store = root / "sha256"
    if not store.is_dir():
        report.checked["blobs"] = 0
        return
    for blob in sorted(store.iterdir()):
        count += 1
        if not _HEX64.match(blob.name) or not blob.is_file():
            report.add("blobs", f"{blob.name} is not a blob (not a sha256 file)", False)
            continue
        actual = _sha256_file(blob)
        if actual == blob.name:
            continue
        if repair:
            quarantine = root / "corrupt"
            quarantine.mkdir(exist_ok=True)
            os.replace(blob, quarantine / blob.name)
        report.add("blobs", f"sha256:{blob.name} is corrupt (hashes to sha256:{actual}): "
                            + ("moved to blobs/corrupt" if repair else "would move it to blobs/corrupt"), repair)
    report.checked["blobs"] = count


def _check_layers(paths: EnginePaths, db: sqlite3.Connection | None, report: Report, repair: bool) -> None:
    root = paths.images / "layers"
    rows = set()
    if _table_exists(db, "layers"):
        assert db is not None
        rows = {str(r["chain_id"]).removeprefix("sha256:") for r in db.execute("SELECT chain_id FROM layers")}
    tmp = root / "tmp"
    if tmp.is_dir():
        for stale in tmp.iterdir():
            if repair:
                shutil.rmtree(stale, ignore_errors=True)
            report.add("layers", f"half-extracted or half-deleted layer {stale.name}", repair)
    if root.is_dir():
        for entry in root.iterdir():
            if entry.name == "tmp" or entry.name in rows:
                continue
            if repair:
                shutil.rmtree(entry, ignore_errors=True)
            report.add("layers", f"layer dir {entry.name} has no row (crash leftover)", repair)
    for chain in sorted(rows):
        if not (root / chain / "diff").is_dir():
            report.add("layers", f"layer sha256:{chain} is recorded but its directory is missing: "
                                 "remove the images that use it and pull them again", False)
    report.checked["layers"] = len(rows)


def _check_images(paths: EnginePaths, db: sqlite3.Connection | None, report: Report) -> None:
    if not _table_exists(db, "images"):
        report.checked["images"] = 0
        return
    assert db is not None
    layers = set()
    if _table_exists(db, "layers"):
        layers = {r["chain_id"] for r in db.execute("SELECT chain_id FROM layers")}
    images = db.execute("SELECT id, top_layer FROM images").fetchall()
    for r in images:
        image_id = str(r["id"])
        blob = paths.images / "blobs" / "sha256" / image_id.removeprefix("sha256:")
        if not blob.is_file():
            report.add("images", f"image {image_id}: its config blob is missing or corrupt: remove and pull it", False)
        if r["top_layer"] and r["top_layer"] not in layers:
            report.add("images", f"image {image_id}: its top layer {r['top_layer']} is not recorded", False)
    report.checked["images"] = len(images)


def _check_mounts(paths: EnginePaths, live: set[str], report: Report, repair: bool) -> None:
    """Nothing may stay mounted under the roots for a container that is not running."""
    roots = [str(paths.root.resolve()) + "/", str(paths.exec_root.resolve()) + "/"]
    points = [p for p in sorted(mountinfo.mount_points()) if any(p.startswith(r) for r in roots)]
    count = 0
    for point in sorted(set(points), key=len, reverse=True):
        owner = _owner(paths, Path(point))
        if owner is not None and owner in live:
            count += 1
            continue
        what = f"{point} is mounted" + (f" for container {owner[:12]}, which is not running" if owner else "")
        done = False
        if repair:
            out = subprocess.run(["umount", "-l", point], capture_output=True, text=True, timeout=30)
            done = out.returncode == 0
            if not done:
                what += f" (umount failed: {out.stderr.strip()})"
        report.add("mounts", what, done)
    report.checked["mounts"] = count


def _owner(paths: EnginePaths, point: Path) -> str | None:
    """The container a mount point belongs to: bundles/<id>/..., containers/<id>/..., netns/<id>."""
    for base in (paths.bundles, paths.containers, paths.exec_root / "netns"):
        base = base.resolve()
        with contextlib.suppress(ValueError):
            parts = point.relative_to(base).parts
            if parts and _HEX64.match(parts[0]):
                return parts[0]
    return None


def _check_state(paths: EnginePaths, containers: dict[str, tuple[str, int]], report: Report, repair: bool) -> None:
    for base, what in ((paths.containers, "data dir"), (paths.bundles, "bundle")):
        if not base.is_dir():
            continue
        for entry in base.iterdir():
            if entry.name in containers:
                continue
            if repair:
                shutil.rmtree(entry, ignore_errors=True)
            report.add("state", f"{what} {entry.name[:12]} has no container row", repair)
    for cid, (state, conmon_pid) in containers.items():
        data = paths.containers / cid
        if not data.is_dir():
            # A crash between the row and its mkdir: a created container's dirs are empty, so remake them.
            fixable = state == "created"
            if repair and fixable:
                data.mkdir(parents=True, mode=0o710)
                (data / "upper").mkdir()
                (data / "work").mkdir()
            report.add("state", f"container {cid[:12]} ({state}) has no data dir (upper/work, log)", repair and fixable)
        if state in _LIVE_STATES and not process_alive(conmon_pid) and not (paths.exits / cid).exists():
            report.add("state", f"container {cid[:12]} is recorded {state} but its conmon ({conmon_pid}) is gone "
                                "without an exit file: berthd records it as exited (255) when it starts", False)
        if state == "removing":
            report.add("state", f"container {cid[:12]} was being removed: berthd finishes that when it starts",
                       False)
    if paths.exits.is_dir():
        for entry in paths.exits.iterdir():
            if entry.name not in containers:
                if repair:
                    entry.unlink(missing_ok=True)
                report.add("state", f"exit file {entry.name[:12]} has no container row", repair)
    report.checked["containers"] = len(containers)


def _check_runtime(paths: EnginePaths, containers: dict[str, tuple[str, int]], report: Report, repair: bool) -> None:
    """The OCI runtime's state for containers berthd no longer knows: kill and delete them."""
    state = paths.runtime_state
    if not state.is_dir():
        return
    for runtime in ("runc", "crun"):
        binary = shutil.which(runtime)
        if binary is None:
            continue
        out = subprocess.run([binary, f"--root={state}", "list", "--format", "json"], capture_output=True, text=True,
                             timeout=30)
        if out.returncode != 0:
            continue
        try:
            listed = json.loads(out.stdout or "[]") or []
        except json.JSONDecodeError:
            continue
        for item in listed:
            cid = str(item.get("id", ""))
            if not cid:
                continue
            known = containers.get(cid)
            if known is not None and known[0] in _LIVE_STATES:
                _check_paused(paths, cid, known[0], str(item.get("status", "")), report, repair)
                continue
            done = False
            if repair:
                done = subprocess.run([binary, f"--root={state}", "delete", "--force", cid], capture_output=True,
                                      timeout=30).returncode == 0
            why = "has no container row" if known is None else f"is {item.get('status')}, recorded {known[0]}"
            report.add("runtime", f"{runtime} state for {cid[:12]} {why}", done)


def _check_paused(paths: EnginePaths, cid: str, recorded: str, actual: str, report: Report, repair: bool) -> None:
    """A crash between the runtime's pause or resume and the row's write leaves the row saying the
    other: unpause then fails on a process that runs. The runtime is right: the row follows it."""
    if actual not in _LIVE_STATES or actual == recorded:
        return
    if repair:
        db = sqlite3.connect(str(paths.database), isolation_level=None)
        try:
            db.execute("UPDATE containers SET state = ? WHERE id = ?", (actual, cid))
        finally:
            db.close()
    report.add("state", f"container {cid[:12]} is recorded {recorded} but the runtime has it {actual}"
                        + (": recorded as such" if repair else ""), repair)


def _check_netns(paths: EnginePaths, live: set[str], report: Report, repair: bool) -> None:
    netns = paths.exec_root / "netns"
    if not netns.is_dir():
        return
    for entry in netns.iterdir():
        if entry.name in live:
            continue
        done = False
        if repair:
            subprocess.run(["umount", "-l", str(entry)], capture_output=True, timeout=30)
            try:
                entry.unlink()
                done = True
            except OSError:
                done = False
        report.add("network", f"network namespace {entry.name[:12]} belongs to no running container", done)


# ---- entry points -------------------------------------------------------------------------------

def run(root: Path, exec_root: Path, repair: bool = True, as_json: bool = False) -> int:
    """Print the report; exit status 0 clean or all repaired, 1 problems left, 2 refused."""
    paths = EnginePaths(root=root.resolve(), exec_root=exec_root.resolve(), socket=exec_root / "berth.sock")
    try:
        report = check(paths, repair=repair)
    except DaemonRunning as e:
        print(f"berthd --check: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_json(), indent=2) if as_json else report.render())
    return 1 if report.unrepaired else 0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m engine.check", description=__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    p.add_argument("--exec-root", type=Path, default=DEFAULT_EXEC_ROOT)
    p.add_argument("--no-repair", action="store_true", help="only report")
    p.add_argument("--json", action="store_true", help="the report as JSON")
    args = p.parse_args(argv)
    raise SystemExit(run(args.root, args.exec_root, repair=not args.no_repair, as_json=args.json))


if __name__ == "__main__":
    main()
