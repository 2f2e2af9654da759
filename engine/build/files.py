"""The filesystem side of COPY, ADD and WORKDIR: an image mounted as an overlay on a scratch upper
dir, files written into it confined to its root, and the upper dir kept as the step's layer.

Destinations are resolved inside the image's root as the container would see them (symlinks
followed, never out of the root), directories created on the way with the copy's owner, and
files written by the confined extractor `docker cp` uses (`engine/containers/archive.py`).
Everything here blocks: call it in a worker thread.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from engine.build.context import Source
from engine.containers.archive import ExtractOptions, TreeTar, extract
from engine.containers.confined import RootedDir
from engine.errors import InvalidArgument
from engine.storage import overlay
from engine.storage.difftar import LayerTarPipe

_DIR_NOFOLLOW = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PATH_NOFOLLOW = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


class ScratchRoot:
    """An image's root mounted read-write on a scratch upper dir: `merged` to work in, `upper`
    (after `unmount`) to commit. Lower-less images get an empty lower dir."""

    def __init__(self, scratch: Path, lowers: list[Path]) -> None:
        self.scratch = scratch
        self.upper = scratch / "upper"
        self.merged = scratch / "merged"
        self.lowers = lowers
        self.mounted = False

    def mount(self) -> ScratchRoot:
        for d in ("upper", "work", "merged", "empty"):
            (self.scratch / d).mkdir(parents=True, exist_ok=True)
        os.chmod(self.upper, 0o755)
        overlay.mount_rootfs(self.lowers or [self.scratch / "empty"], self.upper, self.scratch / "work",
                             self.merged)
        self.mounted = True
        return self

    def unmount(self) -> None:
        if self.mounted:
            overlay.unmount(self.merged)
            self.mounted = False

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.unmount()
        if not overlay.is_mounted(self.merged):
            shutil.rmtree(self.scratch, ignore_errors=True)


@contextlib.contextmanager
def mounted_image(scratch: Path, lowers: list[Path]) -> Iterator[Path]:
    """An image's root, to read COPY --from sources in; gone afterwards."""
    root = ScratchRoot(scratch, lowers).mount()
    try:
        yield root.merged
    finally:
        root.remove()


def ensure_dir(root: RootedDir, path: str, owner: tuple[int, int]) -> tuple[RootedDir, bool]:
    """The directory at `path` (canonical inside `root`), the missing parts created with mode 0755
    and `owner`. Returns it and whether anything was created."""
    parts = [p for p in path.split("/") if p]
    current = root.copy()
    created = False
    try:
        for part in parts:
            try:
                nxt = current.walk([part])
            except FileNotFoundError:
                os.mkdir(part, 0o755, dir_fd=current.fd)
                fd = os.open(part, _DIR_NOFOLLOW, dir_fd=current.fd)
                try:
                    os.fchown(fd, *owner)
                    os.fchmod(fd, 0o755)
                finally:
                    os.close(fd)
                created = True
                nxt = current.walk([part])
            except NotADirectoryError:
                raise InvalidArgument(f"cannot copy to {path}: /{part} is not a directory") from None
            current.close()
            current = nxt
    except BaseException:
        current.close()
        raise
    return current, created


def _exists_as_dir(root: RootedDir, path: str) -> bool:
    try:
        root.walk(path).close()
    except OSError:
        return False
    return True


def _source_tar(src: Source, arcname: str | None, chmod: int | None) -> LayerTarPipe:
    """A tar of one source: a directory's contents, or a file named `arcname`."""

    def produce(sink: BinaryIO) -> None:
        with TreeTar(sink) as tree:
            if chmod is not None:
                add = tree.tar.addfile

                def addfile(info: tarfile.TarInfo, f: object = None) -> None:
                    if info.isreg() or info.isdir():
                        info.mode = chmod
                    add(info, f)

                tree.tar.addfile = addfile
            if src.is_dir:
                fd = os.open(src.path, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
                try:
                    tree.add_directory_contents(fd, "", include_self=False)
                finally:
                    os.close(fd)
            else:
                parent = os.open(src.path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    tree.add(parent, src.path.name, arcname or src.base_name)
                finally:
                    os.close(parent)

    return LayerTarPipe(produce, name="copy-source")


def is_archive(path: Path) -> bool:
    """What ADD unpacks: a tar, plain or compressed with gzip, bzip2 or xz."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        head = os.pread(fd, 512, 0)
    finally:
        os.close(fd)
    if any(head.startswith(m) for m in _ARCHIVE_MAGIC):
        return True
    return len(head) >= 262 and head[257:262] == b"ustar"


def copy_into(root_path: Path, sources: list[Source], dest: str, workdir: str, owner: tuple[int, int],
              chmod: int | None, unpack_archives: bool) -> None:
    """COPY/ADD `sources` to `dest` in the root at `root_path`, with Docker's rules: a directory's
    contents are copied; a file lands inside `dest` when it ends with "/" or is a directory, else
    it becomes `dest`; several sources need a directory destination."""
    dest_abs = dest if dest.startswith("/") else posixpath.join(workdir or "/", dest)
    wants_dir = dest.endswith("/") or dest.endswith("/.") or dest in (".", "")
    with RootedDir.open_root(root_path) as root:
        target = root.canonical(posixpath.normpath(dest_abs))
        is_dir = wants_dir or _exists_as_dir(root, target)
        if len(sources) > 1 and not is_dir:
            raise InvalidArgument("When using COPY with more than one source file, the destination must be a "
                                  "directory and end with a /")
        for src in sources:
            if unpack_archives and not src.is_dir and is_archive(src.path):
                into, _ = ensure_dir(root, target, owner)
                with into, open(src.path, "rb") as f:
                    extract(into, f, ExtractOptions())
                continue
            if src.is_dir:
                into, _ = ensure_dir(root, target, owner)
                arcname = None
            elif is_dir:
                into, _ = ensure_dir(root, target, owner)
                arcname = src.base_name
            else:
                into, _ = ensure_dir(root, posixpath.dirname(target), owner)
                arcname = posixpath.basename(target)
            with into, _source_tar(src, arcname, chmod) as tar:
                extract(into, tar, ExtractOptions(owner=owner))


def make_workdir(root_path: Path, path: str) -> bool:
    """WORKDIR's directory (root's, 0755) if missing; whether it was made."""
    with RootedDir.open_root(root_path) as root:
        d, created = ensure_dir(root, root.canonical(path), (0, 0))
        d.close()
        return created
