"""Test images built here, from Debian's busybox-static: no registry needed."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

BUSYBOX = "/bin/busybox"


def busybox_available() -> bool:
    if not Path(BUSYBOX).exists():
        return False
    out = subprocess.run(["file", "-L", BUSYBOX], capture_output=True, text=True) if shutil.which("file") else None
    return out is None or "dynamically" not in out.stdout


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    tar.addfile(info)


def busybox_rootfs_tar(dest: Path) -> Path:
    """A rootfs tar: /bin/busybox, a symlink per applet, /etc/passwd and /etc/group."""
    applets = subprocess.run([BUSYBOX, "--list-full"], check=True, capture_output=True, text=True).stdout.split()
    with tarfile.open(dest, "w") as tar:
        for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "tmp", "proc", "sys", "dev", "root",
                  "home", "var", "home/guest"):
            _add_dir(tar, d, 0o1777 if d == "tmp" else 0o755)
        info = tar.gettarinfo(BUSYBOX, arcname="bin/busybox")
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        with open(BUSYBOX, "rb") as f:
            tar.addfile(info, f)
        for applet in applets:
            if applet == "bin/busybox":
                continue
            link = tarfile.TarInfo(applet)
            link.type = tarfile.SYMTYPE
            link.linkname = "/bin/busybox"
            tar.addfile(link)
        _add_file(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                                     b"guest:x:1000:1000:guest:/home/guest:/bin/sh\n"
                                     b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
        _add_file(tar, "etc/group", b"root:x:0:\nguest:x:1000:\nusers:x:100:guest\nnogroup:x:65534:\n")
    return dest
