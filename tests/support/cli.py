"""Running the real `docker` CLI against a berthd."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator


def docker(env: dict[str, str], *args: str, timeout: float = 60, input: str | None = None
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=timeout, input=input)


def ok(env: dict[str, str], *args: str, timeout: float = 60, strip: bool = True) -> str:
    """Run and insist on success; the stdout (stripped unless told otherwise)."""
    out = docker(env, *args, timeout=timeout)
    assert out.returncode == 0, f"docker {' '.join(args)}: {out.stderr}"
    return out.stdout.strip() if strip else out.stdout


def docker_bytes(env: dict[str, str], *args: str, timeout: float = 120, input: bytes | None = None
                 ) -> subprocess.CompletedProcess[bytes]:
    """For commands whose output is binary (tars from cp, save, export)."""
    return subprocess.run(["docker", *args], env=env, capture_output=True, timeout=timeout, input=input)


def succeeded(out: subprocess.CompletedProcess[bytes]) -> str:
    """Insist on success of a docker_bytes run; its stdout as text."""
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout.decode(errors="replace")


def eventually(check: Callable[[], bool], timeout: float = 15, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def removing_labelled(env: dict[str, str], label: str) -> Iterator[dict[str, str]]:
    """A fixture's body: `env` for the test, then every container labelled `label` removed."""
    yield env
    ids = docker(env, "ps", "-aq", "--filter", f"label={label}").stdout.split()
    if ids:
        docker(env, "rm", "-f", *ids)

