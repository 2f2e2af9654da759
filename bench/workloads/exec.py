"""`exec` latency: `exec <container> true` into one running container, through the CLI."""

from __future__ import annotations

from bench.engines import Engine
from bench.procs import output
from bench.summary import Metric, Result, Samples
from bench.workloads.base import Budget, Context, Workload, repeat_timed, truncated_note


class ExecLatency(Workload):
    name = "exec"
    title = "exec latency"
    full_seconds = 180
    quick_seconds = 60
    networked = True

    def metrics(self, ctx: Context) -> list[Metric]:
        return [Metric("exec", "exec <running container> true (CLI)", "ms", "lower")]

    def run(self, engine: Engine, ctx: Context, budget: Budget) -> dict[str, Result]:
        reps = ctx.reps(20, 5)
        cid = output(engine.cli("run", "-d", *engine.network_args, "busybox", "sleep", "600"), env=engine.env,
                     timeout=60).strip()
        try:
            if engine.netns is not None:  # what the engine made for one container on its bridge
                ctx.notes.append(f"{engine.name}, one container on its default bridge: {engine.describe_network()}")
            got = repeat_timed(engine, ["exec", cid, "true"], reps, budget, warmup=2)
        finally:
            output(engine.cli("rm", "-f", cid), env=engine.env, timeout=60)
        return {"exec": Samples(got, truncated_note(len(got), reps))}

    def judge(self, metrics: dict[str, Metric], network: str = "none") -> None:
        m = metrics["exec"]
        m.target = "berthd <= 0.5 x dockerd"
        ratio = m.advantage("berthd", "dockerd")
        m.target_met = None if ratio is None else ratio >= 2.0
