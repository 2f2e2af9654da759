"""The build context a client sends with `POST /build`: a folder as a tar, less what its
`.dockerignore` leaves out, made the way the docker CLI makes it.

- The patterns are Docker's (moby/patternmatcher): `engine.dockerignore` is that matcher, pure
  and shared with berthd's own pass over the unpacked context (an engine must apply it too: raw API
  clients may send everything). Here it only decides what is worth sending.
- The Dockerfile and `.dockerignore` are always sent, even when excluded (the engine reads them,
  then drops them if excluded), as `docker build` does.
- A Dockerfile outside the folder travels in the tar under a random name (`.dockerfile.<hex>`),
  listed in the sent `.dockerignore` so `COPY . .` does not pick it up.
- Owners become root (0:0), names "/"-separated; symlinks stay links; sockets are skipped.

Everything here is blocking file work: callers run it in a thread.
"""

from __future__ import annotations

import io
import os
import secrets
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from engine.client.errors import EngineClientError
from engine.dockerignore import IgnoreRules, read_patterns
from engine.errors import EngineError

DEFAULT_DOCKERFILE = "Dockerfile"
IGNORE_FILE = ".dockerignore"
_GLOB = frozenset("*?[\\")
_WINDOWS = os.name == "nt"


class BuildContextError(EngineClientError):
    """The folder cannot be sent as it is (no Dockerfile, an unreadable file, a bad `.dockerignore`):
    found before the engine is asked, so it reads like the engine's own refusals."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class BuildCancelled(Exception):
    """Making the tar was stopped (its build was abandoned)."""


@dataclass(frozen=True)
class Dockerfile:
    path: Path  # on disk
    name: str  # in the tar: what the `dockerfile` query parameter names
    inside: bool  # part of the folder (else added to the tar under `name`)


def spool() -> BinaryIO:
    """A temporary file for the tar (gone once closed)."""
    try:
        return tempfile.TemporaryFile(prefix="berth-build-")
    except OSError as exc:
        raise BuildContextError(f"cannot make the build context: {exc.strerror or exc}") from exc


def locate_dockerfile(context: Path, dockerfile: str | os.PathLike[str] = DEFAULT_DOCKERFILE) -> Dockerfile:
    """The Dockerfile of a build of `context`: a path relative to the folder (the API's meaning), or
    an absolute one, possibly outside it. The default also finds a lowercase `dockerfile`."""
    if not context.exists():
        raise BuildContextError(f"no such folder: {context}")
    if not context.is_dir():
        raise BuildContextError(f"the build context must be a folder: {context}")
    given = Path(dockerfile or DEFAULT_DOCKERFILE)
    candidate = given if given.is_absolute() else context / given
    if str(given) == DEFAULT_DOCKERFILE and not candidate.exists() and (context / "dockerfile").exists():
        candidate = context / "dockerfile"
    if not candidate.exists():
        if given.is_absolute():
            raise BuildContextError(f"no Dockerfile at {candidate}")
        what = "Dockerfile" if str(given) == DEFAULT_DOCKERFILE else str(given)
        raise BuildContextError(f"no {what} in {context}")
    if not candidate.is_file():
        raise BuildContextError(f"no Dockerfile in {context}: {candidate} is not a file")
    try:
        with open(candidate, "rb"):
            pass
    except OSError as exc:
        raise BuildContextError(f"cannot read {candidate}: {exc.strerror or exc}") from exc
    # Symlinks resolved on both sides, as the docker CLI does: a link leading out of the folder is outside.
    real, root = candidate.resolve(), context.resolve()
    if real.is_relative_to(root) and real != root:
        return Dockerfile(candidate, real.relative_to(root).as_posix(), inside=True)
    return Dockerfile(candidate, f".dockerfile.{secrets.token_hex(10)}", inside=False)


def ignore_rules(context: Path, dockerfile: Dockerfile) -> IgnoreRules:
    """The folder's `.dockerignore`, with exceptions added so the Dockerfile and the ignore file
    itself are sent even when it excludes them (docker's TrimBuildFilesFromExcludes)."""
    patterns = read_patterns(_read_ignore_file(context))
    if not patterns:
        return IgnoreRules([])
    try:
        rules = IgnoreRules(patterns)
        if rules.excluded(IGNORE_FILE):
            patterns.append("!" + IGNORE_FILE)
        if dockerfile.inside and rules.excluded(dockerfile.name):
            patterns.append("!" + _literal(dockerfile.name))
        return IgnoreRules(patterns)
    except EngineError as exc:  # a pattern that does not compile
        raise BuildContextError(f"{context / IGNORE_FILE}: {exc.message}") from exc


def write_context(context: Path, dockerfile: Dockerfile, out: BinaryIO,
                  stop: threading.Event | None = None) -> None:
    """Write the context tar of `context` to `out`. `stop` set from another thread ends it early
    (BuildCancelled); unreadable files raise BuildContextError naming them."""
    rules = ignore_rules(context, dockerfile)
    try:
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for rel, path in _included(context, rules):
                if stop is not None and stop.is_set():
                    raise BuildCancelled()
                if rel == IGNORE_FILE and not dockerfile.inside:
                    continue  # written below, with the Dockerfile's name added
                _add(tar, path, rel)
            if not dockerfile.inside:
                _add_outside_dockerfile(tar, context, dockerfile)
    except OSError as exc:
        where = exc.filename or context
        raise BuildContextError(f"cannot send {where} to the engine: {exc.strerror or exc}") from exc
    except tarfile.TarError as exc:
        raise BuildContextError(f"cannot make the build context of {context}: {exc}") from exc


def _read_ignore_file(context: Path) -> str:
    path = context / IGNORE_FILE
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return ""
    except OSError as exc:
        raise BuildContextError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _literal(name: str) -> str:
    """`name` as a pattern matching only itself."""
    return "".join("\\" + ch if ch in _GLOB else ch for ch in name)


def _raise(exc: OSError) -> None:
    raise exc


def _included(context: Path, rules: IgnoreRules) -> Iterator[tuple[str, Path]]:
    """(name in the tar, path on disk) of everything sent, parents before children, sorted."""
    exceptions = [p.text[1:] for p in rules.patterns if p.exclusion]
    for dirpath, dirnames, filenames in os.walk(context, onerror=_raise):
        base = Path(dirpath)
        rel_dir = base.relative_to(context).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        kept = []
        for name in sorted(dirnames):
            rel = prefix + name
            if not rules or not rules.excluded(rel):
                yield rel, base / name
                kept.append(name)
            elif _may_keep_below(rel, exceptions) and not (base / name).is_symlink():
                # Left out itself, but an exception may bring back something below it.
                kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            rel = prefix + name
            if not rules or not rules.excluded(rel):
                yield rel, base / name


def _may_keep_below(rel: str, exceptions: list[str]) -> bool:
    # docker walks into an excluded folder only for an exception written under it ("dir/keep");
    # an exception with a wildcard ("**/keep") may reach in too, so it is walked then as well.
    return any((p + "/").startswith(rel + "/") or any(ch in _GLOB for ch in p) for p in exceptions)


def _add(tar: tarfile.TarFile, path: Path, rel: str) -> None:
    # None for a socket (typeshed does not say so): nothing a tar can carry.
    info = cast("tarfile.TarInfo | None", tar.gettarinfo(str(path), arcname=rel))
    if info is None:
        return
    _normalise(info)
    if info.isreg():
        with open(path, "rb") as data:
            tar.addfile(info, data)
    else:
        tar.addfile(info)


def _normalise(info: tarfile.TarInfo) -> None:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = int(info.mtime)  # whole seconds: no pax header for every file
    if _WINDOWS:
        # Windows has no mode bits to speak of: what the docker CLI sends from there.
        info.mode = (info.mode & 0o755) | 0o111


def _add_outside_dockerfile(tar: tarfile.TarFile, context: Path, dockerfile: Dockerfile) -> None:
    data = dockerfile.path.read_bytes()
    info = tarfile.TarInfo(dockerfile.name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(os.stat(dockerfile.path).st_mtime)
    tar.addfile(info, io.BytesIO(data))
    # The engine reads both, then drops them from the context (they are excluded).
    ignore = _read_ignore_file(context).encode()
    ignore += f"\n{IGNORE_FILE}\n{dockerfile.name}\n".encode()
    info = tarfile.TarInfo(IGNORE_FILE)
    info.size, info.mode, info.mtime = len(ignore), 0o600, info.mtime
    tar.addfile(info, io.BytesIO(ignore))
