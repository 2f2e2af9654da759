"""Build layer tars in memory for tests, including malicious ones a real `tar` would not write."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

requires_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@dataclass
class TarBuilder:
    """Appends entries in the given order, with whatever names, to an in-memory tar."""

    buf: io.BytesIO = field(default_factory=io.BytesIO)
    mtime: int = 1_700_000_000

    def __post_init__(self) -> None:
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115 closed by bytes()

    def _info(self, name: str, type_: bytes, mode: int, **kw: object) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = type_
        info.mode = mode
        info.mtime = self.mtime
        for key, value in kw.items():
            setattr(info, key, value)
        return info

    def file(self, name: str, data: bytes = b"data", mode: int = 0o644, **kw: object) -> TarBuilder:
        info = self._info(name, tarfile.REGTYPE, mode, size=len(data), **kw)
        self.tar.addfile(info, io.BytesIO(data))
        return self

    def dir(self, name: str, mode: int = 0o755, **kw: object) -> TarBuilder:
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode, **kw))
        return self

    def symlink(self, name: str, target: str) -> TarBuilder:
        self.tar.addfile(self._info(name, tarfile.SYMTYPE, 0o777, linkname=target))
        return self

    def hardlink(self, name: str, target: str) -> TarBuilder:
        self.tar.addfile(self._info(name, tarfile.LNKTYPE, 0o644, linkname=target))
        return self

    def fifo(self, name: str, mode: int = 0o600) -> TarBuilder:
        self.tar.addfile(self._info(name, tarfile.FIFOTYPE, mode))
        return self

    def chardev(self, name: str, major: int, minor: int, mode: int = 0o666) -> TarBuilder:
        self.tar.addfile(self._info(name, tarfile.CHRTYPE, mode, devmajor=major, devminor=minor))
        return self

    def bytes(self) -> bytes:
        self.tar.close()
        return self.buf.getvalue()


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)


def busybox_rootfs_tar(workdir: Path) -> bytes:
    """A `FROM scratch` + static busybox rootfs: /bin/busybox and a symlink per applet."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    rootfs = workdir / "busybox-rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy2(busybox, rootfs / "bin" / "busybox")
    applets = subprocess.run([busybox, "--list-full"], check=True, capture_output=True, text=True).stdout
    for applet in applets.split():
        link = rootfs / applet
        if link.name == "busybox" or link.exists():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/bin/busybox")
    for name in ("tmp", "etc", "root"):
        (rootfs / name).mkdir(exist_ok=True)
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(rootfs, arcname=".", filter=_root_owned)
    return buf.getvalue()


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info
