"""Extract a layer tar into a directory without trusting the tar.

A layer comes from a user (`docker import`) or a registry, so every name in it is hostile until
proven otherwise:

- absolute names and any `..` component reject the whole layer (`UnsafeArchive`); Docker confines
  absolute names instead, but a well-formed layer never has them, and refusing is simpler to reason
  about;
- every parent directory is opened component by component from a directory fd with O_NOFOLLOW, so
  a symlink anywhere on the path (planted by an earlier entry, pointing in or out of the root) makes
  the layer fail instead of redirecting a write; missing parents are created 0755 as Docker does;
- the final component is never followed either: an existing entry is unlinked first and files are
  created with O_CREAT|O_EXCL|O_NOFOLLOW;
- hardlinks must name a non-directory already extracted inside the root, looked up the same way;
- OCI whiteouts become what overlayfs reads in an upper/diff dir: `.wh.name` a 0/0 character
  device `name`, `.wh..wh..opq` the `trusted.overlay.opaque=y` xattr on its directory. Overlay's
  own `trusted.*` xattrs are never taken from the tar (a layer could forge redirects with them);
  only `user.*` and `security.*` are restored.

The input may be plain, gzip, bzip2 or xz (detected by magic; zstd is refused with a clear
message). The uncompressed stream is hashed while tarfile reads it, in one pass, giving the
layer's diff_id; nothing is buffered beyond tarfile's own block buffer.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import hashlib
import io
import logging
import lzma
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from engine.errors import InvalidArgument

log = logging.getLogger(__name__)

COPY_CHUNK = 1 << 20
WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
_XATTR_PAX_PREFIX = "SCHILY.xattr."
_RESTORED_XATTR_NAMESPACES = ("user.", "security.")

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_MAGIC_LEN = 6


class UnsafeArchive(InvalidArgument):
    """The layer tar tries to write outside its root, or is not a tar we can read."""


class ByteSource(Protocol):
    """Anything with a blocking `read(n) -> bytes`: a file, a socket file, our async bridge."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class ExtractResult:
    diff_id: str  # "sha256:<hex>" of the uncompressed tar stream
    tar_size: int  # bytes in the uncompressed tar stream
    content_size: int  # bytes of regular-file content written: what Docker reports as layer Size


class _PrefixedRaw(io.RawIOBase):
    """Serves bytes already read for magic sniffing, then the rest of the source."""

    def __init__(self, head: bytes, source: ByteSource) -> None:
        self._head = head
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        want = len(buffer)
        if self._head:
            data, self._head = self._head[:want], self._head[want:]
        else:
            data = self._source.read(want)
        buffer[: len(data)] = data
        return len(data)


class _HashingRaw(io.RawIOBase):
    """Hashes and counts every byte of the uncompressed stream as tarfile pulls it."""

    def __init__(self, inner: ByteSource) -> None:
        self._inner = inner
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.digest.update(data)
        self.size += n
        return n

    def drain_hashed(self) -> None:
        while True:
            data = self._inner.read(COPY_CHUNK)
            if not data:
                return
            self.digest.update(data)
            self.size += len(data)


def decompressed(source: ByteSource) -> ByteSource:
    """Wrap `source` so that reads return the uncompressed tar, whatever the compression."""
    head = b""
    while len(head) < _MAGIC_LEN:
        chunk = source.read(_MAGIC_LEN - len(head))
        if not chunk:
            break
        head += chunk
    prefixed = io.BufferedReader(_PrefixedRaw(head, source), COPY_CHUNK)
    if head.startswith(_GZIP_MAGIC):
        return gzip.GzipFile(fileobj=prefixed, mode="rb")
    if head.startswith(_BZIP2_MAGIC):
        return bz2.BZ2File(prefixed, mode="rb")
    if head.startswith(_XZ_MAGIC):
        return lzma.LZMAFile(prefixed, mode="rb")
    if head.startswith(_ZSTD_MAGIC):
        raise InvalidArgument("zstd-compressed layers are not supported; send a plain or gzipped tar")
    return prefixed


def clean_name(name: str) -> tuple[str, ...]:
    """Split a tar member name into components, refusing anything that could leave the root."""
    if name.startswith("/"):
        raise UnsafeArchive(f"refusing layer: absolute path {name!r}")
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise UnsafeArchive(f"refusing layer: path {name!r} contains '..'")
        parts.append(part)
    return tuple(parts)


@dataclass
class _DirMeta:
    mode: int
    uid: int
    gid: int
    mtime_ns: int


@dataclass
class _Extractor:
    root_fd: int
    privileged: bool
    content_size: int = 0
    # Directory metadata is applied last: adding children changes a dir's mtime, and a 0555 dir
    # must stay writable while we fill it.
    dirs: dict[tuple[str, ...], _DirMeta] = field(default_factory=dict)

    def open_dir(self, parts: tuple[str, ...], *, create: bool, member: str) -> int:
        fd = os.dup(self.root_fd)
        try:
            for part in parts:
                try:
                    nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise UnsafeArchive(f"refusing layer: {member!r} refers to a missing path") from None
                    os.mkdir(part, 0o755, dir_fd=fd)
                    nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as e:
                    if e.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise UnsafeArchive(
                            f"refusing layer: {member!r} goes through {part!r},"
                            " which is a symlink or not a directory"
                        ) from None
                    raise
                os.close(fd)
                fd = nfd
        except BaseException:
            os.close(fd)
            raise
        return fd

    def clear(self, parent_fd: int, parts: tuple[str, ...], *, keep_dir: bool) -> bool:
        """Remove whatever `parts` names (never following it). True if an existing dir was kept."""
        name = parts[-1]
        try:
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            shutil.rmtree(name, dir_fd=parent_fd)  # fd-based: safe against symlinks inside
            n = len(parts)
            self.dirs = {k: v for k, v in self.dirs.items() if k[:n] != parts}
        else:
            os.unlink(name, dir_fd=parent_fd)
        return False

    def entry(self, tf: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = clean_name(member.name)
        if not parts:
            # The archive's own "./": it describes the root directory.
            if member.isdir():
                self.dirs[()] = _dir_meta(member)
            return
        base = parts[-1]
        parent_fd = self.open_dir(parts[:-1], create=True, member=member.name)
        try:
            if base.startswith(WHITEOUT_PREFIX):
                self.whiteout(parent_fd, parts, member)
            elif member.isreg():
                self.regular(tf, parent_fd, parts, member)
            elif member.isdir():
                self.directory(parent_fd, parts, member)
            elif member.issym():
                self.clear(parent_fd, parts, keep_dir=False)
                os.symlink(member.linkname, base, dir_fd=parent_fd)
                self.chown(base, member, dir_fd=parent_fd)
                os.utime(base, ns=_times(member), dir_fd=parent_fd, follow_symlinks=False)
            elif member.islnk():
                self.hardlink(parent_fd, parts, member)
            elif member.ischr() or member.isblk() or member.isfifo():
                self.special(parent_fd, parts, member)
            else:
                log.warning("layer: skipping %r of unsupported tar type %r", member.name, member.type)
        finally:
            os.close(parent_fd)

    def regular(
        self, tf: tarfile.TarFile, parent_fd: int, parts: tuple[str, ...], member: tarfile.TarInfo
    ) -> None:
        base = parts[-1]
        self.clear(parent_fd, parts, keep_dir=False)
        fd = os.open(base, _FILE_FLAGS, 0o600, dir_fd=parent_fd)
        try:
            src = tf.extractfile(member)
            if src is not None:
                with src, os.fdopen(fd, "wb", closefd=False) as dst:
                    shutil.copyfileobj(src, dst, COPY_CHUNK)
            self.content_size += member.size
            self.chown(fd, member)
            os.chmod(fd, member.mode & 0o7777)  # after chown, which clears setuid bits
            _set_xattrs(fd, member)
            os.utime(fd, ns=_times(member))
        finally:
            os.close(fd)

    def directory(self, parent_fd: int, parts: tuple[str, ...], member: tarfile.TarInfo) -> None:
        base = parts[-1]
        if not self.clear(parent_fd, parts, keep_dir=True):
            os.mkdir(base, 0o700, dir_fd=parent_fd)
        fd = os.open(base, _DIR_FLAGS, dir_fd=parent_fd)
        try:
            _set_xattrs(fd, member)
        finally:
            os.close(fd)
        self.dirs[parts] = _dir_meta(member)

    def hardlink(self, parent_fd: int, parts: tuple[str, ...], member: tarfile.TarInfo) -> None:
        target = clean_name(member.linkname)
        if not target or target == parts:
            raise UnsafeArchive(f"refusing layer: hardlink {member.name!r} -> {member.linkname!r}")
        target_fd = self.open_dir(target[:-1], create=False, member=member.linkname)
        try:
            try:
                st = os.stat(target[-1], dir_fd=target_fd, follow_symlinks=False)
            except FileNotFoundError:
                raise UnsafeArchive(
                    f"refusing layer: hardlink {member.name!r} -> {member.linkname!r}: target not in layer"
                ) from None
            if stat.S_ISDIR(st.st_mode):
                raise UnsafeArchive(f"refusing layer: hardlink {member.name!r} to a directory")
            self.clear(parent_fd, parts, keep_dir=False)
            # follow_symlinks=False: a link to a symlink links the symlink itself, never its target.
            os.link(target[-1], parts[-1], src_dir_fd=target_fd, dst_dir_fd=parent_fd, follow_symlinks=False)
        finally:
            os.close(target_fd)

    def special(self, parent_fd: int, parts: tuple[str, ...], member: tarfile.TarInfo) -> None:
        base = parts[-1]
        if not member.isfifo() and not self.privileged:
            log.warning("layer: skipping device node %r (needs root)", member.name)
            return
        self.clear(parent_fd, parts, keep_dir=False)
        if member.isfifo():
            os.mkfifo(base, 0o600, dir_fd=parent_fd)
        else:
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(base, kind | 0o600, os.makedev(member.devmajor, member.devminor), dir_fd=parent_fd)
        self.chown(base, member, dir_fd=parent_fd)
        # We just created `base` (mknod/mkfifo fail on an existing name), so it is not a symlink.
        os.chmod(base, member.mode & 0o7777, dir_fd=parent_fd)
        os.utime(base, ns=_times(member), dir_fd=parent_fd, follow_symlinks=False)

    def whiteout(self, parent_fd: int, parts: tuple[str, ...], member: tarfile.TarInfo) -> None:
        base = parts[-1]
        if base == WHITEOUT_OPAQUE:
            os.setxattr(parent_fd, OVERLAY_OPAQUE_XATTR, b"y")
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            return  # aufs bookkeeping (.wh..wh.plnk and friends): meaningless to overlay
        hidden = base[len(WHITEOUT_PREFIX) :]
        if hidden in ("", ".", ".."):
            raise UnsafeArchive(f"refusing layer: bad whiteout {member.name!r}")
        self.clear(parent_fd, (*parts[:-1], hidden), keep_dir=False)
        os.mknod(hidden, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=parent_fd)
        self.chown(hidden, member, dir_fd=parent_fd)

    def chown(self, target: int | str, member: tarfile.TarInfo, *, dir_fd: int | None = None) -> None:
        if not self.privileged:
            return  # unprivileged extraction keeps our own uid; rootless mapping is not done here
        if isinstance(target, int):
            os.chown(target, member.uid, member.gid)
        else:
            os.chown(target, member.uid, member.gid, dir_fd=dir_fd, follow_symlinks=False)

    def finish_dirs(self) -> None:
        # Deepest first, so that fixing a parent's mtime comes after all of its children.
        for parts in sorted(self.dirs, key=len, reverse=True):
            meta = self.dirs[parts]
            fd = self.open_dir(parts, create=False, member="/".join(parts) or ".")
            try:
                if self.privileged:
                    os.chown(fd, meta.uid, meta.gid)
                os.chmod(fd, meta.mode & 0o7777)
                os.utime(fd, ns=(meta.mtime_ns, meta.mtime_ns))
            finally:
                os.close(fd)


def _dir_meta(member: tarfile.TarInfo) -> _DirMeta:
    return _DirMeta(mode=member.mode, uid=member.uid, gid=member.gid, mtime_ns=_times(member)[1])


def _times(member: tarfile.TarInfo) -> tuple[int, int]:
    mtime_ns = int(float(member.mtime) * 1_000_000_000)
    return mtime_ns, mtime_ns


def _set_xattrs(fd: int, member: tarfile.TarInfo) -> None:
    for key, value in member.pax_headers.items():
        if not key.startswith(_XATTR_PAX_PREFIX):
            continue
        name = key[len(_XATTR_PAX_PREFIX) :]
        if not name.startswith(_RESTORED_XATTR_NAMESPACES):
            log.warning("layer: dropping xattr %r on %r", name, member.name)
            continue
        try:
            # tarfile decoded the value as UTF-8 with surrogateescape; this gets the bytes back.
            os.setxattr(fd, name, value.encode("utf-8", "surrogateescape"))
        except OSError as e:
            log.warning("layer: cannot set xattr %r on %r: %s", name, member.name, e)


def extract_layer(
    source: ByteSource,
    dest: Path,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> ExtractResult:
    """Extract the (possibly compressed) layer tar `source` into the existing directory `dest`.

    Blocking: run it in a worker thread when called from the event loop. On error `dest` may hold
    a partial tree; the caller extracts into a temporary directory and removes it (LayerStore does).
    `on_progress` is called with the uncompressed byte count after each member.
    """
    try:
        hashing = _HashingRaw(decompressed(source))
        stream = io.BufferedReader(hashing, COPY_CHUNK)
        root_fd = os.open(dest, _DIR_FLAGS)
        try:
            extractor = _Extractor(root_fd=root_fd, privileged=os.geteuid() == 0)
            with tarfile.open(fileobj=stream, mode="r|", encoding="utf-8", errors="surrogateescape") as tf:
                while (member := tf.next()) is not None:
                    extractor.entry(tf, member)
                    tf.members.clear()  # type: ignore[attr-defined]  # stream mode keeps every header otherwise
                    if on_progress is not None:
                        on_progress(hashing.size)
            extractor.finish_dirs()
        finally:
            os.close(root_fd)
        # Bytes BufferedReader fetched but tarfile never asked for were hashed already; the rest
        # of the stream (trailing zero blocks) is hashed here.
        hashing.drain_hashed()
    except tarfile.TarError as e:
        raise UnsafeArchive(f"invalid tar archive: {e}") from None
    except (gzip.BadGzipFile, EOFError, zlib.error, lzma.LZMAError, OSError) as e:
        if isinstance(e, OSError) and not isinstance(e, gzip.BadGzipFile) and e.errno is not None:
            raise  # a real I/O failure on our side, not a bad archive
        raise UnsafeArchive(f"invalid compressed archive: {e}") from None
    return ExtractResult(
        diff_id="sha256:" + hashing.digest.hexdigest(),
        tar_size=hashing.size,
        content_size=extractor.content_size,
    )
