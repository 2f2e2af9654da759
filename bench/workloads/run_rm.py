"""`run --rm busybox true`: the latency a user feels, through the real CLI (docker's for berthd and
dockerd, podman's own), with no network on all three, and once more with each engine's default."""

from __future__ import annotations

from bench.engines import NO_NETWORK, Engine
from bench.summary import Metric, Result, Samples, Skipped
from bench.workloads.base import Budget, Context, Workload, attempt, repeat_timed, truncated_note

RUN = ["run", "--rm", *NO_NETWORK, "busybox", "true"]
RUN_DEFAULT_NET = ["run", "--rm", "busybox", "true"]


class RunRm(Workload):
    name = "run"
    title = "run --rm busybox true"
    full_seconds = 240
    quick_seconds = 60

    def metrics(self, ctx: Context) -> list[Metric]:
        return [Metric("run_rm", "run --rm busybox true (--network none)", "ms", "lower"),
                Metric("run_rm_default_net", "run --rm busybox true (engine's default network)", "ms", "lower"),
                Metric("cli_floor", "  CLI floor: `version` (client start + one request)", "ms", "lower")]

    def run(self, engine: Engine, ctx: Context, budget: Budget) -> dict[str, Result]:
        reps = ctx.reps(20, 5)

        def measure(args: list[str], note: str = "") -> Samples:
            got = repeat_timed(engine, args, reps, budget, warmup=2)
            return Samples(got, "; ".join(filter(None, [note, truncated_note(len(got), reps)])))

        out: dict[str, Result] = {"run_rm": attempt(lambda: measure(RUN))}
        if engine.name == "podman":
            out["run_rm_default_net"] = Skipped("podman's default bridge needs the host's firewall rules")
        else:
            note = "dockerd runs with --bridge=none: its default is a loopback-only namespace" \
                if engine.name == "dockerd" else "berthd's default bridge: veth pair, address, its own chains"
            out["run_rm_default_net"] = attempt(lambda: measure(RUN_DEFAULT_NET, note))
        out["cli_floor"] = attempt(lambda: measure(["version"]))
        # Separate passes: py-spy's sampling would skew the measured ones.
        for label, args in (("run_rm", RUN), ("run_rm_default_net", RUN_DEFAULT_NET)):
            with ctx.profiler.attached(engine.python_pid(), label) as on:
                if on:
                    repeat_timed(engine, args, reps, budget, warmup=0)
        return out

    def judge(self, metrics: dict[str, Metric]) -> None:
        for key in ("run_rm", "run_rm_default_net"):
            m = metrics[key]
            m.target = "berthd <= 0.5 x dockerd"
            ratio = m.advantage("berthd", "dockerd")
            m.target_met = None if ratio is None else ratio >= 2.0
