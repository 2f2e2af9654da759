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

from tests.support.daemon import REPO, Berthd
from vmhost.ports import UnixHTTPConnection


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


def expected_bridges(daemon: Berthd) -> dict[str, str]:
    """bridge device -> network name, for every bridge network the daemon lists."""
    from engine.networks.config import config_for

    default = config_for(daemon.exec_root).bridge_name
    found: dict[str, str] = {}
    for n in daemon.api.json("GET", "/networks"):
        if n.get("Driver") not in ("bridge", "overlay") or n["Name"] in ("host", "none"):
            continue
        name = (n.get("Options") or {}).get("com.docker.network.bridge.name")
        found[name or (default if n["Name"] == "bridge" else f"br-{n['Id'][:12]}")] = n["Name"]
    return found


def network_leftovers(daemon: Berthd, running: set[str]) -> list[str]:
    """What the kernel holds for this daemon that its store does not explain: a bridge without a network,
    a network without its bridge, a veth of a container that is not running, a firewall rule naming a
    bridge that is gone or sending traffic to an address no running container has."""
    from engine.networks import links
    from engine.networks.config import config_for
    from engine.networks.firewall import Chains, Firewall

    config = config_for(daemon.exec_root)
    bridges = expected_bridges(daemon)
    owned = links.owned_links(config.alias_tag)
    found = [f"network {name} has no bridge {dev}" for dev, name in bridges.items()
             if not any(link.name == dev for link in owned)]
    for link in owned:
        if link.kind == "bridge" and link.name not in bridges:
            found.append(f"bridge {link.name} belongs to no network")
        if link.kind == "veth" and link.owner.partition(":")[0] not in running:
            found.append(f"veth {link.name} of {link.owner[:12]}, which is not running")
    addresses = set()
    for cid in running:
        info = daemon.api.request("GET", f"/containers/{cid}/json")
        if info[0] == 200:
            nets = json.loads(info[2])["NetworkSettings"]["Networks"] or {}
            addresses |= {n.get("IPAddress") for n in nets.values()}
    for rule in Firewall(Chains(config.chain_prefix)).leftovers():
        words = rule.split()
        for flag in ("-i", "-o"):
            if flag in words and words[words.index(flag) + 1] not in bridges:
                found.append(f"firewall rule for a bridge that is gone: {rule}")
        if "--to-destination" in words:
            to = words[words.index("--to-destination") + 1].rpartition(":")[0]
            if to not in addresses:
                found.append(f"firewall rule to {to}, which no running container has: {rule}")
    return found


def leftovers(daemon: Berthd) -> list[str]:
    """Everything mounted, namespaced, plugged or ruled that belongs to no running container or
    listed network (test_faults' check, with bridges and firewall rules)."""
    containers = daemon.api.json("GET", "/containers/json?all=1")
    running = {str(c["Id"]) for c in containers if c["State"] in ("running", "paused")}
    found = [f"orphaned mount {point}" for point in mounts_under(daemon.base)
             if not any(cid in point for cid in running)]
    netns = daemon.exec_root / "netns"
    left = {p.name for p in netns.iterdir()} if netns.is_dir() else set()
    found += [f"orphaned network namespace {name}" for name in left - running]
    live = {cid for cid, status in runtime_ids(daemon).items() if status != "stopped"}
    found += [f"runtime has a container berthd does not run: {cid}" for cid in live - running]
    return found + network_leftovers(daemon, running)


def wait_for_no_leftovers(daemon: Berthd, timeout: float = 30) -> list[str]:
    """berthd serves while its network reconciliation (queued behind the networks' lock) removes what a
    crash left: poll, bounded, and return what is still left."""
    last: list[str] = []

    def clear() -> bool:
        nonlocal last
        last = leftovers(daemon)
        return not last

    wait_until(clear, timeout=timeout, interval=0.2)
    return last


def process_figures(pid: int) -> tuple[int, int]:
    """(resident set in KiB, open file descriptors) of a process."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))
