"""Load, bounded: 50 concurrent create+start (--rm), 1,000 containers then `ps -a`, 100 concurrent log
followers, with `/_ping` latency sampled throughout. Figures are printed and written to
`$BERTH_RELIABILITY_FIGURES` (a JSON file) when set; docs/reliability.md records the last ones."""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.helpers import import_tar, private_berthd, wait_until
from tests.support.daemon import Berthd, prerequisites_missing
from vmhost.ports import UnixHTTPConnection

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

# The target is 50 ms, not met yet (docs/reliability.md): this bound guards against regressions.
PING_P99_BOUND_MS = float(os.environ.get("BERTH_PING_P99_BOUND_MS", "1000"))


class PingSampler:
    """Pings every 20 ms in a thread while the load runs."""

    def __init__(self, d: Berthd) -> None:
        self.d = d
        self.samples: list[float] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.perf_counter()
            try:
                status, _, _ = self.d.api.request("GET", "/_ping")
                if status != 200:
                    self.errors += 1
            except OSError:
                self.errors += 1
            self.samples.append((time.perf_counter() - t0) * 1000)
            self._stop.wait(0.02)

    def __enter__(self) -> PingSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def figures(self) -> dict[str, float]:
        s = sorted(self.samples)
        return {"count": len(s), "p50_ms": round(statistics.median(s), 2),
                "p99_ms": round(s[min(len(s) - 1, int(len(s) * 0.99))], 2), "max_ms": round(s[-1], 2),
                "errors": self.errors}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, busybox_tar: Path) -> Iterator[Berthd]:
    missing = prerequisites_missing()
    if missing:
        pytest.skip(missing)
    with private_berthd(tmp_path_factory.mktemp("load") / "d") as d:
        import_tar(d, busybox_tar.read_bytes(), "busybox")
        yield d


FIGURES: dict[str, Any] = {}


def _record(name: str, figures: dict[str, Any]) -> None:
    FIGURES[name] = figures
    print(f"\n{name}: {json.dumps(figures)}")
    out = os.environ.get("BERTH_RELIABILITY_FIGURES")
    if out:
        Path(out).write_text(json.dumps(FIGURES, indent=2) + "\n")


def _create(d: Berthd, body: dict[str, Any]) -> str:
    status, _, data = d.api.request("POST", "/containers/create", body)
    assert status == 201, data
    return str(json.loads(data)["Id"])


def test_50_concurrent_run_rm(loaded: Berthd) -> None:
    d = loaded

    def run_rm(_n: int) -> float:
        t0 = time.perf_counter()
        cid = _create(d, {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"AutoRemove": True}})
        status, _, data = d.api.request("POST", f"/containers/{cid}/start")
        assert status == 204, data
        return time.perf_counter() - t0

    with PingSampler(d) as ping:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(50) as pool:
            latencies = list(pool.map(run_rm, range(50)))
        assert wait_until(lambda: d.api.json("GET", "/containers/json?all=1") == [], 120)
        total = time.perf_counter() - t0
    figures = ping.figures()
    _record("run_rm_50", {"total_s": round(total, 2), "start_p50_s": round(statistics.median(latencies), 2),
                          "start_max_s": round(max(latencies), 2), "ping": figures})
    assert figures["errors"] == 0
    assert figures["p99_ms"] < PING_P99_BOUND_MS


def test_1000_containers_then_ps(loaded: Berthd) -> None:
    d = loaded
    with PingSampler(d) as ping:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda _: _create(d, {"Image": "busybox", "Cmd": ["true"]}), range(1000)))
        created = time.perf_counter() - t0
        t0 = time.perf_counter()
        listed = d.api.json("GET", "/containers/json?all=1")
        ps = time.perf_counter() - t0
    try:
        assert {c["Id"] for c in listed} >= set(ids)
        figures = ping.figures()
        _record("create_1000", {"create_total_s": round(created, 2), "ps_all_ms": round(ps * 1000, 1),
                                "ping": figures})
        assert ps < 2.0
        assert figures["errors"] == 0
        assert figures["p99_ms"] < PING_P99_BOUND_MS
    finally:
        t0 = time.perf_counter()
        d.api.request("POST", "/containers/prune")
        FIGURES.setdefault("create_1000", {})["prune_s"] = round(time.perf_counter() - t0, 2)
    assert d.api.json("GET", "/containers/json?all=1") == []


def test_100_log_followers(loaded: Berthd) -> None:
    d = loaded
    cid = _create(d, {"Image": "busybox", "Cmd": ["sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); "
                                                              "sleep 0.05; done"]})
    assert d.api.request("POST", f"/containers/{cid}/start")[0] == 204
    received = [0] * 100
    stop = time.monotonic() + 5

    def follow(n: int) -> None:
        conn = UnixHTTPConnection(d.socket, timeout=10)
        try:
            conn.request("GET", f"/containers/{cid}/logs?follow=1&stdout=1&tail=1")
            resp = conn.getresponse()
            assert resp.status == 200
            while time.monotonic() < stop:
                if not resp.read1(65536):
                    break
                received[n] += 1
        finally:
            conn.close()

    try:
        with PingSampler(d) as ping, ThreadPoolExecutor(100) as pool:
            list(pool.map(follow, range(100)))
        figures = ping.figures()
        _record("log_followers_100", {"followers_fed": sum(1 for r in received if r > 5),
                                      "reads_min": min(received), "ping": figures})
        assert all(r > 5 for r in received), received
        assert figures["errors"] == 0
        assert figures["p99_ms"] < PING_P99_BOUND_MS
    finally:
        d.api.request("DELETE", f"/containers/{cid}?force=1")
