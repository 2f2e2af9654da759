"""Pull throughput from a loopback registry: a generated multi-layer image (500 MB by default,
`--pull-mb` to change it, small with --quick) is pushed once into Debian's docker-registry on
127.0.0.1, then each engine pulls it, removing it between pulls so that each pull is cold."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence

from bench.engines import Engine, Podman
from bench.images import big_image
from bench.procs import output, timed
from bench.registry import GeneratedImage, LoopbackRegistry, registry_missing
from bench.summary import Metric, Result, Samples, Skipped
from bench.workloads.base import Budget, Context, Workload, truncated_note

MB = 1 << 20


class PullThroughput(Workload):
    name = "pull"
    title = "pull from a loopback registry"
    full_seconds = 420
    quick_seconds = 120

    def __init__(self) -> None:
        self.registry: LoopbackRegistry | None = None
        self.image: GeneratedImage | None = None
        self.problem = ""

    def metrics(self, ctx: Context) -> list[Metric]:
        return [Metric("pull_rate", "pull, loopback registry (CLI)", "MB/s", "higher"),
                Metric("pull_time", "  pull, wall time", "s", "lower")]

    def prepare(self, ctx: Context, engines: Sequence[Engine]) -> None:
        if missing := registry_missing():
            self.problem = missing
            return
        total_mb = int(ctx.options.get("pull_mb") or (48 if ctx.quick else 500))
        layers = max(1, min(8, total_mb // 60 or 1))
        work = ctx.work / "pull-image"
        started = time.monotonic()
        config, paths, uncompressed = big_image(work, total_mb, layers)
        self.registry = LoopbackRegistry(ctx.work / "registry")
        self.registry.start()
        compressed = self.registry.push_image("bench/big", "latest", config, paths)
        shutil.rmtree(work, ignore_errors=True)
        self.image = GeneratedImage(f"{self.registry.host}/bench/big:latest", compressed, uncompressed, layers)
        ctx.notes.append(f"pull image: {layers} layers, {uncompressed / MB:.0f} MB unpacked, "
                         f"{compressed / MB:.0f} MB gzip'd; made and pushed in {time.monotonic() - started:.0f}s")
        for engine in engines:
            if isinstance(engine, Podman):
                engine.write_registries([self.registry.host])

    def run(self, engine: Engine, ctx: Context, budget: Budget) -> dict[str, Result]:
        if self.image is None:
            return {"pull_rate": Skipped(self.problem or "no image"), "pull_time": Skipped(self.problem or "no image")}
        reps = ctx.reps(3, 2)
        ref = self.image.ref
        pull = ["pull", "--tls-verify=false", ref] if isinstance(engine, Podman) else ["pull", ref]
        rates, times = [], []
        for _ in range(reps):
            if budget.expired():
                break
            took = timed(engine.cli(*pull), env=engine.env, timeout=budget.timeout(600))
            times.append(took)
            rates.append(self.image.compressed_bytes / MB / took)
            output(engine.cli("rmi", ref), env=engine.env, timeout=120)
        with ctx.profiler.attached(engine.python_pid(), "pull") as on:
            if on:
                timed(engine.cli(*pull), env=engine.env, timeout=budget.timeout(600))
                output(engine.cli("rmi", ref), env=engine.env, timeout=120)
        note = "; ".join(filter(None, [f"MB of gzip'd layers per second ({self.image.compressed_bytes / MB:.0f} MB)",
                                       truncated_note(len(rates), reps)]))
        return {"pull_rate": Samples(rates, note), "pull_time": Samples(times, truncated_note(len(times), reps))}

    def judge(self, metrics: dict[str, Metric], network: str = "none") -> None:
        m = metrics["pull_rate"]
        m.target = "berthd >= dockerd"
        ratio = m.advantage("berthd", "dockerd")
        m.target_met = None if ratio is None else ratio >= 1.0

    def finish(self, ctx: Context) -> None:
        if self.registry is not None:
            self.registry.stop()
            self.registry = None
