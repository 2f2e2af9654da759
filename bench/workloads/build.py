"""`build` of a small Dockerfile (busybox base, two RUN steps, a 16 MB COPY), then a no-change
rebuild that should be all cache hits. berthd runs it only if it serves POST /build."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from bench.engines import Engine, Podman
from bench.procs import output, timed
from bench.summary import Metric, Result, Samples, Skipped
from bench.workloads.base import Budget, Context, Workload, truncated_note

DOCKERFILE = """\
FROM busybox:latest
RUN seq 1 200000 > /numbers.txt
COPY payload.bin /payload.bin
RUN wc -l /numbers.txt > /count.txt && md5sum /payload.bin > /payload.md5
"""


class BuildAndRebuild(Workload):
    name = "build"
    title = "build and no-change rebuild"
    full_seconds = 300
    quick_seconds = 120

    def metrics(self, ctx: Context) -> list[Metric]:
        return [Metric("build", "build (4 steps, 16 MB context, no cache)", "s", "lower"),
                Metric("rebuild", "  rebuild, nothing changed (cache)", "s", "lower")]

    def _context(self, ctx: Context) -> Path:
        where = ctx.work / "build-context"
        if not where.exists():
            where.mkdir(parents=True)
            (where / "Dockerfile").write_text(DOCKERFILE)
            (where / "payload.bin").write_bytes(random.Random(7).randbytes(16 << 20))
        return where

    def run(self, engine: Engine, ctx: Context, budget: Budget) -> dict[str, Result]:
        if not engine.supports("POST", "/build"):
            reason = f"{engine.name} has no POST /build yet"
            return {"build": Skipped(reason), "rebuild": Skipped(reason)}
        where = str(self._context(ctx))
        # The classic builder (docker CLI with DOCKER_BUILDKIT=0: no buildx here); no network for RUN.
        base = ["build", "-q", "--network", "none", "-t", "bench-build:latest"]
        if isinstance(engine, Podman):
            base += ["--layers"]
        builds, rebuilds = [], []
        try:
            for _ in range(ctx.reps(3, 1)):
                if budget.expired():
                    break
                builds.append(timed(engine.cli(*base, "--no-cache", where), env=engine.env,
                                    timeout=budget.timeout(240)))
            for _ in range(ctx.reps(5, 2)):
                if budget.expired():
                    break
                rebuilds.append(timed(engine.cli(*base, where), env=engine.env, timeout=budget.timeout(240)))
        finally:
            _remove_images(engine)
        return {"build": Samples(builds, truncated_note(len(builds), ctx.reps(3, 1))) if builds
                else Skipped("out of time"),
                "rebuild": Samples(rebuilds, truncated_note(len(rebuilds), ctx.reps(5, 2))) if rebuilds
                else Skipped("out of time")}

    def finish(self, ctx: Context) -> None:
        shutil.rmtree(ctx.work / "build-context", ignore_errors=True)


def _remove_images(engine: Engine) -> None:
    try:
        output(engine.cli("rmi", "-f", "bench-build:latest"), env=engine.env, timeout=60)
        if isinstance(engine, Podman):  # the intermediate layers it kept as images
            output(engine.cli("image", "prune", "-f"), env=engine.env, timeout=60)
    except Exception:  # cleanup is best effort; the engine's temp dir goes anyway
        pass
