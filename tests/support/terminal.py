"""Driving an interactive program through a real pseudo-terminal, as a person at a shell would."""

from __future__ import annotations

import os
import pty
import select
import signal
import time
from collections.abc import Sequence


class Terminal:
    def __init__(self, argv: Sequence[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # child
            try:
                os.execvpe(argv[0], list(argv), env)
            finally:
                os._exit(127)
        self.output = b""

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def expect(self, token: bytes, timeout: float = 15) -> bool:
        deadline = time.monotonic() + timeout
        while token not in self.output and time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                self.output += chunk
        return token in self.output

    def wait(self, timeout: float = 15) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            self.expect(b"\x00never", timeout=0.1)  # keep draining output
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        raise TimeoutError(f"terminal program still running after {timeout}s; output: {self.output[-500:]!r}")
