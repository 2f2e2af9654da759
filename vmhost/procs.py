"""A machine's supervisor as a process, the same way on every host: launched detached, asked to stop,
checked for life, killed. The one place that knows Windows differs.

On Windows there is no fork (the supervisor cannot daemonize itself), and os.kill with any signal but the
console ones is TerminateProcess: os.kill(pid, 0) would end the process it asks about, and SIGTERM gives
the supervisor no chance to end the guest. So there the supervisor is started with Popen's detached
flags, asked to stop through a file in its machine directory (STOP_FILE, which every supervisor watches),
and checked with OpenProcess/GetExitCodeProcess.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from vmhost import localend
from vmhost.machine import MachineError

STOP_FILE = "stop"
# Win32 process creation flags and access rights (winbase.h, winnt.h).
DETACHED_PROCESS = 0x00000008
CREATE_NEW_PROCESS_GROUP = 0x00000200
CREATE_NO_WINDOW = 0x08000000
PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
STILL_ACTIVE = 259


def _windows(host_system: str | None) -> bool:
    return (host_system or localend.system()) == "Windows"


def launch_supervisor(module: str, machines_root: Path, machine_dir: Path, name: str, timeout: float,
                      host_system: str | None = None) -> None:
    """Start `python -m <module>` (vmhost.agent or vmhost.wslagent) for machine `name`, detached from the
    caller; once this returns, agent.pid names it."""
    argv = [sys.executable, "-m", module, "--machines-dir", str(machines_root), "--timeout", str(timeout), name]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                                    os.environ.get("PYTHONPATH")])))
    (machine_dir / STOP_FILE).unlink(missing_ok=True)
    if _windows(host_system):
        with open(machine_dir / "agent.log", "ab") as log:
            child = subprocess.Popen([*argv, "--foreground"], stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, env=env, close_fds=True,
                                     creationflags=DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW)
        (machine_dir / "agent.pid").write_text(f"{child.pid}\n")
        return
    # Elsewhere the supervisor daemonizes itself and returns once agent.pid is written.
    launcher = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, env=env)
    if launcher.returncode != 0:
        raise MachineError(f"could not start the machine's supervisor: {launcher.stderr.strip()}")


def pid_alive(pid: int | None, host_system: str | None = None) -> bool:
    if not pid:
        return False
    if _windows(host_system):
        return _windows_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        # A zombie has exited; only its parent has not reaped it yet.
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _windows_alive(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined, unused-ignore]
    handle = kernel32.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not handle:
        return False  # no such process (or, rarely, one of another user's we may not query)
    try:
        code = ctypes.c_ulong()
        return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def request_stop(pid: int, machine_dir: Path, host_system: str | None = None) -> None:
    """Ask the supervisor to end its guest and exit: SIGTERM, or on Windows the stop file it watches."""
    if _windows(host_system):
        (machine_dir / STOP_FILE).touch()
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)


def terminate(pid: int, host_system: str | None = None) -> None:
    """Ask a process (QEMU) to end: SIGTERM; on Windows TerminateProcess, which is all there is."""
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        os.kill(pid, signal.SIGTERM)


def kill(pid: int, host_system: str | None = None) -> None:
    """End a process now: SIGKILL, or TerminateProcess on Windows (which has no SIGKILL)."""
    sig = signal.SIGTERM if _windows(host_system) else getattr(signal, "SIGKILL", signal.SIGTERM)
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        os.kill(pid, sig)


def watch_stop_file(machine_dir: Path, stopping: threading.Event, interval: float = 0.2) -> threading.Thread:
    """Set `stopping` once STOP_FILE appears in the machine's directory (removing it): how a supervisor on
    Windows hears `berth machine stop`. Watched on every host, so it is one code path."""
    stop = machine_dir / STOP_FILE

    def watch() -> None:
        while not stopping.wait(interval):
            if stop.exists():
                stop.unlink(missing_ok=True)
                stopping.set()

    thread = threading.Thread(target=watch, name="stop-file", daemon=True)
    thread.start()
    return thread


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
