"""Berth's own CLI beside docker's, on the same engine: `ps -a` and `run --rm busybox true` (issue #20's
"under 150 ms" is for `berth ps`). podman is left out: it has its own CLI, measured elsewhere."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from bench.engines import Engine
from bench.procs import timed
from bench.summary import Metric, Result, Samples, Skipped
from bench.workloads.base import Budget, Context, Workload, attempt, truncated_note

COMMANDS = (("ps", "ps -a"), ("run", "run --rm busybox true"))


class BerthCli(Workload):
    name = "berth-cli"
    title = "berth CLI beside docker's CLI"
    full_seconds = 120
    quick_seconds = 40

    def metrics(self, ctx: Context) -> list[Metric]:
        rows = []
        for key, text in COMMANDS:
            rows += [Metric(f"berth_{key}", f"berth {text}", "ms", "lower"),
                     Metric(f"docker_{key}", f"  docker {text}", "ms", "lower")]
        return rows

    def run(self, engine: Engine, ctx: Context, budget: Budget) -> dict[str, Result]:
        if engine.name == "podman":
            return {f"{cli}_{key}": Skipped("podman has its own CLI") for key, _ in COMMANDS
                    for cli in ("berth", "docker")}
        berth = str(Path(sys.executable).with_name("berth"))
        reps = ctx.reps(20, 5)
        out: dict[str, Result] = {}
        for key, _ in COMMANDS:
            argv = ["ps", "-a"] if key == "ps" else ["run", "--rm", *engine.network_args, "busybox", "true"]
            for cli, prog in (("berth", [berth]), ("docker", engine.cli())):
                command = [*prog, *argv]
                out[f"{cli}_{key}"] = attempt(functools.partial(_measure, command, engine, reps, budget))
        return out

    def judge(self, metrics: dict[str, Metric], network: str = "none") -> None:
        m = metrics["berth_ps"]
        m.target = "berth < 150 ms"
        r = m.results.get("berthd")
        m.target_met = r.median < 150 if isinstance(r, Samples) else None


def _measure(argv: list[str], engine: Engine, reps: int, budget: Budget) -> Samples:
    timed(argv, env=engine.env, timeout=budget.timeout(60))  # warm-up: the first run fills caches
    got = []
    for _ in range(reps):
        if budget.expired():
            break
        got.append(1000 * timed(argv, env=engine.env, timeout=budget.timeout(60)))
    return Samples(got, truncated_note(len(got), reps))
