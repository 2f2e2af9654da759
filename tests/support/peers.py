"""A private stock dockerd, the peer Berth is compared with in tests and benchmarks.

It runs in its own data and exec roots with `--bridge=none --iptables=false`, so it
neither touches the host's network nor berthd's rules, and is removed afterwards."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.support.api import RawApi
from tests.support.daemon import unmount_under


def dockerd_missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if not shutil.which("dockerd"):
        return "needs Debian's docker.io (dockerd)"
    return None


class PrivateDockerd:
    def __init__(self, base: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.base = base
        self.extra_args = extra_args  # e.g. a TLS listener: -H tcp://127.0.0.1:N --tlsverify ...
        self.socket = base / "docker.sock"
        self.log = base / "dockerd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.api = RawApi(self.socket)

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 60) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                ["dockerd", "--data-root", str(self.base / "data"), "--exec-root", str(self.base / "exec"),
                 "-H", self.url, "--pidfile", str(self.base / "dockerd.pid"), "--bridge=none",
                 "--iptables=false", "--ip6tables=false", "--storage-driver=overlay2",
                 "--default-ulimit", "nofile=20000:20000", *self.extra_args],
                stdout=log, stderr=log, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                if self.socket.exists() and self.api.request("GET", "/_ping")[0] == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"dockerd did not answer within {timeout}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        # containerd-shims outlive a killed dockerd; end those of this instance.
        subprocess.run(["pkill", "-f", str(self.base / "exec")], capture_output=True)
        unmount_under(self.base)
        shutil.rmtree(self.base, ignore_errors=True)
