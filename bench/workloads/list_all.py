"""`ps -a` with 1,000 containers: created (not started) through the API in a bounded loop, listed
through the CLI and through the API, removed after."""

from __future__ import annotations

import time

from bench.engines import Engine
from bench.procs import output
from bench.summary import Metric, Result, Samples
from bench.workloads.base import Budget, Context, Workload, containers, repeat_timed, truncated_note


class ListAll(Workload):
    name = "ps"
    title = "ps -a with 1,000 containers"
    full_seconds = 600
    quick_seconds = 240

    def metrics(self, ctx: Context) -> list[Metric]:
        return [Metric("ps_cli", "ps -a, 1,000 containers (CLI)", "ms", "lower"),
                Metric("ps_api", "  GET /containers/json?all=1, 1,000 containers (API)", "ms", "lower")]

    def run(self, engine: Engine, ctx: Context, budget: Budget) -> dict[str, Result]:
        count = 1000
        reps = ctx.reps(20, 5)
        # Leave time to list and remove them: creating may use at most 60% of the budget.
        with containers(engine, count, ["true"], Budget(budget.left() * 0.6)) as ids:
            seen = len(output(engine.cli("ps", "-aq"), env=engine.env, timeout=60).split())
            note = f"{seen} containers listed" + ("" if len(ids) >= count else f" ({truncated_note(len(ids), count)})")
            cli = repeat_timed(engine, ["ps", "-a"], reps, budget, warmup=1)
            api = []
            for _ in range(reps):
                if budget.expired():
                    break
                t0 = time.perf_counter()
                engine.api.json("GET", "/containers/json?all=1")
                api.append(1000 * (time.perf_counter() - t0))
            with ctx.profiler.attached(engine.python_pid(), "ps_a") as on:
                if on:
                    repeat_timed(engine, ["ps", "-a"], reps * 3, budget, warmup=0)
        return {"ps_cli": Samples(cli, note), "ps_api": Samples(api, note)}

    def judge(self, metrics: dict[str, Metric], network: str = "none") -> None:
        for key in ("ps_cli", "ps_api"):
            m = metrics[key]
            m.target = "berthd < 100 ms"
            r = m.results.get("berthd")
            m.target_met = r.median < 100 if isinstance(r, Samples) else None
