"""Images the benchmark makes itself (no public registry is reachable): busybox from Debian's
busybox-static, and a large multi-layer image of random-ish data for the pull workload."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import subprocess
import tarfile
from pathlib import Path

BUSYBOX = "/bin/busybox"
FILE_BYTES = 8 << 20  # files of 8 MiB inside each layer


def busybox_rootfs_tar(dest: Path) -> Path:
    """A rootfs tar: /bin/busybox, a symlink per applet, /etc/passwd and /etc/group."""
    applets = subprocess.run([BUSYBOX, "--list-full"], check=True, capture_output=True, text=True).stdout.split()
    with tarfile.open(dest, "w") as tar:
        for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "tmp", "proc", "sys", "dev", "root", "var"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        info = tar.gettarinfo(BUSYBOX, arcname="bin/busybox")
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        with open(BUSYBOX, "rb") as f:
            tar.addfile(info, f)
        for applet in applets:
            if applet != "bin/busybox":
                link = tarfile.TarInfo(applet)
                link.type = tarfile.SYMTYPE
                link.linkname = "/bin/busybox"
                tar.addfile(link)
        for name, data in (("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"), ("etc/group", b"root:x:0:\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return dest


def _randomish(rng: random.Random, size: int) -> bytes:
    """Half random bytes, half repeated text: gzip takes it to about half, like real binaries."""
    out = bytearray()
    while len(out) < size:
        out += rng.randbytes(32 << 10)
        out += (b"berth benchmark layer data %08d\n" % rng.randrange(10**8)) * 1024
    return bytes(out[:size])


def big_image(dest: Path, total_mb: int, layers: int, seed: int = 45) -> tuple[Path, list[Path], int]:
    """Write gzip'd layer tars and an image config into `dest`: (config, layers, uncompressed bytes).

    Deterministic for a seed, so every run pulls the same bytes."""
    dest.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    per_layer = max(1, total_mb // layers) << 20
    paths: list[Path] = []
    diff_ids: list[str] = []
    uncompressed = 0
    for n in range(layers):
        path = dest / f"layer{n}.tar.gz"
        raw = hashlib.sha256()
        with open(path, "wb") as out, gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1, mtime=0) as gz:
            hashing = _HashingWriter(gz, raw)
            with tarfile.open(fileobj=hashing, mode="w|") as tar:
                written = 0
                index = 0
                while written < per_layer:
                    size = min(FILE_BYTES, per_layer - written)
                    info = tarfile.TarInfo(f"data/layer{n}/blob{index:04d}.bin")
                    info.size = size
                    tar.addfile(info, io.BytesIO(_randomish(rng, size)))
                    written += size
                    index += 1
            uncompressed += hashing.count
        paths.append(path)
        diff_ids.append("sha256:" + raw.hexdigest())
    config = dest / "config.json"
    config.write_text(json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"bench layer {n}"} for n in range(layers)],
    }))
    return config, paths, uncompressed


class _HashingWriter(io.RawIOBase):
    """Passes bytes on to `sink` and hashes them on the way: the layer's diff id, without a re-read."""

    def __init__(self, sink: gzip.GzipFile, digest: hashlib._Hash) -> None:
        self.sink = sink
        self.digest = digest
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.digest.update(data)
        self.sink.write(data)
        self.count += len(data)
        return len(data)
