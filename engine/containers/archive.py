"""`docker cp`: stat a path in a container, tar it out, and extract a tar into it.

Paths follow dockerd's rules. A requested path is made absolute and cleaned lexically, but a
trailing "/" (the directory itself, followed if it is a symlink) or "/." (its contents) is kept.
Every component but the last is resolved inside the container root with symlinks followed as
the container would see them; the last is taken as it is, so `docker cp c:/link .` copies the
link (the CLI's -L asks for the target through the stat's linkTarget).

Everything is done from a root directory fd (see rootview.py) through `RootedDir`: no path
string is ever handed to the kernel, so a symlink planted in the container, or one the
container swaps in while we copy, cannot lead outside its root. Extraction follows symlinks
met on the way (inside the root, as `tar -C` run in the container would), and never follows
the entry being written: an existing one is removed first, files are created O_EXCL.

Bind-mounted volumes are not looked into: the view is the container's own root filesystem.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import os
import posixpath
import shutil
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from engine.containers.confined import RootedDir, reopen
from engine.containers.users import resolve_user
from engine.errors import InvalidArgument, NotFound
from engine.formats import rfc3339_nano

COPY_CHUNK = 1 << 20
TAR_BUFFER = 1 << 18
_PATH_NOFOLLOW = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_RESTORED_XATTR_NAMESPACES = ("user.", "security.")
_EXPORTED_XATTRS = ("security.capability",)  # what dockerd puts in its tars
_XATTR_PAX_PREFIX = "SCHILY.xattr."

# Go's os.FileMode type bits: the CLI reads the stat's mode with them (mode.IsDir()).
GO_MODE_DIR = 1 << 31
GO_MODE_SYMLINK = 1 << 27
GO_MODE_DEVICE = 1 << 26
GO_MODE_NAMED_PIPE = 1 << 25
GO_MODE_SOCKET = 1 << 24
GO_MODE_SETUID = 1 << 23
GO_MODE_SETGID = 1 << 22
GO_MODE_CHAR_DEVICE = 1 << 21
GO_MODE_STICKY = 1 << 20


class ByteSink(Protocol):
    def write(self, data: bytes, /) -> object: ...


class ByteSource(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def go_file_mode(st_mode: int) -> int:
    """A unix st_mode as Go's os.FileMode, which is what the API's `mode` carries."""
    mode = st_mode & 0o777
    if stat.S_ISDIR(st_mode):
        mode |= GO_MODE_DIR
    elif stat.S_ISLNK(st_mode):
        mode |= GO_MODE_SYMLINK
    elif stat.S_ISCHR(st_mode):
        mode |= GO_MODE_DEVICE | GO_MODE_CHAR_DEVICE
    elif stat.S_ISBLK(st_mode):
        mode |= GO_MODE_DEVICE
    elif stat.S_ISFIFO(st_mode):
        mode |= GO_MODE_NAMED_PIPE
    elif stat.S_ISSOCK(st_mode):
        mode |= GO_MODE_SOCKET
    if st_mode & stat.S_ISUID:
        mode |= GO_MODE_SETUID
    if st_mode & stat.S_ISGID:
        mode |= GO_MODE_SETGID
    if st_mode & stat.S_ISVTX:
        mode |= GO_MODE_STICKY
    return mode


def container_path(path: str) -> str:
    """The requested path as dockerd reads it: absolute, cleaned, with a trailing "/" or "/." kept."""
    if not path:
        raise InvalidArgument("path is required: give the path inside the container")
    clean = posixpath.normpath("/" + path)
    clean = "/" + clean.lstrip("/")  # normpath keeps a leading "//"
    if posixpath.basename(path.rstrip("/")) == "." or path.rstrip("/") == "":
        # "dir/." or "." means the directory's contents; "/" alone is the root.
        if path.rstrip("/") == "":
            return "/"
        return clean.rstrip("/") + "/."
    if path.endswith("/") and clean != "/":
        return clean + "/"
    return clean


def base_name(abs_path: str) -> str:
    """Go's filepath.Base: the last element, trailing slashes ignored; "/" for the root."""
    stripped = abs_path.rstrip("/")
    return stripped.rsplit("/", 1)[-1] if stripped else "/"


@dataclass(frozen=True)
class PathStat:
    """The API's ContainerPathStat, sent base64-encoded in X-Docker-Container-Path-Stat."""

    name: str
    size: int
    mode: int  # Go os.FileMode bits
    mtime: str
    link_target: str

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "size": self.size, "mode": self.mode, "mtime": self.mtime,
                "linkTarget": self.link_target}

    def header(self) -> str:
        return base64.b64encode(json.dumps(self.as_json()).encode()).decode()


@dataclass
class Located:
    """A path found inside a container root, held open for stat and tar.

    `name` is the entry inside `parent`; "" when the path names `parent` itself."""

    abs_path: str
    parent: RootedDir
    name: str
    st: os.stat_result
    link_target: str

    def close(self) -> None:
        self.parent.close()

    def __enter__(self) -> Located:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def contents_prefix(self) -> str | None:
        """For "dir/." and "/", the tar holds the directory's entries, named as dockerd names
        them ("./bin/..." and "/bin/..."), which is what the CLI expects to rename; else None."""
        if self.abs_path == "/":
            return "/"
        return "./" if self.abs_path.endswith("/.") else None

    def path_stat(self) -> PathStat:
        return PathStat(name=base_name(self.abs_path), size=self.st.st_size, mode=go_file_mode(self.st.st_mode),
                        mtime=rfc3339_nano(self.st.st_mtime_ns), link_target=self.link_target)

    def write_tar(self, sink: ByteSink) -> None:
        """Stream a tar of the path to `sink`, named as dockerd names it (by its base name)."""
        with TreeTar(sink) as tar:
            if self.contents_prefix is not None:
                tar.add_directory_contents(self.parent.fd, self.contents_prefix, include_self=True)
            elif not self.name:
                tar.add_fd(os.dup(self.parent.fd), base_name(self.abs_path))
            else:
                tar.add(self.parent.fd, self.name, base_name(self.abs_path))


def locate(root_fd: int, path: str, container: str) -> Located:
    """Find `path` inside the root: the parent resolved, the last component as it is.

    NotFound if anything on the way is missing; the caller closes the result."""
    abs_path = container_path(path)
    head, _, last = abs_path.rpartition("/")
    missing = NotFound(f"Could not find the file {path} in container {container}")
    with RootedDir.open_root(root_fd) as root:
        try:
            parent = root.walk(head or "/")
        except (FileNotFoundError, NotADirectoryError):
            raise missing from None
        except OSError as e:
            raise _path_error(path, e) from None
    try:
        name = "" if last in ("", ".") else last
        if name:
            try:
                st = os.stat(name, dir_fd=parent.fd, follow_symlinks=False)
            except FileNotFoundError:
                raise missing from None
        else:
            st = os.fstat(parent.fd)
        target = parent.canonical(name) if stat.S_ISLNK(st.st_mode) else ""
    except BaseException:
        parent.close()
        raise
    return Located(abs_path=abs_path, parent=parent, name=name, st=st, link_target=target)


def _path_error(path: str, e: OSError) -> InvalidArgument:
    if e.errno == errno.ELOOP:
        return InvalidArgument(f"cannot resolve {path}: too many levels of symbolic links")
    return InvalidArgument(f"cannot resolve {path}: {e.strerror or e}")


# ---- tar out ----------------------------------------------------------------------------------


class _ExactReader:
    """Exactly `size` bytes of a file that may change while we read it: a tar header already
    promised that many, so a shrunk file is padded with zeros and a grown one cut short."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.left = size

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n < 0 else min(n, self.left)
        data = os.read(self.fd, n)
        if not data:
            data = bytes(n)
        self.left -= len(data)
        return data


class TreeTar:
    """Writes files, reached through directory fds, as a streamed tar (PAX, like dockerd's)."""

    def __init__(self, sink: ByteSink) -> None:
        # Closed by __exit__, and only on success: a failed tar must stay visibly cut short.
        self.tar = tarfile.open(  # noqa: SIM115
            fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT,  # type: ignore[call-overload]
            encoding="utf-8", errors="surrogateescape", bufsize=TAR_BUFFER)
        self._links: dict[tuple[int, int], str] = {}

    def __enter__(self) -> TreeTar:
        return self

    def __exit__(self, t: object, e: object, tb: object) -> None:
        if t is None:
            self.tar.close()  # the end-of-archive blocks only when all went well

    def add(self, dir_fd: int, name: str, arcname: str) -> None:
        """`name` inside `dir_fd` (never followed) and, if it is a directory, all below it."""
        try:
            fd = os.open(name, _PATH_NOFOLLOW, dir_fd=dir_fd)
        except FileNotFoundError:
            return  # gone while we walked: a live container changes under us
        self.add_fd(fd, arcname)

    def add_fd(self, fd: int, arcname: str) -> None:
        """The file behind an O_PATH `fd` (which this closes) and, for a directory, its tree."""
        try:
            st = os.fstat(fd)
            self._entry(fd, st, arcname)
            if stat.S_ISDIR(st.st_mode):
                self.add_directory_contents(fd, arcname + "/", include_self=False)
        finally:
            os.close(fd)

    def add_directory_contents(self, dir_fd: int, prefix: str, *, include_self: bool) -> None:
        """Everything below the directory `dir_fd`, names prefixed with `prefix` ("", "x/", "./");
        with `include_self`, the directory too, named `prefix`."""
        if include_self:
            self._entry(dir_fd, os.fstat(dir_fd), prefix)
        # Depth first with an explicit stack: a deep tree must not exhaust Python's recursion.
        stack: list[tuple[int, Iterator[str], str]] = []
        try:
            stack.append(self._listing(dir_fd, prefix))
            while stack:
                parent_fd, names, pfx = stack[-1]
                name = next(names, None)
                if name is None:
                    os.close(stack.pop()[0])
                    continue
                try:
                    fd = os.open(name, _PATH_NOFOLLOW, dir_fd=parent_fd)
                except FileNotFoundError:
                    continue
                try:
                    st = os.fstat(fd)
                    self._entry(fd, st, pfx + name)
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(self._listing(fd, pfx + name + "/"))
                finally:
                    os.close(fd)
        finally:
            for listing_fd, _, _ in stack:
                os.close(listing_fd)

    @staticmethod
    def _listing(path_fd: int, prefix: str) -> tuple[int, Iterator[str], str]:
        fd = reopen(path_fd, os.O_RDONLY | os.O_DIRECTORY)
        try:
            names = sorted(os.listdir(fd))
        except BaseException:
            os.close(fd)
            raise
        return fd, iter(names), prefix

    def _entry(self, fd: int, st: os.stat_result, arcname: str) -> None:
        info = tarfile.TarInfo(arcname)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.mtime = int(st.st_mtime)  # a float would cost a PAX header per entry
        mode = st.st_mode
        if stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self._links:
                info.type = tarfile.LNKTYPE
                info.linkname = self._links[key]
                self.tar.addfile(info)
                return
            if st.st_nlink > 1:
                self._links[key] = arcname
            data_fd = reopen(fd, os.O_RDONLY)
            try:
                info.size = st.st_size
                pax: dict[str, str] = {}
                for xattr in _EXPORTED_XATTRS:
                    try:
                        value = os.getxattr(data_fd, xattr)
                    except OSError:
                        continue
                    pax[_XATTR_PAX_PREFIX + xattr] = value.decode("utf-8", "surrogateescape")
                info.pax_headers = pax
                self.tar.addfile(info, _ExactReader(data_fd, st.st_size))
            finally:
                os.close(data_fd)
            return
        if stat.S_ISDIR(mode):
            info.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(mode):
            info.type = tarfile.SYMTYPE
            info.linkname = os.readlink("", dir_fd=fd)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif stat.S_ISFIFO(mode):
            info.type = tarfile.FIFOTYPE
        else:
            return  # sockets do not travel in tars (dockerd skips them too)
        self.tar.addfile(info)


# ---- tar in -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExtractOptions:
    no_overwrite_dir_non_dir: bool = False  # refuse to replace a directory by a file or back
    owner: tuple[int, int] | None = None  # chown everything to (uid, gid): the API's copyUIDGID


@dataclass
class _DirTimes:
    parts: list[str]
    ino: tuple[int, int]
    mtime_ns: int


@dataclass
class _Extraction:
    dest: RootedDir
    options: ExtractOptions
    dir_times: list[_DirTimes] = field(default_factory=list)

    def entry(self, tf: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = member_parts(member.name)
        if not parts:
            return  # "." is the destination itself, which stays as it is
        with self.dest.walk(parts[:-1], mkdir_mode=0o755) as parent:
            self._write(tf, member, parent, parts)

    def _write(self, tf: tarfile.TarFile, member: tarfile.TarInfo, parent: RootedDir, parts: list[str]) -> None:
        name = parts[-1]
        try:
            existing: os.stat_result | None = os.stat(name, dir_fd=parent.fd, follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        keep_dir = False
        if existing is not None:
            was_dir = stat.S_ISDIR(existing.st_mode)
            if self.options.no_overwrite_dir_non_dir and was_dir != member.isdir():
                what = "directory" if was_dir else "non-directory"
                raise InvalidArgument(
                    f"cannot overwrite {what} {parent.path.rstrip('/')}/{name} with "
                    f"{'directory' if member.isdir() else 'non-directory'} {member.name}")
            keep_dir = was_dir and member.isdir()
            if not keep_dir and not member.islnk():
                _remove(parent.fd, name, was_dir)
        uid, gid = self.options.owner or (member.uid, member.gid)
        times = (_mtime_ns(member), _mtime_ns(member))
        if member.isreg():
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=parent.fd)
            try:
                src = tf.extractfile(member)
                if src is not None:
                    with src, os.fdopen(fd, "wb", closefd=False) as dst:
                        shutil.copyfileobj(src, dst, COPY_CHUNK)
                os.fchown(fd, uid, gid)
                os.fchmod(fd, member.mode & 0o7777)  # after chown, which clears setuid bits
                _set_xattrs(fd, member)
                os.utime(fd, ns=times)
            finally:
                os.close(fd)
        elif member.isdir():
            if not keep_dir:
                os.mkdir(name, 0o700, dir_fd=parent.fd)
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent.fd)
            try:
                os.fchown(fd, uid, gid)
                os.fchmod(fd, member.mode & 0o7777)
                _set_xattrs(fd, member)
                st = os.fstat(fd)
            finally:
                os.close(fd)
            # Its mtime is set last: every child written into it changes it again.
            self.dir_times.append(_DirTimes(parts, (st.st_dev, st.st_ino), times[1]))
        elif member.issym():
            os.symlink(member.linkname, name, dir_fd=parent.fd)
            os.chown(name, uid, gid, dir_fd=parent.fd, follow_symlinks=False)
            os.utime(name, ns=times, dir_fd=parent.fd, follow_symlinks=False)
        elif member.islnk():
            self._hardlink(member, parent, name, existing)
        elif member.ischr() or member.isblk() or member.isfifo():
            if member.isfifo():
                os.mkfifo(name, 0o600, dir_fd=parent.fd)
            else:
                kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
                os.mknod(name, kind | 0o600, os.makedev(member.devmajor, member.devminor), dir_fd=parent.fd)
            os.chown(name, uid, gid, dir_fd=parent.fd, follow_symlinks=False)
            _chmod_node(parent.fd, name, member.mode & 0o7777)
            os.utime(name, ns=times, dir_fd=parent.fd, follow_symlinks=False)
        # other types (sockets, GNU oddities) are skipped, as dockerd does

    def _hardlink(self, member: tarfile.TarInfo, parent: RootedDir, name: str,
                  existing: os.stat_result | None) -> None:
        target = member_parts(member.linkname)
        if not target:
            raise InvalidArgument(f"invalid archive: hardlink {member.name!r} -> {member.linkname!r}")
        source_dir, source = self.dest.locate(target)
        with source_dir:
            try:
                st = os.stat(source, dir_fd=source_dir.fd, follow_symlinks=False)
            except FileNotFoundError:
                raise InvalidArgument(
                    f"invalid archive: hardlink {member.name!r} to {member.linkname!r}, which is not there") from None
            if stat.S_ISDIR(st.st_mode):
                raise InvalidArgument(f"invalid archive: hardlink {member.name!r} to a directory")
            if existing is not None:
                if (existing.st_dev, existing.st_ino) == (st.st_dev, st.st_ino):
                    return
                _remove(parent.fd, name, stat.S_ISDIR(existing.st_mode))
            # follow_symlinks=False: a link to a symlink links the symlink, never what it points to.
            os.link(source, name, src_dir_fd=source_dir.fd, dst_dir_fd=parent.fd, follow_symlinks=False)

    def finish(self) -> None:
        for item in sorted(self.dir_times, key=lambda d: len(d.parts), reverse=True):
            try:
                d = self.dest.walk(item.parts)
            except OSError:
                continue  # replaced by a later entry
            with d:
                st = os.fstat(d.fd)
                if (st.st_dev, st.st_ino) == item.ino:
                    os.utime(f"/proc/self/fd/{d.fd}", ns=(item.mtime_ns, item.mtime_ns))


def member_parts(name: str) -> list[str]:
    """A tar member's name as components under the destination; refuses `..` above it.

    A leading "/" means the destination, as dockerd reads it."""
    clean = posixpath.normpath("/" + name)
    if clean.startswith("//"):
        clean = "/" + clean.lstrip("/")
    # normpath("/" + "../x") is "/x": check the original for a `..` that climbs out.
    depth = 0
    for part in name.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                raise InvalidArgument(f"invalid archive: {name!r} points outside the destination")
        elif part not in ("", "."):
            depth += 1
    return [p for p in clean.split("/") if p]


def _remove(dir_fd: int, name: str, is_dir: bool) -> None:
    if is_dir:
        shutil.rmtree(name, dir_fd=dir_fd)  # fd-based: never follows a symlink inside
    else:
        os.unlink(name, dir_fd=dir_fd)


def _chmod_node(dir_fd: int, name: str, mode: int) -> None:
    """chmod what we just made, never a symlink the container may have swapped in."""
    fd = os.open(name, _PATH_NOFOLLOW, dir_fd=dir_fd)
    try:
        st_mode = os.fstat(fd).st_mode
        if stat.S_ISLNK(st_mode) or stat.S_ISDIR(st_mode) or stat.S_ISREG(st_mode):
            raise InvalidArgument(f"{name} changed while it was being extracted")
        os.chmod(f"/proc/self/fd/{fd}", mode)
    finally:
        os.close(fd)


def _mtime_ns(member: tarfile.TarInfo) -> int:
    return int(float(member.mtime) * 1_000_000_000)


def _set_xattrs(fd: int, member: tarfile.TarInfo) -> None:
    for key, value in member.pax_headers.items():
        if not key.startswith(_XATTR_PAX_PREFIX):
            continue
        name = key[len(_XATTR_PAX_PREFIX):]
        if not name.startswith(_RESTORED_XATTR_NAMESPACES):
            continue  # trusted.overlay.* and friends would be read by the kernel, not the container
        with contextlib.suppress(OSError):  # the filesystem may not take it; dockerd ignores that too
            os.setxattr(fd, name, value.encode("utf-8", "surrogateescape"))


def extraction_dir(root_fd: int, path: str, container: str) -> RootedDir:
    """The directory a PUT extracts into: the whole path followed, which must be a directory."""
    abs_path = container_path(path)
    with RootedDir.open_root(root_fd) as root:
        try:
            return root.walk(abs_path)
        except FileNotFoundError:
            raise NotFound(f"Could not find the file {path} in container {container}") from None
        except NotADirectoryError:
            raise InvalidArgument("extraction point is not a directory") from None
        except OSError as e:
            raise _path_error(path, e) from None


def extract(dest: RootedDir, source: ByteSource, options: ExtractOptions) -> None:
    """Extract the (possibly compressed) tar `source` into `dest`. Blocking: use a thread."""
    job = _Extraction(dest, options)
    try:
        with tarfile.open(fileobj=source, mode="r|*", encoding="utf-8",  # type: ignore[call-overload]
                          errors="surrogateescape") as tf:
            while (member := tf.next()) is not None:
                job.entry(tf, member)
                tf.members.clear()  # stream mode keeps every header otherwise
        job.finish()
    except tarfile.TarError as e:
        raise InvalidArgument(f"invalid tar archive: {e}") from None
    except NotADirectoryError as e:
        raise InvalidArgument(f"cannot extract: {e.filename} is not a directory") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise InvalidArgument(f"cannot extract: too many levels of symbolic links at {e.filename}") from None
        raise


def container_owner(root_fd: int, user: str) -> tuple[int, int]:
    """The uid and gid of the container's configured user, read from its own passwd/group."""
    resolved = resolve_user(Path(f"/proc/self/fd/{root_fd}"), user)
    return resolved.uid, resolved.gid
