"""What a workload is, and what it is given: the run's settings, a time budget, helpers that
create and remove containers through the API in bounded loops."""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.engines import Engine
from bench.procs import timed
from bench.profile import Profiler
from bench.summary import Metric, Result, Skipped

# Setup loops (1,000 creates) use a few connections at once: fast enough, and bounded.
SETUP_WORKERS = 4


class OutOfTime(RuntimeError):
    pass


@dataclass
class Budget:
    """A workload's time bound on one engine."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.started)

    def expired(self) -> bool:
        return self.left() <= 0

    def timeout(self, cap: float) -> float:
        """A subprocess timeout: at most `cap`, and never past the budget (with a little grace)."""
        return max(5.0, min(cap, self.left() + 5.0))


@dataclass
class Context:
    quick: bool
    work: Path
    artifacts: Path
    profiler: Profiler
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def reps(self, full: int, quick: int) -> int:
        return quick if self.quick else full


class Workload(ABC):
    name: str
    """What `--only` picks."""
    title: str
    full_seconds: float = 300
    quick_seconds: float = 90
    networked: bool = False
    """Measured again with each engine on its default bridge (`--network bridge|both`)."""
    on_request: bool = False
    """Run only when named in `--only` (the long ones)."""

    @abstractmethod
    def metrics(self, ctx: Context) -> list[Metric]:
        """The rows this workload fills, fresh for each run."""

    def prepare(self, ctx: Context, engines: Sequence[Engine]) -> None:  # noqa: B027  optional hook
        """Once, before any engine runs it (generate data, start a registry)."""

    @abstractmethod
    def run(self, engine: Engine, ctx: Context, budget: Budget) -> dict[str, Result]:
        """Measure on one engine, leave nothing behind on it; keys are metric keys."""

    def finish(self, ctx: Context) -> None:  # noqa: B027  optional hook
        """Once, after every engine ran it."""

    def judge(self, metrics: dict[str, Metric], network: str = "none") -> None:  # noqa: B027  optional hook
        """Fill in targets, if this workload has any."""

    def budget(self, ctx: Context) -> Budget:
        return Budget(self.quick_seconds if ctx.quick else self.full_seconds)


def repeat_timed(engine: Engine, args: Sequence[str], reps: int, budget: Budget, warmup: int = 1,
                 cap: float = 60) -> list[float]:
    """Run a CLI command `warmup + reps` times; the seconds of each measured run, in ms."""
    for _ in range(warmup):
        timed(engine.cli(*args), env=engine.env, timeout=budget.timeout(cap))
    out = []
    for _ in range(reps):
        if budget.expired():
            break
        out.append(1000 * timed(engine.cli(*args), env=engine.env, timeout=budget.timeout(cap)))
    return out


def attempt(measure: Callable[[], Result]) -> Result:
    """One row's figure, or why there is none: one failing row must not take the others with it."""
    try:
        return measure()
    except Exception as e:  # figures only: a failure is reported in the table
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return Skipped(f"failed: {first[:200]}")


def truncated_note(got: int, wanted: int) -> str:
    return "" if got >= wanted else f"time bound reached: {got} of {wanted} runs"


def create_containers(engine: Engine, count: int, cmd: Sequence[str], budget: Budget,
                      workers: int = SETUP_WORKERS) -> list[str]:
    """Create up to `count` containers through the API, `workers` at a time, within the budget."""
    body = engine.create_body(cmd)

    def one(_: int) -> str | None:
        if budget.expired():
            return None
        return str(engine.api.json("POST", "/containers/create", body)["Id"])

    with ThreadPoolExecutor(workers) as pool:
        return [cid for cid in pool.map(one, range(count)) if cid]


def remove_containers(engine: Engine, ids: Sequence[str], workers: int = SETUP_WORKERS) -> None:
    def one(cid: str) -> None:
        with contextlib.suppress(Exception):
            engine.api.request("DELETE", f"/containers/{cid}?force=1&v=1", timeout=120)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, ids))


@contextlib.contextmanager
def containers(engine: Engine, count: int, cmd: Sequence[str], budget: Budget,
               start: bool = False) -> Iterator[list[str]]:
    """Containers for the block's duration, removed after, whatever happens."""
    ids: list[str] = []
    try:
        ids = create_containers(engine, count, cmd, budget)
        if start:
            for cid in ids:
                engine.api.json("POST", f"/containers/{cid}/start")
        yield ids
    finally:
        remove_containers(engine, ids)
