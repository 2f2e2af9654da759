"""Create and start 100 containers through the API, one after the other: the engine's own cost
per container (no CLI start-up), podman through its API service."""

from __future__ import annotations

import time

from bench.engines import Engine
from bench.summary import Metric, Result, Samples
from bench.workloads.base import Budget, Context, Workload, remove_containers, truncated_note

LONG_SLEEP = ["sleep", "600"]  # removed (killed) right after; never lives that long


class CreateAndStart(Workload):
    name = "create-start"
    title = "create and start 100 containers"
    full_seconds = 300
    quick_seconds = 90
    networked = True

    def metrics(self, ctx: Context) -> list[Metric]:
        n = ctx.reps(100, 20)
        return [Metric("create_start_total", f"create + start {n} containers, total (API)", "s", "lower"),
                Metric("create_one", "  create, per container (API)", "ms", "lower"),
                Metric("start_one", "  start, per container (API)", "ms", "lower"),
                Metric("remove_one", "  remove -f a running container (API)", "ms", "lower")]

    def run(self, engine: Engine, ctx: Context, budget: Budget) -> dict[str, Result]:
        count = ctx.reps(100, 20)
        creates: list[float] = []
        starts: list[float] = []
        removes: list[float] = []
        ids: list[str] = []
        body = engine.create_body(LONG_SLEEP)
        try:
            began = time.perf_counter()
            for _ in range(count):
                if budget.expired():
                    break
                t0 = time.perf_counter()
                cid = str(engine.api.json("POST", "/containers/create", body)["Id"])
                ids.append(cid)
                t1 = time.perf_counter()
                engine.api.json("POST", f"/containers/{cid}/start")
                t2 = time.perf_counter()
                creates.append(1000 * (t1 - t0))
                starts.append(1000 * (t2 - t1))
            total = time.perf_counter() - began
            for cid in list(ids):
                if budget.expired():
                    break
                t0 = time.perf_counter()
                engine.api.json("DELETE", f"/containers/{cid}?force=1")
                removes.append(1000 * (time.perf_counter() - t0))
                ids.remove(cid)
        finally:
            remove_containers(engine, ids)
        note = truncated_note(len(starts), count)
        out: dict[str, Result] = {
            "create_start_total": Samples([total], note),
            "create_one": Samples(creates, note), "start_one": Samples(starts, note),
        }
        if removes:
            out["remove_one"] = Samples(removes, truncated_note(len(removes), len(starts)))
        return out
