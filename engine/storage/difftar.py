"""An overlay upper dir as an image layer tar: what `docker commit` and every build step store.

The upper dir holds a container's changes in overlay's own format; a layer tar says the same in
the image format:

- a whiteout (a 0/0 character device `name`) becomes an empty `.wh.name` entry;
- an opaque directory (`trusted.overlay.opaque=y`) becomes the directory plus `.wh..wh..opq`;
- everything else is copied as it is (hardlinks within the upper dir kept as hardlinks,
  `security.capability` kept as a PAX xattr, as dockerd does).

A directory is only written when it matters: when something below it is, when it is opaque,
new, or its owner or mode differ from the image's. Overlay copies a directory up merely to hold
a new entry, and the runtime's mount points (/etc/hosts...) make such copies on every start:
without this rule an untouched /etc would land in every layer.

`runtime_paths` are left out: the mount points the runtime makes for its own mounts, which
Docker keeps in a separate "init" layer so they never reach an image.

The tar is streamed (`LayerTarPipe`: a producer thread writing into a pipe, a blocking `read()`
for the consumer), so a layer is never held in memory. Nothing in the upper dir or the lowers is
followed: every directory is opened relative to its parent with O_NOFOLLOW.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
EXPORTED_XATTRS = ("security.capability",)
_XATTR_PAX_PREFIX = "SCHILY.xattr."
TAR_BUFFER = 1 << 18
_CHUNK = 1 << 20

# What runc/crun create in the root for Docker's bind mounts and API filesystems.
RUNTIME_PATHS = frozenset({
    "etc/hostname", "etc/hosts", "etc/resolv.conf", "etc/mtab", ".dockerenv", "proc", "sys", "dev",
})

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class ByteSink(Protocol):
    def write(self, data: bytes, /) -> object: ...


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(fd: int) -> bool:
    for name in OPAQUE_XATTRS:
        with contextlib.suppress(OSError):
            if os.getxattr(f"/proc/self/fd/{fd}", name) == b"y":
                return True
    return False


class _FdReader:
    """Exactly `size` bytes from an fd (zeros if the file shrank meanwhile: the header is written)."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        if n <= 0:
            return b""
        data = os.read(self.fd, n) or bytes(n)
        self.left -= len(data)
        return data


@dataclass
class _Pending:
    """A directory seen but not written yet: written once something below it is."""

    info: tarfile.TarInfo
    written: bool = False


@dataclass
class _Walk:
    tar: tarfile.TarFile
    runtime_paths: frozenset[str]
    every_dir: bool = False  # no lowers to compare with: each directory counts as changed
    pending: list[_Pending] = field(default_factory=list)
    links: dict[tuple[int, int], str] = field(default_factory=dict)

    def add(self, info: tarfile.TarInfo, data: _FdReader | None = None) -> None:
        for p in self.pending:
            if not p.written:
                self.tar.addfile(p.info)
                p.written = True
        self.tar.addfile(info, data)

    def directory(self, dir_fd: int, prefix: str, lowers: list[int]) -> None:
        """Everything below the upper directory `dir_fd` (named `prefix`, "" for the root)."""
        listing = os.open(".", _DIR, dir_fd=dir_fd)
        try:
            names = sorted(os.listdir(listing))
        finally:
            os.close(listing)
        for name in names:
            rel = prefix + name
            if rel in self.runtime_paths:
                continue
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # a running container changes under us (commit with pause=false)
            if is_whiteout(st):
                info = _header(prefix + WHITEOUT_PREFIX + name, st)
                info.type, info.mode = tarfile.REGTYPE, 0o600
                self.add(info)
            elif stat.S_ISDIR(st.st_mode):
                self.subdirectory(dir_fd, name, rel, st, lowers)
            else:
                self.leaf(dir_fd, name, rel, st)

    def subdirectory(self, dir_fd: int, name: str, rel: str, st: os.stat_result, lowers: list[int]) -> None:
        fd = os.open(name, _PATH_DIR, dir_fd=dir_fd)
        below: list[int] = []
        try:
            opaque = _opaque(fd)
            lower_st, below = (None, []) if opaque else _lower_dir(lowers, name)
            info = _header(rel, st)
            info.type = tarfile.DIRTYPE
            entry = _Pending(info)
            self.pending.append(entry)
            if self.every_dir:
                self.add_pending_only()
            if opaque:
                marker = _header(rel + "/" + OPAQUE_MARKER, st)
                marker.type, marker.mode = tarfile.REGTYPE, 0o600
                self.add(marker)
            self.directory(fd, rel + "/", below)
            changed = lower_st is None or (
                (stat.S_IMODE(lower_st.st_mode), lower_st.st_uid, lower_st.st_gid)
                != (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid))
            if not entry.written and changed:
                self.add_pending_only()
            self.pending.pop()
        finally:
            os.close(fd)
            for lfd in below:
                os.close(lfd)

    def add_pending_only(self) -> None:
        for p in self.pending:
            if not p.written:
                self.tar.addfile(p.info)
                p.written = True

    def leaf(self, dir_fd: int, name: str, rel: str, st: os.stat_result) -> None:
        info = _header(rel, st)
        mode = st.st_mode
        if stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self.links:
                info.type, info.linkname = tarfile.LNKTYPE, self.links[key]
                self.add(info)
                return
            try:
                fd = os.open(name, _FILE, dir_fd=dir_fd)
            except FileNotFoundError:
                return
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    return  # swapped while we looked
                info.size = st.st_size
                pax: dict[str, str] = {}
                for xattr in EXPORTED_XATTRS:
                    with contextlib.suppress(OSError):
                        pax[_XATTR_PAX_PREFIX + xattr] = os.getxattr(fd, xattr).decode("utf-8", "surrogateescape")
                info.pax_headers = pax
                if st.st_nlink > 1:
                    self.links[key] = rel
                self.add(info, _FdReader(fd, st.st_size))
            finally:
                os.close(fd)
            return
        if stat.S_ISLNK(mode):
            info.type = tarfile.SYMTYPE
            info.linkname = os.readlink(name, dir_fd=dir_fd)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif stat.S_ISFIFO(mode):
            info.type = tarfile.FIFOTYPE
        else:
            return  # sockets do not travel in layers
        self.add(info)


def _header(name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = int(st.st_mtime)  # whole seconds: a float costs a PAX header per entry
    return info


def _lower_dir(lowers: list[int], name: str) -> tuple[os.stat_result | None, list[int]]:
    """How the image shows directory `name` (its stat, or None if absent or not a directory), and
    its directory fds in the lowers, top first, as overlay merges them (whiteout, a non-directory
    or an opaque directory ends the search)."""
    first: os.stat_result | None = None
    found: list[int] = []
    for lfd in lowers:
        try:
            st = os.stat(name, dir_fd=lfd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if not stat.S_ISDIR(st.st_mode):
            break
        fd = os.open(name, _PATH_DIR, dir_fd=lfd)
        found.append(fd)
        first = first or st
        if _opaque(fd):
            break
    return first, found


def write_layer_tar(upper: Path, sink: ByteSink | BinaryIO, lowers: Iterable[Path] | None = (),
                    runtime_paths: frozenset[str] = frozenset()) -> None:
    """Write the layer tar of the overlay upper dir `upper` to `sink`. Blocking.

    `lowers`: the image's layer dirs, top first, to leave out directories copied up unchanged;
    None writes every directory of the upper dir."""
    lower_fds: list[int] = []
    upper_fd = os.open(upper, _PATH_DIR)
    # Closed only on success: a failed tar must stay visibly cut short.
    tar = tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT,  # type: ignore[call-overload]  # noqa: SIM115
                       encoding="utf-8", errors="surrogateescape", bufsize=TAR_BUFFER)
    try:
        for lower in lowers or ():
            with contextlib.suppress(FileNotFoundError):
                lower_fds.append(os.open(lower, _PATH_DIR))
        walk = _Walk(tar, runtime_paths, every_dir=lowers is None)
        walk.directory(upper_fd, "", lower_fds)
        tar.close()  # the end-of-archive blocks only when all went well
    finally:
        os.close(upper_fd)
        for fd in lower_fds:
            os.close(fd)


class LayerTarPipe:
    """A tar producer run in a thread, read as a blocking byte source (a pipe between them).

    `read()` gives the bytes as they are produced; at the end it raises the producer's error, if
    any, so a consumer never takes a cut-short tar for a whole one. Closing the pipe early stops
    the producer (its next write fails)."""

    def __init__(self, produce: Callable[[BinaryIO], None], name: str = "layer-tar") -> None:
        r, w = os.pipe()
        self._reader = os.fdopen(r, "rb", buffering=_CHUNK)
        self._writer = os.fdopen(w, "wb", buffering=_CHUNK)
        self._error: BaseException | None = None
        self._produce = produce
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._produce(self._writer)
            self._writer.flush()
        except BaseException as e:  # handed to the reader
            self._error = e
        finally:
            with contextlib.suppress(OSError):
                self._writer.close()

    def read(self, size: int = -1, /) -> bytes:
        data = self._reader.read(size)
        if not data:
            self._thread.join()
            if self._error is not None:
                raise self._error
        return data

    def close(self) -> None:
        self._reader.close()
        self._thread.join()

    def __enter__(self) -> LayerTarPipe:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def upper_dir_layer(upper: Path, lowers: list[Path] | None,
                    runtime_paths: frozenset[str] = RUNTIME_PATHS) -> LayerTarPipe:
    """The layer tar of a container's upper dir, as a byte source (close it when done)."""
    return LayerTarPipe(lambda sink: write_layer_tar(upper, sink, lowers, runtime_paths))
