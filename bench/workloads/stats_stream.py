"""The engine's own CPU and memory while 50 running containers stream stats to 50 clients
(`GET /containers/{id}/stats?stream=1`, held open at once), against a baseline of the same
containers with no client. Only the server processes count: berthd; dockerd and its containerd;
podman's API service. Per-container monitors (conmon, containerd-shim) are left out for all."""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp

from bench.engines import Engine
from bench.procs import cpu_seconds, rss_bytes
from bench.summary import Metric, Result, Samples, Skipped
from bench.workloads.base import Budget, Context, Workload, containers

MB = 1 << 20


class StatsStreaming(Workload):
    name = "stats"
    title = "engine CPU and memory while 50 containers stream stats"
    full_seconds = 300
    quick_seconds = 120

    def metrics(self, ctx: Context) -> list[Metric]:
        n = ctx.reps(50, 10)
        return [Metric("idle_cpu", f"engine CPU, {n} running containers, no client", "% core", "lower"),
                Metric("stats_cpu", f"engine CPU while {n} containers stream stats", "% core", "lower"),
                Metric("stats_rss", "  engine RSS while streaming", "MB", "lower"),
                Metric("stats_rate", "  stats frames received", "frames/s", "higher")]

    def run(self, engine: Engine, ctx: Context, budget: Budget) -> dict[str, Result]:
        if not engine.supports("GET", "/containers/none-such/stats?stream=0"):
            reason = f"{engine.name} has no /containers/{{id}}/stats"
            return {k: Skipped(reason) for k in ("idle_cpu", "stats_cpu", "stats_rss", "stats_rate")}
        count = ctx.reps(50, 10)
        seconds = ctx.reps(20, 8)
        with containers(engine, count, ["sleep", "600"], Budget(budget.left() * 0.5), start=True) as ids:
            time.sleep(2)  # let the starts settle before the baseline
            idle = _cpu_samples(engine, ctx.reps(10, 4))
            cpu, rss, frames = asyncio.run(_stream(engine, ids, seconds))
        note = "" if len(ids) == count else f"{len(ids)} of {count} containers (time bound)"
        return {"idle_cpu": Samples(idle, note), "stats_cpu": Samples(cpu, note), "stats_rss": Samples(rss, note),
                "stats_rate": Samples([frames / seconds], f"{frames} frames from {len(ids)} streams")}


def _cpu_total(engine: Engine) -> float:
    total = 0.0
    for pid in engine.daemon_pids():
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


def _rss_total(engine: Engine) -> float:
    total = 0
    for pid in engine.daemon_pids():
        with contextlib.suppress(OSError):
            total += rss_bytes(pid)
    return total / MB


def _cpu_samples(engine: Engine, seconds: int) -> list[float]:
    """CPU use over each of `seconds` one-second windows, in % of one core."""
    out = []
    for _ in range(seconds):
        t0, c0 = time.monotonic(), _cpu_total(engine)
        time.sleep(1)
        out.append(100 * (_cpu_total(engine) - c0) / (time.monotonic() - t0))
    return out


async def _stream(engine: Engine, ids: list[str], seconds: int) -> tuple[list[float], list[float], int]:
    frames = 0

    async def follow(session: aiohttp.ClientSession, cid: str) -> None:
        nonlocal frames
        async with session.get(f"http://engine{engine.api.prefix}/containers/{cid}/stats?stream=1") as resp:
            async for _line in resp.content:
                frames += 1

    connector = aiohttp.UnixConnector(path=str(engine.socket), limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as session:
        tasks = [asyncio.create_task(follow(session, cid)) for cid in ids]
        await asyncio.sleep(2)  # every stream open and past its first frame
        frames = 0
        cpu: list[float] = []
        rss: list[float] = []
        for _ in range(seconds):
            t0, c0 = time.monotonic(), _cpu_total(engine)
            await asyncio.sleep(1)
            cpu.append(100 * (_cpu_total(engine) - c0) / (time.monotonic() - t0))
            rss.append(_rss_total(engine))
        counted = frames
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return cpu, rss, counted
