"""The build context: the request's tar unpacked into a private directory, .dockerignore applied,
and the sources COPY and ADD name, found (globs included) and checksummed.

The tar comes from a client: it is extracted with the same confined extractor `docker cp` uses
(no absolute names, no `..`, nothing written through a symlink). Source paths are resolved with
symlinks followed inside the context only, as Docker does.

Checksums (the cache key of COPY and ADD) cover names, types, modes, link targets and file
contents, never mtimes or owners: a fresh checkout of the same files hits the cache.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import posixpath
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.containers.archive import ExtractOptions, extract
from engine.containers.confined import RootedDir, read_in_root
from engine.dockerignore import IgnoreRules
from engine.errors import InvalidArgument, NotFound
from engine.storage.tarsafe import ByteSource

_GLOB_CHARS = frozenset("*?[")
_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_DOCKERFILE = 16 << 20


@dataclass(frozen=True)
class Source:
    """One thing to copy: `root` + `rel` on the host (inside a context or a mounted image)."""

    root: Path
    rel: str  # "" is the root itself
    is_dir: bool

    @property
    def path(self) -> Path:
        return self.root / self.rel if self.rel else self.root

    @property
    def base_name(self) -> str:
        return posixpath.basename(self.rel)


def unpack(source: ByteSource, dest: Path) -> None:
    """Extract the context tar into the (new, empty) directory `dest`. Blocking."""
    with RootedDir.open_root(dest) as root:
        extract(root, source, ExtractOptions())


def read_dockerfile(context: Path, name: str) -> str:
    name = name or "Dockerfile"
    data = read_in_root(context, "/" + name.lstrip("/"), limit=MAX_DOCKERFILE)
    if data is None and name == "Dockerfile":
        data = read_in_root(context, "/dockerfile", limit=MAX_DOCKERFILE)
    if data is None:
        raise InvalidArgument(f"Cannot locate specified Dockerfile: {name}")
    return data.decode("utf-8", "replace")


def apply_dockerignore(context: Path, dockerfile: str) -> IgnoreRules:
    """Remove what .dockerignore leaves out (the CLI did too; raw API clients may not have)."""
    raw = read_in_root(context, "/.dockerignore")
    rules = IgnoreRules.from_text(raw.decode("utf-8", "replace") if raw is not None else "")
    if not rules:
        return rules
    for rel, is_dir in list(_walk(context)):
        path = context / rel
        if not os.path.lexists(path) or not rules.excluded(rel):
            continue
        if is_dir and not rules.has_exclusions:
            shutil.rmtree(path)
        elif not is_dir:
            os.unlink(path)
    # Excluded directories kept for an exception below them go if nothing was kept inside.
    for rel, is_dir in sorted(_walk(context), key=lambda x: -x[0].count("/")):
        if is_dir and rules.excluded(rel):
            with contextlib.suppress(OSError):  # not empty: something below it was kept
                os.rmdir(context / rel)
    return rules


def _walk(root: Path) -> Iterator[tuple[str, bool]]:
    """Every path below `root`, parents first, symlinks not followed."""
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        prefix = "" if rel_dir == "." else rel_dir + "/"
        for d in sorted(dirnames):
            yield prefix + d, not os.path.islink(os.path.join(dirpath, d))
        for f in sorted(filenames):
            yield prefix + f, False


def find_sources(root: Path, pattern: str, what: str = "build context") -> list[Source]:
    """What a COPY/ADD source names inside `root`: one path, or every match of a glob."""
    clean = posixpath.normpath("/" + pattern).lstrip("/")
    if clean in ("", "."):
        return [Source(root, "", True)]
    if not any(ch in _GLOB_CHARS for ch in clean):
        found = _resolve(root, clean)
        if found is None:
            raise NotFound(f"file not found in {what} or excluded by .dockerignore: stat {pattern}: "
                           "file does not exist")
        return [found]
    matches: list[Source] = []
    parts = clean.split("/")
    for rel, _ in _walk(root):
        rparts = rel.split("/")
        if len(rparts) == len(parts) and all(fnmatch.fnmatchcase(r, p) for r, p in zip(rparts, parts, strict=True)):
            found = _resolve(root, rel)
            if found is not None:
                matches.append(found)
    if not matches:
        raise NotFound(f"no source files were specified: {pattern} matches nothing in the {what}")
    return matches


def _resolve(root: Path, rel: str) -> Source | None:
    """`rel` with symlinks followed inside `root` (Docker follows a source link, within scope)."""
    with RootedDir.open_root(root) as r:
        canonical = r.canonical("/" + rel).lstrip("/")
        try:
            st = os.stat(canonical or ".", dir_fd=r.fd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None
    return Source(root, canonical, stat.S_ISDIR(st.st_mode))


def checksum(sources: list[Source]) -> str:
    """Content hash of the sources: names, types, modes, link targets, file bytes; no mtimes."""
    h = hashlib.sha256()
    for src in sources:
        h.update(f"src:{src.rel}\0".encode())
        _hash_tree(h, src.path, "")
    return "sha256:" + h.hexdigest()


def _hash_tree(h: hashlib._Hash, path: Path, rel: str) -> None:
    st = os.lstat(path)
    h.update(f"{rel}\0{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode):o}\0".encode())
    if stat.S_ISLNK(st.st_mode):
        h.update(os.readlink(path).encode() + b"\0")
    elif stat.S_ISREG(st.st_mode):
        fh = hashlib.sha256()
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            while chunk := os.read(fd, 1 << 20):
                fh.update(chunk)
        finally:
            os.close(fd)
        h.update(fh.digest())
    elif stat.S_ISDIR(st.st_mode):
        for name in sorted(os.listdir(path)):
            _hash_tree(h, path / name, f"{rel}/{name}")
