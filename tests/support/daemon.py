"""Run a private berthd in a temp dir, and leave nothing behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

from tests.support.api import RawApi

REPO = Path(__file__).resolve().parents[2]


def prerequisites_missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if not shutil.which("conmon"):
        return "needs conmon"
    if not (shutil.which("runc") or shutil.which("crun")):
        return "needs runc or crun"
    return None


class Berthd:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "root"
        self.exec_root = base / "run"
        self.socket = base / "berth.sock"
        self.log = base / "berthd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.api = RawApi(self.socket)

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 20) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "engine.daemon", "--root", str(self.root), "--exec-root",
                 str(self.exec_root), "--host", self.url, "--log-level", "debug"],
                stdout=log, stderr=log, cwd=REPO, start_new_session=True,
                # the embedded DNS never forwards a test's unknown names to the host's real resolvers
                env={**os.environ, "BERTH_DNS_FORWARDERS": ""},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._failed(f"berthd exited with {self.proc.returncode}")
            if self.socket.exists():
                try:
                    status, _, _ = self.api.request("GET", "/_ping")
                    if status == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        self._failed(f"berthd did not answer within {timeout}s")

    def _failed(self, what: str) -> NoReturn:
        """A start that failed undoes what the daemon made before it failed (its default bridge and
        rules among them: left behind, they exhaust the address pools of every engine here)."""
        log = self.log.read_text(errors="replace")
        self.cleanup()
        raise RuntimeError(f"{what}:\n{log}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def remove_all_containers(self) -> None:
        status, _, data = self.api.request("GET", "/containers/json?all=1")
        if status != 200:
            return
        import json

        for c in json.loads(data):
            self.api.request("DELETE", f"/containers/{c['Id']}?force=1")

    def cleanup(self) -> None:
        """Remove containers, stop the daemon, and undo anything left: mounts, runtime state."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.remove_all_containers()
        self.stop()
        for runtime in ("runc", "crun"):
            state = self.exec_root / "runtime"
            if shutil.which(runtime) and state.exists():
                out = subprocess.run([runtime, f"--root={state}", "list", "-q"], capture_output=True, text=True)
                for cid in out.stdout.split():
                    subprocess.run([runtime, f"--root={state}", "delete", "--force", cid], capture_output=True)
        teardown_networks(self.exec_root)
        unmount_under(self.base)
        if os.environ.get("BERTH_KEEP_TEST_LOGS"):  # for a post-mortem: keep the daemon's log
            keep = Path(os.environ["BERTH_KEEP_TEST_LOGS"]) / f"{self.base.name}-berthd.log"
            keep.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                shutil.copyfile(self.log, keep)
        shutil.rmtree(self.base, ignore_errors=True)


def teardown_networks(exec_root: Path) -> None:
    """The daemon's bridges, veths, namespaces and iptables chains outlive it: remove them."""
    from engine.networks.config import config_for
    from engine.networks.service import teardown

    with contextlib.suppress(Exception):
        teardown(config_for(exec_root))


def unmount_under(base: Path) -> None:
    prefix = str(base.resolve())
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
