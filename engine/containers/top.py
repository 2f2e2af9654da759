"""`docker top`: the processes in a container's cgroup, as a table.

Without ps_args the table is built from /proc with `ps -ef`'s columns (UID PID PPID C STIME
TTY TIME CMD), no subprocess needed. With ps_args, as dockerd does, `ps` runs on the host
with those arguments and its rows are filtered to the container's pids. Pids are the host's.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shlex
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InvalidArgument, RuntimeFailure

PROC = Path("/proc")
PS_EF_TITLES = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]


@dataclass(frozen=True)
class ProcessTable:
    titles: list[str]
    processes: list[list[str]]

    def as_json(self) -> dict[str, object]:
        return {"Titles": self.titles, "Processes": self.processes}


# ---- ps -ef from /proc -------------------------------------------------------------------------


@dataclass(frozen=True)
class _ProcStat:
    ppid: int
    tty_nr: int
    utime: int
    stime: int
    start_ticks: int
    comm: str


def _proc_stat(text: str) -> _ProcStat:
    # comm is in parentheses and may itself hold spaces or ")": split at the last ")".
    head, _, rest = text.rpartition(")")
    comm = head.partition("(")[2]
    f = rest.split()
    # rest starts at field 3 (state): ppid is field 4, tty_nr 7, utime 14, stime 15, starttime 22.
    return _ProcStat(ppid=int(f[1]), tty_nr=int(f[4]), utime=int(f[11]), stime=int(f[12]),
                     start_ticks=int(f[19]), comm=comm)


def _boot_time(proc: Path) -> float:
    with open(proc / "stat") as f:
        for line in f:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0


def _uptime(proc: Path) -> float:
    return float((proc / "uptime").read_text().split()[0])


def tty_name(tty_nr: int) -> str:
    """ps's TTY column for a tty_nr from /proc/<pid>/stat."""
    if tty_nr == 0:
        return "?"
    major = os.major(tty_nr)
    minor = os.minor(tty_nr)
    if 136 <= major <= 143:
        return f"pts/{(major - 136) * 256 + minor}"
    if major == 4:
        return f"tty{minor}" if minor < 64 else f"ttyS{minor - 64}"
    if major == 5 and minor == 1:
        return "console"
    return "?"


def cpu_time(seconds: int) -> str:
    """ps's TIME: [DD-]HH:MM:SS of CPU used."""
    days, rem = divmod(seconds, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    text = f"{h:02d}:{m:02d}:{s:02d}"
    return f"{days}-{text}" if days else text


def start_time(started: float, now: float) -> str:
    """ps's STIME: HH:MM today (the last 24 hours), MonDD this year, else the year."""
    t = time.localtime(started)
    if now - started < 24 * 3600:
        return time.strftime("%H:%M", t)
    if t.tm_year == time.localtime(now).tm_year:
        return time.strftime("%b%d", t)
    return str(t.tm_year)


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _effective_uid(status: str) -> int:
    for line in status.splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[2])
    return 0


def ps_ef(pids: Iterable[int], proc: Path = PROC, now: float | None = None) -> ProcessTable:
    """`ps -ef`'s table for these pids, read from /proc; pids that exit meanwhile are left out."""
    now = time.time() if now is None else now
    hz = os.sysconf("SC_CLK_TCK")
    boot = _boot_time(proc)
    uptime = _uptime(proc)
    rows: list[list[str]] = []
    for pid in sorted(pids):
        base = proc / str(pid)
        try:
            st = _proc_stat((base / "stat").read_text())
            uid = _effective_uid((base / "status").read_text())
            argv = (base / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue  # gone, or not a process we can read
        used = (st.utime + st.stime) / hz
        elapsed = uptime - st.start_ticks / hz
        # C: CPU use over the process's life, in percent, as ps computes it (capped at 99)
        c = min(int(used * 100 / elapsed), 99) if elapsed > 0 else 0
        cmd = " ".join(a.decode(errors="replace") for a in argv.rstrip(b"\0").split(b"\0")) if argv else ""
        rows.append([
            _user_name(uid), str(pid), str(st.ppid), str(c),
            start_time(boot + st.start_ticks / hz, now), tty_name(st.tty_nr),
            cpu_time(int(used)), cmd or f"[{st.comm}]",
        ])
    return ProcessTable(list(PS_EF_TITLES), rows)


# ---- ps with the user's arguments --------------------------------------------------------------


def parse_ps_output(output: str, pids: Iterable[int]) -> ProcessTable:
    """Keep the rows of `ps` output whose PID column is one of `pids`.

    The last column (the command) may hold spaces: a row's fields past the title count are
    joined into it, as dockerd does."""
    lines = [ln for ln in output.splitlines() if ln.strip()]
    if not lines:
        raise RuntimeFailure("ps printed nothing")
    titles = lines[0].split()
    try:
        pid_col = titles.index("PID")
    except ValueError:
        raise RuntimeFailure("couldn't find PID field in ps output: keep the PID column in ps_args") from None
    wanted = {str(p) for p in pids}
    rows: list[list[str]] = []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) <= pid_col or fields[pid_col] not in wanted:
            continue
        if len(fields) > len(titles):
            fields = [*fields[: len(titles) - 1], " ".join(fields[len(titles) - 1:])]
        rows.append(fields)
    return ProcessTable(titles, rows)


async def ps_with_args(ps_args: str, pids: Iterable[int]) -> ProcessTable:
    """Run `ps <ps_args>` (no shell) and keep the container's rows."""
    try:
        args = shlex.split(ps_args)
    except ValueError as e:
        raise InvalidArgument(f"invalid ps_args {ps_args!r}: {e}") from None
    try:
        proc = await asyncio.create_subprocess_exec(
            "ps", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL)
    except FileNotFoundError:
        raise RuntimeFailure("ps is not installed on the engine's host: top with ps_args needs it") from None
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeFailure(f"error running ps {ps_args}: {err.decode(errors='replace').strip() or 'failed'}")
    return parse_ps_output(out.decode(errors="replace"), pids)
