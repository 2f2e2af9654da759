"""py-spy attached to berthd while a workload runs again, and the top costs it saw.

Sampling runs outside the measured loop (py-spy pauses the process for each sample), over a
separate pass of the same workload. py-spy's raw format is one collapsed stack per line with its
sample count; "self" is time in a function itself, "total" time with its callees."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOP = 25
# Leaves where a thread is blocked, not working: py-spy's idle detection misses these waits here
# (a pool worker in queue.get, the loop in epoll, a child watcher in waitpid), so they are dropped.
IDLE_LEAVES = ("_worker (concurrent/futures/thread.py", "EpollSelector.select (selectors.py",
               "Condition.wait (threading.py", "_do_waitpid (asyncio/unix_events.py")


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


@dataclass
class Profile:
    label: str
    samples: int
    self_top: list[tuple[str, float]]
    total_top: list[tuple[str, float]]
    raw: Path

    def as_json(self) -> dict[str, Any]:
        return {"samples": self.samples, "raw": self.raw.name,
                "self_pct": [[f, round(p, 1)] for f, p in self.self_top],
                "total_pct": [[f, round(p, 1)] for f, p in self.total_top]}

    def text(self) -> str:
        lines = [f"# {self.label}: {self.samples} busy samples at 250 Hz (py-spy --function; blocked waits left out)",
                 "",
                 "## self (% of samples)"]
        lines += [f"{p:6.1f}  {f}" for f, p in self.self_top]
        lines += ["", "## total in berthd's own functions, callees included (% of samples)"]
        lines += [f"{p:6.1f}  {f}" for f, p in self.total_top]
        return "\n".join(lines) + "\n"


@dataclass
class Profiler:
    out_dir: Path
    enabled: bool
    profiles: dict[str, Profile] = field(default_factory=dict)
    problem: str = ""

    @contextlib.contextmanager
    def attached(self, pid: int | None, label: str) -> Iterator[bool]:
        """Profile `pid` for the duration of the block; yields whether profiling is on."""
        tool = py_spy()
        if not self.enabled or pid is None or tool is None:
            if self.enabled and tool is None:
                self.problem = "py-spy is not installed (pip install py-spy)"
            yield False
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        raw = self.out_dir / f"profile-{label}.collapsed"
        proc = subprocess.Popen([tool, "record", "--pid", str(pid), "--rate", "250", "--format", "raw",
                                 "--function", "--output", str(raw)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            yield True
        finally:
            proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                _, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            if raw.exists():
                self.profiles[label] = summarise(label, raw)
                (self.out_dir / f"profile-{label}.txt").write_text(self.profiles[label].text())
            else:
                self.problem = f"py-spy wrote nothing: {err.decode(errors='replace')[-300:]}"


def summarise(label: str, raw: Path) -> Profile:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        # The first frames name the process and thread; the rest are Python frames.
        frames = [f for f in stack.split(";") if " (" in f]
        if not frames or frames[-1].startswith(IDLE_LEAVES):
            continue
        samples += count
        own[frames[-1]] += count
        for f in set(frames):
            if "(engine/" in f:  # the totals name berthd's own functions, not the loop's plumbing
                total[f] += count
    pct = 100.0 / samples if samples else 0.0
    return Profile(label, samples, [(f, c * pct) for f, c in own.most_common(TOP)],
                   [(f, c * pct) for f, c in total.most_common(TOP)], raw)
