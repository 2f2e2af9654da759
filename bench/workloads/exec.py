"""`exec` latency: `exec <container> true` into one running container, through the CLI."""

from __future__ import annotations

from bench.engines import NO_NETWORK, Engine
from bench.procs import output
from bench.summary import Metric, Result, Samples
from bench.workloads.base import Budget, Context, Workload, repeat_timed, truncated_note


class ExecLatency(Workload):
    name = "exec"
    title = "exec latency"
    full_seconds = 180
    quick_seconds = 60

    def metrics(self, ctx: Context) -> list[Metric]:
        return [Metric("exec", "exec <running container> true (CLI)", "ms", "lower")]

    def run(self, engine: Engine, ctx: Context, budget: Budget) -> dict[str, Result]:
        reps = ctx.reps(20, 5)
        cid = output(engine.cli("run", "-d", *NO_NETWORK, "busybox", "sleep", "600"), env=engine.env,
                     timeout=60).strip()
        try:
            got = repeat_timed(engine, ["exec", cid, "true"], reps, budget, warmup=2)
        finally:
            output(engine.cli("rm", "-f", cid), env=engine.env, timeout=60)
        return {"exec": Samples(got, truncated_note(len(got), reps))}
