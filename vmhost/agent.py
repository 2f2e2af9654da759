"""A machine's supervisor: runs QEMU, waits for SSH, keeps the tunnels up, shuts the guest down.

`berth machine start` launches `python -m vmhost.agent NAME`, which detaches (so the CLI may exit) and
reports through `<machine dir>/status.json`; SIGTERM asks it to power the guest off and exit.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from vmhost.accel import FIRST_LINE_SECONDS, Refusal, refusal, remember
from vmhost.image import GuestImage
from vmhost.localend import forward_engine
from vmhost.machine import GUEST_ENGINE_SOCKET, Machine, Status
from vmhost.machines import Machines
from vmhost.npipe import PipeServer, serve_engine
from vmhost.procs import watch_stop_file
from vmhost.qemu import may_fall_back, resolve_accel
from vmhost.store import write_json_atomic

if TYPE_CHECKING:
    from vmhost.ports import PortWatcher, Published
    from vmhost.ssh import Connection, Forward
    from vmhost.trim import Trimmer

log = logging.getLogger("vmhost.agent")
# paramiko and the modules built on it take a few tenths of a second to import: they are imported on a
# thread while QEMU boots (see Agent._launch), not before QEMU is launched.
TUNNEL_MODULES = ("paramiko", "vmhost.ssh", "vmhost.ports", "vmhost.trim")


def preload_tunnel_modules() -> threading.Thread:
    thread = threading.Thread(target=lambda: [importlib.import_module(m) for m in TUNNEL_MODULES],
                              name="preload", daemon=True)
    thread.start()
    return thread


def tunnel_errors(*others: type[Exception]) -> tuple[type[Exception], ...]:
    """`others` and what a failed SSH session raises (paramiko is imported here only if the preload has not:
    an except clause evaluates this only when something was raised)."""
    import paramiko

    from vmhost.ssh import HostKeyMismatch

    return *others, HostKeyMismatch, paramiko.SSHException, EOFError


def guest_phase(line: str) -> str | None:
    """"berth-init: 7.12 network up" -> "network up (7.1 s)"; None for any other console line."""
    # The first line may follow the firmware's escape sequences on the same line.
    words = line[line.find("berth-init:"):].strip().split(" ", 2) if "berth-init:" in line else []
    if len(words) < 3 or words[0] != "berth-init:":
        return None
    try:
        return f"{words[2]} ({float(words[1]):.1f} s)"
    except ValueError:
        return None


class Stopped(Exception):
    """Asked to stop (SIGTERM) or QEMU went away while starting."""


class Agent:
    def __init__(self, machines: Machines, machine: Machine, timeout: float) -> None:
        self.machines = machines
        self.machine = machine
        self.timeout = timeout
        self.stopping = threading.Event()
        self.qemu: subprocess.Popen[bytes] | None = None
        self.connection: Connection | None = None
        self.forwards: list[Forward] = []
        self.watcher: PortWatcher | None = None
        self.trimmer: Trimmer | None = None
        self.published: list[int] = []
        self.status = Status("starting")
        self.notice = ""
        self.accel = ""  # what QEMU runs with now
        self._console_offset = 0  # how much of the console log has been read for boot phases
        self._preload: threading.Thread | None = None
        self.pipes: list[PipeServer] = []  # Windows: the engine on named pipes (vmhost.npipe)

    def report(self, state: str, message: str) -> None:
        log.info("%s: %s", state, message)
        self.status = Status(state, message, os.getpid(), self.qemu.pid if self.qemu else None, self.published,
                             self.notice)
        data: dict[str, Any] = {
            "state": state, "message": message, "agent_pid": os.getpid(),
            "qemu_pid": self.qemu.pid if self.qemu else None, "published": self.published, "notice": self.notice,
            "socket": self.machine.docker_host, "pipes": [p.name for p in self.pipes], "updated": time.time(),
        }
        write_json_atomic(self.machine.dir / "status.json", data)

    def run(self) -> int:
        machine = self.machine
        deadline = time.monotonic() + self.timeout
        code = 0
        try:
            qemu = self._boot()
            if self._preload is not None:
                self._preload.join()  # the guest has been booting meanwhile
            from vmhost.ports import PortWatcher
            from vmhost.ssh import tcp_forward
            from vmhost.trim import Trimmer

            self.connection = self._wait_ssh(deadline)
            self.report("starting", "connecting to the engine")
            self.forwards.append(forward_engine(self.connection, machine.engine_end, GUEST_ENGINE_SOCKET))
            for host_port, guest_port in machine.forwards():
                try:
                    self.forwards.append(tcp_forward(self.connection, host_port, "127.0.0.1", guest_port))
                except OSError as e:
                    log.warning("cannot forward 127.0.0.1:%d: %s", host_port, e)
            self._wait_engine(deadline)
            self.watcher = PortWatcher(self.connection, machine.engine_end, on_change=self._published).start()
            connection = self.connection
            # The trimmer reads events from a Unix socket: where the tunnel ends on TCP (Windows) it is not run.
            if machine.engine_end.kind == "unix":
                self.trimmer = Trimmer(machine.engine_socket,
                                       lambda command: connection.run(command, timeout=300)).start()
            self.pipes = serve_engine(machine.engine_end)
            self.report("running", f"engine ready: DOCKER_HOST={machine.docker_host}")
            while not self.stopping.wait(1.0):
                if qemu.poll() is not None:
                    self.report("stopped", f"QEMU exited ({qemu.returncode}); see {machine.dir / 'qemu.log'}")
                    code = 1
                    break
        except Stopped as e:
            self.report("stopping", str(e))
        except tunnel_errors(OSError, RuntimeError) as e:
            log.exception("machine %s failed", machine.name)
            self.report("error", str(e))
            code = 1
        finally:
            self._shutdown()
        return code

    def _launch(self, accel: str) -> subprocess.Popen[bytes]:
        argv = self.machines.argv(self.machine, accel)
        self.accel = accel
        self.machine.boot_log.write_bytes(b"")
        self._console_offset = 0
        with (self.machine.dir / "qemu.log").open("wb") as qemu_log:
            self.qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=qemu_log, stderr=subprocess.STDOUT)
        if self._preload is None:
            self._preload = preload_tunnel_modules()
        self.report("starting", f"booting the guest ({accel})")
        return self.qemu

    def _boot(self) -> subprocess.Popen[bytes]:
        """Start QEMU; if the hypervisor Berth chose refuses the guest, fall back to TCG, once."""
        accel = resolve_accel(self.machine)
        qemu = self._launch(accel)
        if not may_fall_back(self.machine, accel):
            return qemu
        # berth-init's images print their first line at once; older ones may stay silent while working.
        prints_early = GuestImage(Path(self.machine.image)).cmdline is not None
        refused = refusal(qemu, accel, self.machine.boot_log, self.machine.dir / "qemu.log", self.stopping,
                          FIRST_LINE_SECONDS if prints_early else 5.0, console=prints_early)
        if refused is None:
            return qemu
        self._end_qemu()
        remember(self.machine.dir, refused)
        self.notice = refused.advice(self.machine.name)
        log.warning("%s", self.notice)
        self._keep_qemu_log(refused)
        return self._launch("tcg")

    def _keep_qemu_log(self, refused: Refusal) -> None:
        # The refused run's output explains the fallback; the TCG run would overwrite it.
        log_file = self.machine.dir / "qemu.log"
        with contextlib.suppress(OSError):
            log_file.replace(self.machine.dir / f"qemu-{refused.accel}-refused.log")

    def _end_qemu(self) -> None:
        qemu = self.qemu
        if qemu is None or qemu.poll() is not None:
            return
        qemu.kill()
        qemu.wait(timeout=10)

    def _published(self, ports: set[Published]) -> None:
        self.published = sorted(p.port for p in ports)
        if self.status.state == "running":
            self.report("running", self.status.message)

    def _guest_phases(self) -> None:
        """Pass berth-init's phase lines from the console on as status messages, as the guest prints them."""
        try:
            with self.machine.boot_log.open("rb") as f:
                f.seek(self._console_offset)
                data = f.read()
        except OSError:
            return
        end = data.rfind(b"\n") + 1
        self._console_offset += end
        for line in data[:end].decode("utf-8", "replace").splitlines():
            phase = guest_phase(line)
            if phase:
                self.report("starting", f"guest: {phase}")

    def _check(self, deadline: float, what: str) -> None:
        assert self.qemu is not None
        self._guest_phases()
        if self.stopping.is_set():
            raise Stopped("stopped while starting")
        if self.qemu.poll() is not None:
            tail = (self.machine.dir / "qemu.log").read_text(errors="replace").strip()[-500:]
            hint = ""
            if self.accel != "tcg":
                hint = f" (to run without the hypervisor: `berth machine set {self.machine.name} --accel tcg`)"
            raise RuntimeError(f"QEMU exited ({self.qemu.returncode}) while {what}: {tail}{hint}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out {what} (boot log: {self.machine.boot_log})")

    def _wait_ssh(self, deadline: float) -> Connection:
        from vmhost.ssh import Connection, HostKeyMismatch

        retry = tunnel_errors(OSError)
        attempt = 0
        while True:
            self._check(deadline, "waiting for the guest's ssh")
            attempt += 1
            connection = Connection(self.machine.endpoint(), keepalive=10, connect_timeout=5)
            try:
                connection.transport()
                log.info("ssh up after %d attempts", attempt)
                return connection
            except HostKeyMismatch:
                connection.close()
                raise
            except retry as e:
                # QEMU accepts the forwarded port before sshd listens; such attempts fail fast.
                connection.close()
                log.debug("ssh not ready: %s", e)
            self.stopping.wait(0.5)

    def _wait_engine(self, deadline: float) -> None:
        from vmhost.ports import engine_get

        while True:
            self._check(deadline, "waiting for berthd")
            with contextlib.suppress(OSError):
                status, _ = engine_get(self.machine.engine_end, "/_ping", timeout=5)
                if status == 200:
                    return
            self.stopping.wait(0.3)

    def _shutdown(self) -> None:
        for pipe in self.pipes:
            pipe.close()
        if self.watcher is not None:
            self.watcher.close()
        if self.trimmer is not None:
            self.trimmer.close()
        for forward in self.forwards:
            forward.close()
        end = self.machine.engine_end
        if end.kind == "unix":
            Path(end.address).unlink(missing_ok=True)
        qemu = self.qemu
        if qemu is not None and qemu.poll() is None:
            if self.status.state != "error":
                self.report("stopping", "shutting down the guest")
            if self.connection is not None:
                with contextlib.suppress(*tunnel_errors(OSError)):
                    # The guest closes the session as it goes down; that error is expected.
                    # berth-init's images power off with berth-poweroff; older ones run systemd.
                    self.connection.run("if command -v berth-poweroff >/dev/null; then berth-poweroff; "
                                        "else systemctl poweroff --no-block; fi", timeout=10)
            try:
                # Without a session the guest cannot be asked to power off: end QEMU at once.
                qemu.wait(timeout=30 if self.connection is not None else 0.1)
            except subprocess.TimeoutExpired:
                qemu.terminate()
                try:
                    qemu.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    qemu.kill()
                    qemu.wait(timeout=10)
        if self.connection is not None:
            self.connection.close()
        if self.status.state != "error":
            self.report("stopped", "")
        (self.machine.dir / "agent.pid").unlink(missing_ok=True)


def _daemonize(pidfile: Path, logfile: Path) -> None:
    """Detach from the caller; return in the child once agent.pid names it."""
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        os.close(write_end)
        os.read(read_end, 1)  # the child has written its pid: the caller may now poll status.json
        os._exit(0)
    os.close(read_end)
    os.setsid()
    pidfile.write_text(f"{os.getpid()}\n")
    fd = os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.close(null)
    os.write(write_end, b"x")
    os.close(write_end)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vmhost.agent")
    parser.add_argument("--machines-dir", type=Path)
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the engine")
    parser.add_argument("--foreground", action="store_true")
    parser.add_argument("name")
    args = parser.parse_args(argv)
    machines = Machines(args.machines_dir)
    machine = machines.get(args.name)
    if not args.foreground:
        _daemonize(machine.dir / "agent.pid", machine.dir / "agent.log")
    else:
        (machine.dir / "agent.pid").write_text(f"{os.getpid()}\n")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("paramiko").setLevel(logging.WARNING)
    agent = Agent(machines, machine, args.timeout)
    watch_stop_file(machine.dir, agent.stopping)  # how `berth machine stop` reaches it on Windows

    def on_signal(signum: int, frame: FrameType | None) -> None:
        agent.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return agent.run()


if __name__ == "__main__":
    raise SystemExit(main())
