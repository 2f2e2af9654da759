"""Debian's docker-registry (distribution 2.8) on 127.0.0.1, plain HTTP, in a temp dir; and a
minimal pusher that uploads a generated image straight into it (no engine involved, so no
engine's push speed leaks into the pull figures)."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import stop_popen

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def registry_missing() -> str | None:
    return None if shutil.which("docker-registry") else "needs Debian's docker-registry"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LoopbackRegistry:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        config = self.base / "config.yml"
        config.write_text("version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
                          f"storage:\n  filesystem:\n    rootdirectory: {self.base / 'data'}\n"
                          f"http:\n  addr: {self.host}\n")
        with open(self.base / "registry.log", "ab") as log:
            self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not answer on loopback")

    def stop(self) -> None:
        if self.proc is not None:
            stop_popen(self.proc, timeout=10)
            self.proc = None
        shutil.rmtree(self.base, ignore_errors=True)

    # -- pushing ---------------------------------------------------------------------------------

    def push_blob(self, repo: str, path: Path) -> tuple[str, int]:
        digest = "sha256:" + _sha256(path)
        size = path.stat().st_size
        req = urllib.request.Request(f"http://{self.host}/v2/{repo}/blobs/uploads/", method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=60) as resp:
            location = resp.headers["Location"]
        if location.startswith("/"):
            location = f"http://{self.host}{location}"
        sep = "&" if "?" in location else "?"
        with open(path, "rb") as body:
            put = urllib.request.Request(f"{location}{sep}digest={digest}", method="PUT", data=body,
                                         headers={"Content-Length": str(size),
                                                  "Content-Type": "application/octet-stream"})
            with urllib.request.urlopen(put, timeout=600):
                pass
        return digest, size

    def push_image(self, repo: str, tag: str, config: Path, layers: list[Path]) -> int:
        """Upload config and layers, then the manifest; the layers' total (compressed) size."""
        config_digest, config_size = self.push_blob(repo, config)
        entries: list[dict[str, Any]] = []
        for layer in layers:
            digest, size = self.push_blob(repo, layer)
            entries.append({"mediaType": LAYER_GZIP, "size": size, "digest": digest})
        manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_V2,
                               "config": {"mediaType": CONFIG_V1, "size": config_size, "digest": config_digest},
                               "layers": entries}).encode()
        req = urllib.request.Request(f"http://{self.host}/v2/{repo}/manifests/{tag}", method="PUT", data=manifest,
                                     headers={"Content-Type": MANIFEST_V2})
        try:
            with urllib.request.urlopen(req, timeout=60):
                pass
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"manifest push: {e.code} {e.read()[:300]!r}") from e
        return sum(int(e["size"]) for e in entries)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class GeneratedImage:
    ref: str
    compressed_bytes: int
    uncompressed_bytes: int
    layers: int
