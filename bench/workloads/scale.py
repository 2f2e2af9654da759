"""Scale: how the costs grow with the number of objects, 1,000 → 10,000 containers (created through the
API, a step at a time, listed at each step through the API and the CLI), `/events` while 100 of them
start, 500 networks and 5,000 volumes. Run on request only (`--only scale`): ten thousand containers
take a while on every engine. `--quick` stops at 2,000 containers, 100 networks and 1,000 volumes.

`scale-networks` (on request too) runs the network rows alone, in a minute, on both passes: with
`--network none` dockerd runs with `--iptables=false` and writes no rules, while on the default
bridge every engine, in a namespace of its own, writes the rules a network needs."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from bench.engines import Engine
from bench.summary import Metric, Result, Samples, Skipped
from bench.workloads.base import SETUP_WORKERS, Budget, Context, Workload, remove_containers, repeat_timed

STARTED = 100  # containers started while /events is read


class Scale(Workload):
    name = "scale"
    title = "scale: 1,000 -> 10,000 containers, 500 networks, 5,000 volumes"
    full_seconds = 3600
    quick_seconds = 600
    on_request = True

    def _steps(self, ctx: Context) -> list[int]:
        return [1000, 2000] if ctx.quick else [1000, 2500, 5000, 10000]

    def metrics(self, ctx: Context) -> list[Metric]:
        rows = []
        for n in self._steps(ctx):
            rows += [Metric(f"scale_create_{n}", f"create, per container, up to {n:,} (API)", "ms", "lower"),
                     Metric(f"scale_ps_api_{n}", f"  GET /containers/json?all=1 with {n:,}", "ms", "lower"),
                     Metric(f"scale_ps_cli_{n}", f"  ps -a with {n:,} (CLI)", "ms", "lower")]
        networks, volumes = (100, 1000) if ctx.quick else (500, 5000)
        rows += [Metric("scale_events", f"/events: start of {STARTED} among the most containers, last event after",
                        "ms", "lower"),
                 *_network_metrics(networks),
                 Metric("scale_volumes_create", f"volume create, per volume, up to {volumes:,}", "ms", "lower"),
                 Metric("scale_volumes_ls", f"  GET /volumes with {volumes:,}", "ms", "lower")]
        return rows

    def run(self, engine: Engine, ctx: Context, budget: Budget) -> dict[str, Result]:
        out: dict[str, Result] = {}
        ids: list[str] = []
        body = engine.create_body(["true"])
        try:
            for n in self._steps(ctx):
                if budget.left() < budget.seconds * 0.3:
                    out[f"scale_create_{n}"] = Skipped("time bound reached")
                    break
                made, failed = _timed_many(
                    lambda _: str(engine.api.json("POST", "/containers/create", body)["Id"]), n - len(ids), budget)
                ids += [cid for cid, _ in made]
                out[f"scale_create_{n}"] = Samples([ms for _, ms in made], _note(failed))
                out[f"scale_ps_api_{n}"] = Samples(_repeat_api(engine, "/containers/json?all=1", 5, budget))
                out[f"scale_ps_cli_{n}"] = Samples(repeat_timed(engine, ["ps", "-a"], 3, budget, cap=300))
            out["scale_events"] = _events_while_starting(engine, ids[:STARTED], budget)
        finally:
            remove_containers(engine, ids, workers=SETUP_WORKERS)
        networks, volumes = (100, 1000) if ctx.quick else (500, 5000)
        out.update(_networks(engine, networks, budget))
        out.update(_objects(engine, "volumes", volumes, budget,
                            lambda i: engine.api.json("POST", "/volumes/create", {"Name": f"bench-scale-{i}"})["Name"],
                            lambda ref: engine.api.request("DELETE", f"/volumes/{ref}", timeout=60)))
        return out


class ScaleNetworks(Workload):
    """The network rows of `scale` alone: what a change to network create is measured with."""

    name = "scale-networks"
    title = "scale: networks created, listed and removed, 4 clients at a time"
    full_seconds = 300
    quick_seconds = 120
    on_request = True
    networked = True

    def _count(self, ctx: Context) -> int:
        return 100 if ctx.quick else 500

    def metrics(self, ctx: Context) -> list[Metric]:
        return _network_metrics(self._count(ctx))

    def run(self, engine: Engine, ctx: Context, budget: Budget) -> dict[str, Result]:
        return _networks(engine, self._count(ctx), budget)


def _network_metrics(count: int) -> list[Metric]:
    return [Metric("scale_networks_create", f"network create, per network, up to {count}", "ms", "lower"),
            Metric("scale_networks_ls", f"  GET /networks with {count}", "ms", "lower"),
            Metric("scale_networks_rm", f"  network rm, per network, {count} (4 clients)", "ms", "lower")]


def _networks(engine: Engine, count: int, budget: Budget) -> dict[str, Result]:
    """`count` internal networks created 4 at a time, listed, then removed 4 at a time, each timed.
    Every engine's default address pools hold about 30 networks: each gets a /24 of 10.128.0.0/9."""
    return _objects(engine, "networks", count, budget,
                    lambda i: engine.api.json("POST", "/networks/create", {
                        "Name": f"bench-scale-{i}", "Internal": True,
                        "IPAM": {"Config": [{"Subnet": f"10.{128 + i // 256}.{i % 256}.0/24"}]}})["Id"],
                    lambda ref: engine.api.request("DELETE", f"/networks/{ref}", timeout=60), timed_rm=True)


def _timed_many(make: Callable[[int], str], count: int, budget: Budget) -> tuple[list[tuple[str, float]], list[str]]:
    """`count` calls of `make`, a few at a time as a busy client would, each timed, within the budget:
    what was made (kept even when some calls fail, so that all of it is removed) and the failures."""
    made: list[tuple[str, float]] = []
    failed: list[str] = []

    def one(i: int) -> None:
        if budget.expired() or len(failed) > 10:
            return
        t0 = time.perf_counter()
        try:
            ref = make(i)
        except Exception as e:  # figures only: reported in the row's note
            failed.append(str(e)[:200])
            return
        made.append((ref, 1000 * (time.perf_counter() - t0)))

    with ThreadPoolExecutor(SETUP_WORKERS) as pool:
        list(pool.map(one, range(count)))
    return made, failed


def _repeat_api(engine: Engine, path: str, reps: int, budget: Budget) -> list[float]:
    got = []
    for _ in range(reps):
        if budget.expired():
            break
        t0 = time.perf_counter()
        engine.api.request("GET", path, timeout=300)
        got.append(1000 * (time.perf_counter() - t0))
    return got


def _events_while_starting(engine: Engine, ids: list[str], budget: Budget) -> Result:
    """Start `ids` while one client reads /events: every start must arrive; the figure is how long after
    the first start call the last start event came."""
    if not ids:
        return Skipped("no containers")
    wanted = set(ids)
    seen: set[str] = set()
    done = threading.Event()
    since = int(time.time()) - 1

    def follow() -> None:
        filters = urllib.parse.quote(json.dumps({"type": ["container"], "event": ["start"]}))
        with contextlib.suppress(Exception):
            for event in engine.api.stream_json(f"/events?since={since}&filters={filters}", timeout=budget.left()):
                seen.add(str(event.get("id") or event.get("Actor", {}).get("ID", "")))
                if wanted <= seen:
                    break
        done.set()

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    t0 = time.perf_counter()
    for cid in ids:
        engine.api.request("POST", f"/containers/{cid}/start", timeout=60)
    done.wait(timeout=max(5.0, min(120.0, budget.left())))
    elapsed = 1000 * (time.perf_counter() - t0)
    missing = len(wanted - seen)
    return Samples([elapsed], f"{len(ids) - missing} of {len(ids)} start events"
                   + (f", {missing} MISSING" if missing else ""))


def _objects(engine: Engine, kind: str, count: int, budget: Budget, make: Callable[[int], str],
             remove: Callable[[str], object], timed_rm: bool = False) -> dict[str, Result]:
    """Make `count` objects, list them, remove them; `timed_rm`: a row for the removals too."""
    made, failed = _timed_many(make, count, budget)
    removals: list[float] = []

    def remove_timed(ref: str) -> None:
        t0 = time.perf_counter()
        remove(ref)
        removals.append(1000 * (time.perf_counter() - t0))

    try:
        listed = _repeat_api(engine, f"/{kind}", 5, budget)
    finally:
        with ThreadPoolExecutor(SETUP_WORKERS) as pool:
            list(pool.map(remove_timed, [ref for ref, _ in made]))
    note = _note(failed)
    out: dict[str, Result] = {f"scale_{kind}_create": Samples([ms for _, ms in made], note),
                              f"scale_{kind}_ls": Samples(listed, note)}
    if timed_rm:
        out[f"scale_{kind}_rm"] = Samples(removals)
    return out


def _note(failed: list[str]) -> str:
    return f"{len(failed)} failed, first: {failed[0]}" if failed else ""
