"""`run --rm busybox true`: the latency a user feels, through the real CLI (docker's for berthd and
dockerd, podman's own); once with no network on all three and once more on each engine's default bridge
(the `bridge` pass, in the benchmark's own namespaces)."""

from __future__ import annotations

from bench.engines import Engine
from bench.summary import Metric, Result, Samples
from bench.workloads.base import Budget, Context, Workload, attempt, repeat_timed, truncated_note


class RunRm(Workload):
    name = "run"
    title = "run --rm busybox true"
    full_seconds = 240
    quick_seconds = 60
    networked = True

    def metrics(self, ctx: Context) -> list[Metric]:
        return [Metric("run_rm", "run --rm busybox true", "ms", "lower"),
                Metric("cli_floor", "  CLI floor: `version` (client start + one request)", "ms", "lower")]

    def run(self, engine: Engine, ctx: Context, budget: Budget) -> dict[str, Result]:
        reps = ctx.reps(20, 5)
        run = ["run", "--rm", *engine.network_args, "busybox", "true"]

        def measure(args: list[str]) -> Samples:
            got = repeat_timed(engine, args, reps, budget, warmup=2)
            return Samples(got, truncated_note(len(got), reps))

        out: dict[str, Result] = {"run_rm": attempt(lambda: measure(run)),
                                  "cli_floor": attempt(lambda: measure(["version"]))}
        # A separate pass: py-spy's sampling would skew the measured one.
        with ctx.profiler.attached(engine.python_pid(), f"run_rm_{engine.network}") as on:
            if on:
                repeat_timed(engine, run, reps, budget, warmup=0)
        return out

    def judge(self, metrics: dict[str, Metric], network: str = "none") -> None:
        # On the default bridge the target is a third of dockerd's (issue #24), with no network a half.
        times = 3.0 if network == "bridge" else 2.0
        m = metrics["run_rm"]
        m.target = f"berthd <= {1 / times:.2g} x dockerd"
        ratio = m.advantage("berthd", "dockerd")
        m.target_met = None if ratio is None else ratio >= times
