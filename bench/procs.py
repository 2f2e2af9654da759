"""Processes: timed commands, /proc readings for a daemon's CPU and memory, and cleanup of the
processes a private engine leaves behind (by pid, found by their command line naming our dir)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


class CommandFailed(RuntimeError):
    pass


def timed(argv: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 120,
          stdin: bytes | None = None) -> float:
    """Seconds taken by a command that must succeed; its output is discarded."""
    started = time.perf_counter()
    done = subprocess.run(list(argv), env=dict(env) if env is not None else None, input=stdin,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise CommandFailed(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.decode()[-500:].strip()}")
    return took


def output(argv: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 120) -> str:
    done = subprocess.run(list(argv), env=dict(env) if env is not None else None, capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0:
        raise CommandFailed(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr[-500:].strip()}")
    return done.stdout


def cpu_seconds(pid: int) -> float:
    """CPU time of a process's live threads so far, in ns precision (schedstat), where clock ticks
    (/proc/pid/stat) would round an idle daemon's second to 0 or 1%."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e9


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def children(pid: int) -> list[int]:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]
    return []


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def pids_mentioning(path: Path) -> list[int]:
    """Processes whose command line names `path`: the shims, monitors and daemons of one private
    engine, all under its own temp dir, and nobody else's."""
    needle = str(path)
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and needle in command_line(int(entry)):
            found.append(int(entry))
    return found


def end_processes(pids: Sequence[int], grace: float = 5) -> None:
    """SIGTERM, then SIGKILL what is left after `grace` seconds."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop_popen(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
