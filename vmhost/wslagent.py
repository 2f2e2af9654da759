"""A WSL machine's supervisor: keeps berthd and sshd running in the distro and the tunnel up.

`berth machine start` on a WSL machine launches `python -m vmhost.wslagent NAME`, which reports through
status.json exactly as vmhost.agent does for QEMU (so status and stop need no second path); SIGTERM closes
the tunnel and terminates the distro.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

import paramiko

from vmhost import wslmachine
from vmhost.agent import _daemonize
from vmhost.localend import LocalEnd, forward_engine
from vmhost.machine import Machine, MachineError
from vmhost.machines import Machines
from vmhost.npipe import PipeServer, serve_engine
from vmhost.procs import watch_stop_file
from vmhost.ssh import Connection, Forward, HostKeyMismatch, tcp_forward
from vmhost.store import write_json_atomic
from vmhost.wsl import GUEST_ENGINE_SOCKET, WslError, distro_name, start_script

log = logging.getLogger("vmhost.wslagent")


class Stopped(Exception):
    pass


def ping(end: LocalEnd, timeout: float = 5) -> int:
    """GET /_ping through the tunnel's local end: its HTTP status."""
    if end.kind == "tcp":
        conn = http.client.HTTPConnection("127.0.0.1", end.port, timeout=timeout)
    else:
        from vmhost.ports import UnixHTTPConnection

        conn = UnixHTTPConnection(Path(end.address), timeout)
    try:
        conn.request("GET", "/_ping")
        return conn.getresponse().status
    finally:
        conn.close()


class WslAgent:
    def __init__(self, machine: Machine, timeout: float) -> None:
        self.machine = machine
        self.timeout = timeout
        self.stopping = threading.Event()
        self.guest: subprocess.Popen[bytes] | None = None
        self.connection: Connection | None = None
        self.forwards: list[Forward] = []
        self.state = "starting"
        self.pipes: list[PipeServer] = []  # Windows: the engine on named pipes (vmhost.npipe)

    def report(self, state: str, message: str) -> None:
        log.info("%s: %s", state, message)
        self.state = state
        data: dict[str, Any] = {
            "state": state, "message": message, "agent_pid": os.getpid(),
            "qemu_pid": self.guest.pid if self.guest else None, "published": [], "notice": "",
            "socket": self.machine.docker_host, "pipes": [p.name for p in self.pipes], "updated": time.time(),
        }
        write_json_atomic(self.machine.dir / "status.json", data)

    def _check(self, deadline: float, what: str) -> None:
        if self.stopping.is_set():
            raise Stopped("asked to stop")
        if self.guest is not None and self.guest.poll() is not None:
            raise RuntimeError(f"sshd in the distro exited ({self.guest.returncode}) {what}; "
                               f"see {self.machine.dir / 'guest.log'}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out {what}")

    def run(self) -> int:
        machine = self.machine
        deadline = time.monotonic() + self.timeout
        code = 0
        try:
            self.report("starting", f"starting berthd and sshd in WSL distro {distro_name(machine.name)}")
            wslmachine.push_keys(machine)
            self.guest = wslmachine.wsl().spawn(distro_name(machine.name), ["sh", "-c", start_script(machine.ssh_port)],
                                                machine.dir / "guest.log")
            self.connection = self._wait_ssh(deadline)
            self.report("starting", "connecting to the engine")
            self.forwards.append(forward_engine(self.connection, machine.engine_end, GUEST_ENGINE_SOCKET))
            for host_port, guest_port in machine.forwards():
                try:
                    self.forwards.append(tcp_forward(self.connection, host_port, "127.0.0.1", guest_port))
                except OSError as e:
                    log.warning("cannot forward 127.0.0.1:%d: %s", host_port, e)
            self._wait_engine(deadline)
            self.pipes = serve_engine(machine.engine_end, translate_paths=True)
            self.report("running", f"engine ready: DOCKER_HOST={machine.docker_host}")
            while not self.stopping.wait(1.0):
                if self.guest.poll() is not None:
                    self.report("stopped", f"the distro's sshd exited ({self.guest.returncode}); "
                                           f"see {machine.dir / 'guest.log'}")
                    code = 1
                    break
        except Stopped as e:
            self.report("stopping", str(e))
        except (HostKeyMismatch, OSError, paramiko.SSHException, RuntimeError, WslError) as e:
            log.exception("machine %s failed", machine.name)
            self.report("error", str(e))
            code = 1
        finally:
            self._shutdown()
        return code

    def _wait_ssh(self, deadline: float) -> Connection:
        while True:
            self._check(deadline, "waiting for the distro's sshd")
            connection = Connection(self.machine.endpoint(), keepalive=10, connect_timeout=5)
            try:
                connection.transport()
                return connection
            except HostKeyMismatch:
                connection.close()
                raise
            except (OSError, paramiko.SSHException, EOFError) as e:
                connection.close()
                log.debug("ssh not ready: %s", e)
            self.stopping.wait(0.3)

    def _wait_engine(self, deadline: float) -> None:
        while True:
            self._check(deadline, "waiting for berthd")
            with contextlib.suppress(OSError, http.client.HTTPException, socket.timeout):
                if ping(self.machine.engine_end) == 200:
                    return
            self.stopping.wait(0.3)

    def _shutdown(self) -> None:
        for pipe in self.pipes:
            pipe.close()
        for forward in self.forwards:
            forward.close()
        end = self.machine.engine_end
        if end.kind == "unix":
            Path(end.address).unlink(missing_ok=True)
        if self.connection is not None:
            self.connection.close()
        if self.state != "error":
            self.report("stopping", "terminating the distro")
        # --terminate ends every process in the distro (berthd's containers too), as powering off does.
        with contextlib.suppress(WslError, MachineError):
            wslmachine.terminate(self.machine)
        guest = self.guest
        if guest is not None and guest.poll() is None:
            guest.terminate()
            try:
                guest.wait(timeout=10)
            except subprocess.TimeoutExpired:
                guest.kill()
                guest.wait(timeout=10)
        if self.state != "error":
            self.report("stopped", "")
        (self.machine.dir / "agent.pid").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vmhost.wslagent")
    parser.add_argument("--machines-dir", type=Path)
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the engine")
    parser.add_argument("--foreground", action="store_true")
    parser.add_argument("name")
    args = parser.parse_args(argv)
    machine = Machines(args.machines_dir).get(args.name)
    if not args.foreground:
        _daemonize(machine.dir / "agent.pid", machine.dir / "agent.log")
    else:
        (machine.dir / "agent.pid").write_text(f"{os.getpid()}\n")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("paramiko").setLevel(logging.WARNING)
    agent = WslAgent(machine, args.timeout)
    watch_stop_file(machine.dir, agent.stopping)  # how `berth machine stop` reaches it on Windows

    def on_signal(signum: int, frame: FrameType | None) -> None:
        agent.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return agent.run()


if __name__ == "__main__":
    raise SystemExit(main())
