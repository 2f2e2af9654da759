"""Images the benchmark makes itself (no public registry is reachable): busybox from Debian's
busybox-static, and a large multi-layer image of random-ish data for the pull workload."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from pathlib import Path

FILE_BYTES = 8 << 20  # files of 8 MiB inside each layer


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
