"""Logs: a container writes a million lines (`seq`), then `logs` reads them back through the CLI.

Two figures: how fast the engine takes the lines in (run to exit) and how fast `logs` gives them
back (lines/s, every line counted)."""

from __future__ import annotations

import subprocess
import time

from bench.engines import Engine
from bench.procs import output
from bench.summary import Metric, Result, Samples, Skipped
from bench.workloads.base import Budget, Context, Workload, truncated_note


class LogsThroughput(Workload):
    name = "logs"
    title = "logs throughput"
    full_seconds = 300
    quick_seconds = 90

    def metrics(self, ctx: Context) -> list[Metric]:
        n = "200k" if ctx.quick else "1M"
        return [Metric("logs_write", f"container writes {n} lines to its log (run to exit)", "lines/s", "higher"),
                Metric("logs_read", f"logs: read {n} lines back (CLI)", "lines/s", "higher")]

    def run(self, engine: Engine, ctx: Context, budget: Budget) -> dict[str, Result]:
        lines = 200_000 if ctx.quick else 1_000_000
        reps = ctx.reps(3, 2)
        t0 = time.perf_counter()
        cid = output(engine.cli("run", "-d", *engine.network_args, "busybox", "seq", "1", str(lines)), env=engine.env,
                     timeout=60).strip()
        try:
            output(engine.cli("wait", cid), env=engine.env, timeout=budget.timeout(240))
            wrote = time.perf_counter() - t0
            reads: list[float] = []
            short = ""
            for _ in range(reps):
                if budget.expired():
                    break
                took, got = _read_logs(engine, cid, budget.timeout(240))
                if got != lines:
                    short = f"logs gave {got} of {lines} lines"
                reads.append(lines / took)
            with ctx.profiler.attached(engine.python_pid(), "logs_read") as on:
                if on:
                    _read_logs(engine, cid, budget.timeout(240))
        finally:
            output(engine.cli("rm", "-f", cid), env=engine.env, timeout=60)
        note = "; ".join(filter(None, [short,
                                       truncated_note(len(reads), reps)]))
        return {"logs_write": Samples([lines / wrote], note),
                "logs_read": Samples(reads, note) if reads else Skipped("out of time")}


def _read_logs(engine: Engine, cid: str, timeout: float) -> tuple[float, int]:
    """Seconds to read every line of `logs`, and how many lines came."""
    started = time.perf_counter()
    proc = subprocess.Popen(engine.cli("logs", cid), env=engine.env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    count = 0
    deadline = started + timeout
    while chunk := proc.stdout.read(1 << 20):
        count += chunk.count(b"\n")
        if time.perf_counter() > deadline:
            proc.kill()
            break
    proc.wait(30)
    return time.perf_counter() - started, count
