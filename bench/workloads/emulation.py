"""What emulation costs a short container: `run --rm true` of the host's busybox beside the other
architecture's (Debian's busybox-static for arm64 on an amd64 host, amd64 on an arm64 one), run through
QEMU's user mode by binfmt_misc, on every engine. The foreign image is the same root filesystem with the
other binary; the engines' own platform checks are not what is measured."""

from __future__ import annotations

import platform
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.engines import Engine
from bench.summary import Metric, Result, Samples, Skipped
from bench.workloads.base import Budget, Context, Workload, attempt, repeat_timed, truncated_note
from tests.support.busybox import busybox_rootfs_tar, foreign_busybox

FOREIGN = "busybox-foreign:latest"


class EmulationCost(Workload):
    name = "emulation"
    title = "run --rm true: native vs emulated"
    full_seconds = 120
    quick_seconds = 60

    def __init__(self) -> None:
        self._tar: Path | None = None
        self._problem = ""

    def metrics(self, ctx: Context) -> list[Metric]:
        other = "arm64" if platform.machine() == "x86_64" else "amd64"
        return [Metric("run_native", "run --rm busybox true (native)", "ms", "lower"),
                Metric("run_emulated", f"  the same, {other} busybox under QEMU user mode", "ms", "lower")]

    def prepare(self, ctx: Context, engines: Sequence[Engine]) -> None:
        other = "arm64" if platform.machine() == "x86_64" else "amd64"
        binary = foreign_busybox(other)
        if binary is None:
            self._problem = f"no {other} busybox (apt-get download busybox-static:{other} failed)"
            return
        self._tar = busybox_rootfs_tar(Path(tempfile.mkdtemp(dir=ctx.work)) / "foreign.tar", str(binary))

    def run(self, engine: Engine, ctx: Context, budget: Budget) -> dict[str, Result]:
        if self._tar is None:
            return {"run_native": Skipped(self._problem), "run_emulated": Skipped(self._problem)}
        repo, _, tag = FOREIGN.partition(":")
        status, data = engine.api.request("POST", f"/images/create?fromSrc=-&repo={repo}&tag={tag}",
                                          self._tar.read_bytes(), timeout=120)
        if status != 200:
            return {"run_native": Skipped("import failed"), "run_emulated": Skipped(f"import: {data[-200:]!r}")}
        reps = ctx.reps(10, 5)

        def measure(image: str) -> Samples:
            got = repeat_timed(engine, ["run", "--rm", *engine.network_args, image, "true"], reps, budget, warmup=1)
            return Samples(got, truncated_note(len(got), reps))

        try:
            return {"run_native": attempt(lambda: measure("busybox")),
                    "run_emulated": attempt(lambda: measure(FOREIGN))}
        finally:
            engine.api.request("DELETE", f"/images/{FOREIGN}?force=1", timeout=60)
