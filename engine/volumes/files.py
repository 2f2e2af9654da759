"""What Berth Desktop does with a volume's contents: browse, export as tar, import a tar, clone.

Paths inside a volume are resolved as a container would see them (never leaving the volume
through a symlink); imports go through the same distrustful extractor as image layers.
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
from collections.abc import AsyncIterator
from typing import Any

from engine.containers.confined import open_in_root
from engine.errors import InvalidArgument, NotFound, RuntimeFailure
from engine.formats import rfc3339_nano
from engine.storage.tarsafe import ByteSource, extract_layer
from engine.volumes.store import Volume, VolumeStore

CHUNK = 1 << 16
MAX_ENTRIES = 10_000  # one listing answers a directory, not a disk; the rest is reported as truncated


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


def list_files(vol: Volume, path: str = "/") -> dict[str, Any]:
    """The entries of one directory of the volume."""
    try:
        fd = open_in_root(vol.mountpoint, path or "/", os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        raise NotFound(f"volume {vol.name}: no such directory {path}") from None
    except NotADirectoryError:
        raise InvalidArgument(f"volume {vol.name}: {path} is not a directory") from None
    entries: list[dict[str, Any]] = []
    truncated = False
    try:
        for name in sorted(os.listdir(fd)):
            if len(entries) >= MAX_ENTRIES:
                truncated = True
                break
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while we listed
            entry: dict[str, Any] = {
                "Name": name, "Type": _kind(st.st_mode), "Size": st.st_size,
                "Mode": f"{stat.S_IMODE(st.st_mode):04o}", "UID": st.st_uid, "GID": st.st_gid,
                "ModTime": rfc3339_nano(st.st_mtime_ns),
            }
            if stat.S_ISLNK(st.st_mode):
                entry["LinkTarget"] = os.readlink(name, dir_fd=fd)
            entries.append(entry)
    finally:
        os.close(fd)
    return {"Volume": vol.name, "Path": "/" + "/".join(p for p in path.split("/") if p), "Entries": entries,
            "Truncated": truncated}


async def export_tar(vol: Volume) -> AsyncIterator[bytes]:
    """The volume's contents as a tar stream (names relative to the volume's root, owners numeric)."""
    proc = await asyncio.create_subprocess_exec(
        "tar", "--numeric-owner", "--xattrs", "-C", str(vol.mountpoint), "-cf", "-", ".",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        while chunk := await proc.stdout.read(CHUNK):
            yield chunk
        err = await proc.stderr.read()
        code = await proc.wait()
        if code not in (0, 1):  # 1: a file changed while it was read, as GNU tar reports it
            raise RuntimeFailure(f"exporting volume {vol.name}: {err.decode(errors='replace').strip()}")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def import_tar(vol: Volume, source: ByteSource) -> int:
    """Extract a tar into the volume (over what is there); returns the bytes of file content written."""
    return extract_layer(source, vol.mountpoint).content_size


def clone(store: VolumeStore, source: Volume, name: str, labels: dict[str, str] | None = None) -> Volume:
    """A new volume holding a copy of `source`'s files (owners, modes, links and times kept)."""
    try:
        store.get(name)
    except NotFound:
        pass
    else:
        raise InvalidArgument(f"volume {name} already exists: choose a new name for the clone")
    target = store.create(name, labels=labels if labels is not None else dict(source.labels))
    out = subprocess.run(["cp", "-a", "--", f"{source.mountpoint}/.", str(target.mountpoint)],
                         capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        store.remove(target.name)
        raise RuntimeFailure(f"cloning volume {source.name}: {out.stderr.strip()}")
    return target
