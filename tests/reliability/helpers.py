"""Shared by the reliability tests: private daemons that tests may kill, and leftover inspection."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.api import UnixHTTPConnection
from tests.support.daemon import REPO, Berthd


@contextlib.contextmanager
def private_berthd(base: Path, start: bool = True) -> Iterator[Berthd]:
    """A berthd of the test's own, so that killing it touches no other test."""
    daemon = Berthd(base)
    try:
        if start:
            daemon.start()
        yield daemon
    finally:
        if daemon.proc is None:
            with contextlib.suppress(RuntimeError):
                daemon.start()  # restart it so that cleanup can remove containers through the API
        daemon.cleanup()


def sigkill(daemon: Berthd) -> None:
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait(10)
    daemon.proc = None


def run_check(daemon: Berthd, *extra: str) -> tuple[int, dict[str, Any]]:
    """`python -m engine.check` on a stopped daemon's roots; the exit code and the JSON report."""
    out = subprocess.run([sys.executable, "-m", "engine.check", "--root", str(daemon.root), "--exec-root",
                          str(daemon.exec_root), "--json", *extra], capture_output=True, text=True, cwd=REPO,
                         timeout=120)
    assert out.returncode in (0, 1), out.stderr
    return out.returncode, json.loads(out.stdout)


def import_tar(daemon: Berthd, tar: bytes, repo: str, tag: str = "latest") -> str:
    status, _, body = daemon.api.request("POST", f"/images/create?fromSrc=-&repo={repo}&tag={tag}", tar,
                                         {"Content-Type": "application/x-tar"})
    assert status == 200, body
    last = json.loads(body.decode().strip().splitlines()[-1])
    assert "error" not in last, last
    return str(last["status"])


def stream_lines(daemon: Berthd, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None, timeout: float = 120) -> Iterator[dict[str, Any]]:
    """The JSON lines of a streaming answer, as they arrive."""
    conn = UnixHTTPConnection(daemon.socket, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()
        while line := resp.readline():
            if line.strip():
                yield json.loads(line)
    finally:
        conn.close()


def mounts_under(base: Path) -> list[str]:
    prefix = str(base.resolve()) + "/"
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(prefix)]


def bridge_ports(daemon: Berthd) -> list[str]:
    """The veths plugged into the daemon's default bridge."""
    from engine.networks.config import config_for

    bridge = config_for(daemon.exec_root).bridge_name
    out = subprocess.run(["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True)
    return [line.split(":")[1].strip().split("@")[0] for line in out.stdout.splitlines() if ":" in line]


def runtime_ids(daemon: Berthd) -> dict[str, str]:
    """id -> status, from the OCI runtime's own state."""
    state = daemon.exec_root / "runtime"
    found: dict[str, str] = {}
    for runtime in ("runc", "crun"):
        out = subprocess.run([runtime, f"--root={state}", "list", "--format", "json"], capture_output=True,
                             text=True)
        if out.returncode == 0 and out.stdout.strip():
            for item in json.loads(out.stdout) or []:
                found[item["id"]] = item["status"]
    return found


def oci_layout_with_big_layer(dest: Path, size: int) -> Path:
    """An OCI image layout whose one layer holds `size` random bytes, stored uncompressed so that
    pushing it costs no compression time. Returns the layout dir (`oci:<dir>:big`)."""
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> tuple[str, int]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return f"sha256:{digest}", len(data)

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("big.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(os.urandom(size)))
    layer = buf.getvalue()
    # gzip level 1: fast, and random data stays the same size, so the download stays long.
    gz = gzip.compress(layer, compresslevel=1, mtime=0)
    diff_id = f"sha256:{hashlib.sha256(layer).hexdigest()}"
    layer_digest, layer_size = put(gz)
    config = {"architecture": "amd64" if os.uname().machine == "x86_64" else "arm64", "os": "linux",
              "config": {"Cmd": ["/big.bin"]}, "rootfs": {"type": "layers", "diff_ids": [diff_id]},
              "created": "2024-01-01T00:00:00Z"}
    config_digest, config_size = put(json.dumps(config).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                           "size": config_size},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest,
                            "size": layer_size}]}
    manifest_digest, manifest_size = put(json.dumps(manifest).encode())
    (dest / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
         "size": manifest_size, "annotations": {"org.opencontainers.image.ref.name": "big"}}]}))
    return dest


def wait_until(check: Any, timeout: float = 15, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return bool(check())
