"""Many clients acting on the same containers at once: never a 5xx, nothing left half-removed.

20 clients stop, kill, restart, start and force-remove the same 10 containers for 30 s (each
removed one is made again under its name, so the fight goes on). Every answer must be one a
client can act on (2xx, 304, 404, 409); afterwards every container is whole or gone, and
`berthd --check` on the stopped engine finds nothing to repair.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.reliability.helpers import import_tar, private_berthd, run_check
from tests.support.daemon import prerequisites_missing

pytestmark = pytest.mark.integration

CLIENTS = 20
CONTAINERS = 10
SECONDS = 30.0


def test_concurrent_stop_kill_restart_remove_never_fail(tmp_path: Path, busybox_tar: Path) -> None:
    missing = prerequisites_missing()
    if missing:
        pytest.skip(missing)
    with private_berthd(tmp_path / "d") as d:
        import_tar(d, busybox_tar.read_bytes(), "busybox")
        names = [f"fight{i}" for i in range(CONTAINERS)]

        def make(name: str) -> int:
            status, _, _ = d.api.request("POST", f"/containers/create?name={name}",
                                         {"Image": "busybox", "Cmd": ["sleep", "300"], "StopTimeout": 1,
                                          "HostConfig": {"NetworkMode": "none"}})
            if status == 201:
                status, _, _ = d.api.request("POST", f"/containers/{name}/start")
            return status

        for name in names:
            assert make(name) == 204
        seen: Counter[tuple[str, int]] = Counter()
        failures: list[str] = []
        lock = threading.Lock()
        deadline = time.monotonic() + SECONDS

        def client(seed: int) -> None:
            rnd = random.Random(seed)
            while time.monotonic() < deadline:
                name = rnd.choice(names)
                op = rnd.choice(["stop", "kill", "restart", "start", "remove", "inspect"])
                if op == "stop":
                    status, _, body = d.api.request("POST", f"/containers/{name}/stop?t=1")
                elif op == "kill":
                    status, _, body = d.api.request("POST", f"/containers/{name}/kill")
                elif op == "restart":
                    status, _, body = d.api.request("POST", f"/containers/{name}/restart?t=1")
                elif op == "start":
                    status, _, body = d.api.request("POST", f"/containers/{name}/start")
                elif op == "remove":
                    status, _, body = d.api.request("DELETE", f"/containers/{name}?force=1")
                    if status == 204 or status == 404:
                        made = make(name)
                        if made >= 500:
                            status, body = made, b"re-create"
                else:
                    status, _, body = d.api.request("GET", f"/containers/{name}/json")
                with lock:
                    seen[(op, status)] += 1
                    if status >= 500 or status not in (200, 201, 204, 304, 404, 409):
                        failures.append(f"{op} {name}: {status} {body[:300]!r}")

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(SECONDS + 120)
        assert not any(t.is_alive() for t in threads), "a client hung"
        assert not failures, (failures[:10], dict(seen))
        assert sum(n for (op, _), n in seen.items() if op == "remove") > 20, dict(seen)

        # Whole or gone: every listed container inspects and removes cleanly.
        for c in json.loads(d.api.request("GET", "/containers/json?all=1")[2]):
            status, _, body = d.api.request("GET", f"/containers/{c['Id']}/json")
            assert status == 200, body
            assert json.loads(body)["State"]["Status"] in ("created", "running", "exited", "restarting"), body
            status, _, body = d.api.request("DELETE", f"/containers/{c['Id']}?force=1")
            assert status == 204, body
        assert json.loads(d.api.request("GET", "/containers/json?all=1")[2]) == []
        d.stop()
        code, report = run_check(d, "--no-repair")
        assert code == 0 and report["clean"], report
