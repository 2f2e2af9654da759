"""Test images built here, from Debian's busybox-static: no registry needed."""

from __future__ import annotations

import io
import os
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


def busybox_rootfs_tar(dest: Path, binary: str = BUSYBOX) -> Path:
    """A rootfs tar: /bin/busybox (`binary`, the host's unless another architecture's is given), a
    symlink per applet (the host's busybox lists them: the same Debian version), /etc/passwd and /etc/group."""
    applets = subprocess.run([BUSYBOX, "--list-full"], check=True, capture_output=True, text=True).stdout.split()
    with tarfile.open(dest, "w") as tar:
        for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "tmp", "proc", "sys", "dev", "root",
                  "home", "var", "home/guest"):
            _add_dir(tar, d, 0o1777 if d == "tmp" else 0o755)
        info = tar.gettarinfo(binary, arcname="bin/busybox")
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        with open(binary, "rb") as f:
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


FOREIGN_CACHE = Path(os.environ.get("BERTH_TEST_CACHE", "/var/cache/berth/tests"))
_DEB_ARCH = {"arm64": "arm64", "amd64": "amd64", "arm": "armhf", "riscv64": "riscv64"}


def foreign_busybox(arch: str, cache: Path = FOREIGN_CACHE) -> Path | None:
    """Debian's busybox-static for another architecture (`arm64`), fetched once with apt into a private
    state directory (the host's dpkg is never told about the architecture); None when apt cannot."""
    deb_arch = _DEB_ARCH.get(arch, arch)
    root = cache / f"busybox-{deb_arch}"
    binary = root / "bin" / "busybox"
    if binary.exists():
        return binary
    apt = cache / f"apt-{deb_arch}"
    for d in (apt / "lists" / "partial", apt / "cache" / "archives" / "partial"):
        d.mkdir(parents=True, exist_ok=True)
    opts = ["-q", "-o", f"APT::Architectures={platform_deb_arch()},{deb_arch}", "-o", f"Dir::State::Lists={apt}/lists",
            "-o", f"Dir::Cache={apt}/cache"]
    # An index that fails (a security mirror caught mid-sync) fails the update as a whole, yet the
    # package may be listed by the others: the download below says whether it was.
    subprocess.run(["apt-get", *opts, "update"], capture_output=True, cwd=apt, timeout=300)
    if subprocess.run(["apt-get", *opts, "download", f"busybox-static:{deb_arch}"], capture_output=True, cwd=apt,
                      timeout=300).returncode != 0:
        return None
    debs = sorted(apt.glob(f"busybox-static_*_{deb_arch}.deb"))
    if not debs:
        return None
    unpacked = root.with_name(root.name + ".tmp")
    shutil.rmtree(unpacked, ignore_errors=True)
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(unpacked)], check=True, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)
    unpacked.rename(root)
    return binary if binary.exists() else None


def platform_deb_arch() -> str:
    out = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True)
    return out.stdout.strip() or "amd64"
