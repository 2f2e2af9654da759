"""Run Debian's docker-registry (distribution 2.8) on loopback for a test, and stop it after.

Plain HTTP on 127.0.0.1 with a random free port; optionally htpasswd Basic auth or token auth
(the token server is the test's own). Nothing listens beyond loopback.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REGISTRY_BIN = "docker-registry"


def registry_missing() -> str | None:
    if shutil.which(REGISTRY_BIN) is None:
        return "needs Debian's docker-registry (apt-get install docker-registry)"
    return None


def require(*tools: str) -> None:
    """Skip the test unless every tool is on PATH (skopeo, umoci, htpasswd...)."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install skopeo umoci apache2-utils)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Registry:
    def __init__(self, base: Path, *, htpasswd: Path | None = None, token_realm: str | None = None,
                 token_cert: Path | None = None, service: str = "berth-test-registry",
                 issuer: str = "berth-test-issuer") -> None:
        self.base = base
        self.port = free_port()
        self.htpasswd = htpasswd
        self.token_realm = token_realm
        self.token_cert = token_cert
        self.service = service
        self.issuer = issuer
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = base / "registry.log"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def _config(self) -> str:
        lines = [
            "version: 0.1",
            "log:",
            "  level: warn",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.base / 'data'}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: {self.host}",
        ]
        if self.htpasswd is not None:
            lines += ["auth:", "  htpasswd:", "    realm: berth-test", f"    path: {self.htpasswd}"]
        elif self.token_realm is not None:
            assert self.token_cert is not None
            lines += ["auth:", "  token:", f"    realm: {self.token_realm}", f"    service: {self.service}",
                      f"    issuer: {self.issuer}", f"    rootcertbundle: {self.token_cert}"]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 15) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        config = self.base / "config.yml"
        config.write_text(self._config())
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdout=log, stderr=log,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/v2/", timeout=1):
                    return
            except urllib.error.HTTPError as e:
                if e.code == 401:
                    return  # up, and asking for credentials
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry did not answer within {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


@contextlib.contextmanager
def running_registry(base: Path, **kwargs: object) -> Iterator[Registry]:
    missing = registry_missing()
    if missing:
        pytest.skip(missing)
    registry = Registry(base, **kwargs)  # type: ignore[arg-type]
    try:
        registry.start()
        yield registry
    finally:
        registry.stop()


def htpasswd_file(path: Path, user: str, password: str) -> Path:
    """A bcrypt htpasswd file (the registry accepts only bcrypt)."""
    require("htpasswd")
    out = subprocess.run(["htpasswd", "-Bbn", user, password], check=True, capture_output=True, text=True,
                         timeout=30)
    path.write_text(out.stdout)
    return path


def skopeo(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    require("skopeo")
    return subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=timeout)
