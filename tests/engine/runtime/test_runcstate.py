"""runc's start, and its delete of a stopped container, done in berthd: against the real runc, whose own
`state` and `delete` are the evidence that the container ran and that nothing of it is left."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.runtime import runcstate
from engine.runtime.spec import RuntimeSpec, build_config

BUSYBOX = Path("/bin/busybox")
RUNC = shutil.which("runc")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="runc needs root"),
    pytest.mark.skipif(RUNC is None, reason="runc is not installed"),
    pytest.mark.skipif(not BUSYBOX.exists(), reason="/bin/busybox (busybox-static) is not installed"),
]


class Runc:
    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "runc-state"
        self.bundle = tmp_path / "bundle"
        rootfs = self.bundle / "rootfs"
        for directory in ("bin", "proc", "sys", "dev", "tmp", "etc"):
            (rootfs / directory).mkdir(parents=True)
        shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
        for applet in ("sh", "sleep", "touch", "true"):
            (rootfs / "bin" / applet).symlink_to("busybox")
        self.made: list[str] = []

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(RUNC), "--root", str(self.root), *args], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=60, check=check)

    def create(self, script: str, **config: Any) -> str:
        cid = f"berth-test-{uuid.uuid4().hex[:12]}"
        spec = RuntimeSpec(container_id=cid, rootfs=self.bundle / "rootfs", args=["sh", "-c", script], env=[],
                           cgroups_path=f"/{cid}")
        built, _ = build_config(spec)
        (self.bundle / "config.json").write_text(json.dumps({**built, **config}))
        self.made.append(cid)
        # Not captured: the container's process inherits runc's stdio and would hold a pipe open.
        subprocess.run([str(RUNC), "--root", str(self.root), "create", "--bundle", str(self.bundle), cid],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=60, check=True)
        return cid

    def status(self, cid: str) -> str:
        out = self.cli("state", cid, check=False)
        return str(json.loads(out.stdout)["status"]) if out.returncode == 0 else "gone"

    def wait_status(self, cid: str, want: str) -> None:
        deadline = time.monotonic() + 10
        while self.status(cid) != want:
            assert time.monotonic() < deadline, f"{cid} never became {want}: {self.status(cid)}"
            time.sleep(0.02)

    def cgroups(self, cid: str) -> set[str]:
        state = json.loads((self.root / cid / "state.json").read_text())
        return {str(p) for p in state["cgroup_paths"].values() if p}


@pytest.fixture
def runc(tmp_path: Path) -> Iterator[Runc]:
    r = Runc(tmp_path)
    yield r
    for cid in r.made:
        r.cli("delete", "--force", cid, check=False)


def test_start_then_delete_once_stopped(runc: Runc) -> None:
    cid = runc.create("touch /tmp/started; sleep 30")
    assert runc.status(cid) == "created"
    assert asyncio.run(runcstate.start(runc.root / cid))
    assert runc.status(cid) == "running"
    assert not (runc.root / cid / runcstate.FIFO).exists()
    deadline = time.monotonic() + 10
    while not (runc.bundle / "rootfs" / "tmp" / "started").exists():
        assert time.monotonic() < deadline, "the container's process never ran"
        time.sleep(0.02)
    cgroups = runc.cgroups(cid)
    assert cgroups and all(Path(p).is_dir() for p in cgroups)

    assert not runcstate.delete_stopped(runc.root / cid)  # running: runc's to kill
    assert runc.status(cid) == "running" and all(Path(p).is_dir() for p in cgroups)

    runc.cli("kill", cid, "KILL")
    runc.wait_status(cid, "stopped")
    assert runcstate.delete_stopped(runc.root / cid)
    assert runc.status(cid) == "gone"
    assert not (runc.root / cid).exists()
    assert not any(Path(p).exists() for p in cgroups)
    assert runcstate.delete_stopped(runc.root / cid)  # gone already: nothing to do


def test_start_leaves_what_is_not_plain_to_runc(runc: Runc) -> None:
    assert not asyncio.run(runcstate.start(runc.root / "never-created"))

    started = runc.create("true")
    assert asyncio.run(runcstate.start(runc.root / started))
    assert not asyncio.run(runcstate.start(runc.root / started))  # no fifo any more: runc says why

    dead = runc.create("true")
    pid = json.loads((runc.root / dead / "state.json").read_text())["init_process_pid"]
    os.kill(pid, signal.SIGKILL)  # runc init gone before its turn
    began = time.monotonic()
    assert not asyncio.run(runcstate.start(runc.root / dead))
    assert time.monotonic() - began < 2


def test_delete_leaves_a_poststop_hook_to_runc(runc: Runc, tmp_path: Path) -> None:
    marker = tmp_path / "hook-ran"
    cid = runc.create("true", hooks={"poststop": [{"path": "/bin/sh", "args": ["sh", "-c", f"touch {marker}"]}]})
    assert asyncio.run(runcstate.start(runc.root / cid))
    runc.wait_status(cid, "stopped")
    assert not runcstate.delete_stopped(runc.root / cid)
    assert (runc.root / cid).exists()
    runc.cli("delete", cid)
    assert marker.exists()
