"""Soak: a private berthd with many containers that log, restart and stream stats for a bounded time.

    sudo .venv/bin/python -m tests.reliability.soak --minutes 30 [--containers 50] [--desktop]

Prints berthd's resident memory and open file descriptors every `--every` seconds, then their growth
from the first sample after `--warmup` minutes to the mean of the last three samples (must stay under
`--max-growth` percent), and checks /events: every restart the soak asked for, and every create,
start and destroy, appears in the stream, in time order. With `--desktop`, the real Berth Desktop
runs offscreen against the same berthd (a process of its own, its settings in the soak's temp dir),
and its RSS and fds are judged the same way; it must stay up and connected to the end. Exit status
0 when all hold. Everything it makes (containers, the daemon, its mounts and bridge, the desktop) is
removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from tests.reliability.helpers import import_tar, process_figures, wait_for_no_leftovers
from tests.support.busybox import busybox_rootfs_tar
from tests.support.daemon import REPO, Berthd
from vmhost.ports import UnixHTTPConnection

LOOP = "trap 'exit 0' TERM; i=0; while :; do echo \"$HOSTNAME line $i\"; i=$((i+1)); sleep 0.5; done"


Sample = tuple[float, int, int]  # (seconds since the start, RSS KiB, open fds)


class Desktop:
    """Berth Desktop drawing offscreen, attached to the soak's berthd as a user's window is: started as
    its own process (`python -m app.desktop.main --host ...`), with HOME and the XDG directories in the
    soak's temp dir, so it neither reads nor changes the settings of whoever runs the soak."""

    def __init__(self, base: Path, d: Berthd) -> None:
        self.base, self.d = base, d
        self.log = base / "desktop.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> None:
        home = self.base / "home"
        runtime = self.base / "xdg-run"
        for path in (home, runtime):
            path.mkdir(parents=True, exist_ok=True)
        runtime.chmod(0o700)  # Qt refuses a runtime dir others can read
        env = {k: v for k, v in os.environ.items() if k not in ("BERTH_HOST", "DOCKER_HOST", "BERTH_CONFIG_DIR")}
        env.update(QT_QPA_PLATFORM="offscreen", HOME=str(home), XDG_RUNTIME_DIR=str(runtime),
                   XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
                   XDG_CACHE_HOME=str(home / ".cache"), XDG_STATE_HOME=str(home / ".local/state"))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "app.desktop.main", "--host", self.d.url],
                                         stdout=log, stderr=log, cwd=REPO, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # attached: it holds a connection to berthd (its /events)
            if self.proc.poll() is not None:
                raise RuntimeError(f"Berth Desktop exited with {self.proc.returncode}:\n{self.tail()}")
            if self.connections() > 0:
                return
            time.sleep(0.5)
        raise RuntimeError(f"Berth Desktop did not connect to berthd within {timeout:.0f} s:\n{self.tail()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def connections(self) -> int:
        """How many of berthd's accepted connections have the desktop's sockets at the other end."""
        try:
            mine = {link[len("socket:["):-1] for fd in os.listdir(f"/proc/{self.pid}/fd")
                    if (link := _readlink(f"/proc/{self.pid}/fd/{fd}")).startswith("socket:[")}
        except OSError:
            return 0
        # server side of berthd's socket: "u_str ESTAB 0 0 <socket path> <inode> * <peer inode>"
        out = subprocess.run(["ss", "-xn", "src", str(self.d.socket)], capture_output=True, text=True,
                             timeout=10).stdout
        return sum(1 for line in out.splitlines()[1:] if line.split() and line.split()[-1] in mine)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:  # closed since the listing
        return ""


class Soak:
    def __init__(self, d: Berthd, containers: int, seed: int) -> None:
        self.d, self.count, self.rng = d, containers, random.Random(seed)
        self.stop = threading.Event()
        self.events_stop = threading.Event()  # the events stream outlives the work: the destroys come last
        self.ids: list[str] = []
        self.caused: Counter[tuple[str, str]] = Counter()  # (id, action) -> times the soak caused it
        self.seen: Counter[tuple[str, str]] = Counter()
        self.times: list[int] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.stats_read = 0

    def _stream(self, path: str, each: Callable[[bytes], None], stop: threading.Event | None = None) -> None:
        """Read a streaming endpoint line by line until `stop` (the soak's end), reopened when it closes."""
        stop = stop or self.stop
        while not stop.is_set():
            conn = UnixHTTPConnection(self.d.socket, 600 if path == "/events" else 30)
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                while not stop.is_set() and (line := resp.readline()):
                    if line.strip():
                        each(line)
            except (OSError, http.client.HTTPException):
                time.sleep(0.2)
            finally:
                conn.close()

    def on_event(self, line: bytes) -> None:
        ev = json.loads(line)
        if ev.get("Type") == "container":
            with self.lock:
                self.seen[(ev["id"], ev["Action"])] += 1
                self.times.append(int(ev["timeNano"]))

    def on_stats(self, _line: bytes) -> None:
        self.stats_read += 1

    def start_containers(self) -> None:
        for i in range(self.count):
            status, _, body = self.d.api.request("POST", f"/containers/create?name=soak{i}", {
                "Image": "busybox", "Cmd": ["sh", "-c", LOOP],
                "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "2"}}}})
            assert status == 201, body
            cid = json.loads(body)["Id"]
            status, _, body = self.d.api.request("POST", f"/containers/{cid}/start")
            assert status == 204, body
            self.ids.append(cid)
            self.caused[(cid, "create")] += 1
            self.caused[(cid, "start")] += 1

    def restarter(self) -> None:
        """About one restart a second, of a random container."""
        while not self.stop.wait(1.0):
            cid = self.rng.choice(self.ids)
            status, _, body = self.d.api.request("POST", f"/containers/{cid}/restart?t=5")
            if status == 204:
                self.caused[(cid, "restart")] += 1
                self.caused[(cid, "start")] += 1
            else:
                self.errors.append(f"restart {cid[:12]}: {status} {body[:200]!r}")

    def logs_reader(self) -> None:
        """Tails of random containers' logs, as a desktop's log view polls them."""
        while not self.stop.wait(0.5):
            cid = self.rng.choice(self.ids)
            status, _, body = self.d.api.request("GET", f"/containers/{cid}/logs?stdout=1&tail=20")
            if status != 200 or b"line" not in body:
                self.errors.append(f"logs {cid[:12]}: {status} {body[:200]!r}")

    def remove_all(self) -> None:
        for cid in self.ids:
            if self.d.api.request("DELETE", f"/containers/{cid}?force=1")[0] == 204:
                self.caused[(cid, "destroy")] += 1


def run(minutes: float, containers: int, every: float, warmup: float, max_growth: float, seed: int,
        with_desktop: bool = False) -> int:
    base = Path(tempfile.mkdtemp(prefix="berth-soak-"))
    d = Berthd(base / "d")
    desktop = Desktop(base, d) if with_desktop else None
    soak: Soak | None = None
    threads: list[threading.Thread] = []
    samples: list[Sample] = []
    desktop_samples: list[Sample] = []
    desktop_problems: list[str] = []
    try:
        d.start()
        import_tar(d, busybox_rootfs_tar(base / "busybox.tar").read_bytes(), "busybox")
        soak = Soak(d, containers, seed)
        threads.append(threading.Thread(target=soak._stream, args=("/events", soak.on_event, soak.events_stop),
                                        daemon=True))
        threads[0].start()
        time.sleep(0.5)  # the events stream is open before anything happens
        soak.start_containers()
        for cid in soak.ids[: min(10, containers)]:  # stats streams of ten containers, as a desktop shows them
            threads.append(threading.Thread(target=soak._stream, args=(f"/containers/{cid}/stats", soak.on_stats),
                                            daemon=True))
        threads += [threading.Thread(target=soak.restarter, daemon=True),
                    threading.Thread(target=soak.logs_reader, daemon=True)]
        for t in threads[1:]:
            t.start()
        if desktop is not None:
            desktop.start()  # after the containers exist: its window lists them and streams their stats
        began = time.monotonic()
        assert d.proc is not None
        print(f"soak: {containers} containers, {minutes} min, seed {seed}, berthd pid {d.proc.pid}"
              + (f", Berth Desktop pid {desktop.pid}" if desktop is not None else ""), flush=True)
        print("  minute    RSS KiB   fds  restarts  stats lines"
              + ("  desktop RSS KiB  fds  conns" if desktop is not None else ""), flush=True)
        while (elapsed := time.monotonic() - began) < minutes * 60:
            rss, fds = process_figures(d.proc.pid)
            samples.append((elapsed, rss, fds))
            restarts = sum(n for (_, action), n in soak.caused.items() if action == "restart")
            line = f"  {elapsed / 60:6.1f} {rss:10d} {fds:5d} {restarts:9d} {soak.stats_read:12d}"
            if desktop is not None:
                if not desktop.alive():
                    desktop_problems.append(f"Berth Desktop exited at {elapsed / 60:.1f} min:\n{desktop.tail()}")
                    desktop = None
                else:
                    drss, dfds = process_figures(desktop.pid)
                    conns = desktop.connections()
                    desktop_samples.append((elapsed, drss, dfds))
                    if conns == 0:
                        desktop_problems.append(f"Berth Desktop held no connection to berthd at {elapsed / 60:.1f} min")
                    line += f"  {drss:15d} {dfds:4d} {conns:5d}"
            print(line, flush=True)
            time.sleep(min(every, max(0.0, minutes * 60 - elapsed)))
        if desktop is not None:
            desktop.stop()
        soak.stop.set()
        for t in threads[1:]:
            t.join(30)
        soak.remove_all()
        time.sleep(2)  # the last events reach the stream
        soak.events_stop.set()
        ok = report(soak, samples, warmup, max_growth)
        if with_desktop:
            ok = judge_desktop(desktop_samples, desktop_problems, warmup, max_growth) and ok
        return 0 if ok else 1
    finally:
        if desktop is not None:
            desktop.stop()
        if soak is not None:
            soak.stop.set()
            soak.events_stop.set()
        with contextlib.suppress(Exception):
            if d.proc is not None:
                d.remove_all_containers()
                left = wait_for_no_leftovers(d, timeout=20)
                if left:
                    print("left behind:", *left, sep="\n  ")
        d.cleanup()
        shutil.rmtree(base, ignore_errors=True)


def growth(who: str, samples: list[Sample], warmup: float, max_growth: float) -> bool:
    """Print `who`'s RSS and fd growth from the first sample after the warm-up to the mean of the last
    three; whether both stay under `max_growth` percent."""
    after = [s for s in samples if s[0] >= warmup * 60]
    if len(after) < 4:
        print(f"FAIL: too few samples of {who} after the first {warmup} min to judge growth: run longer")
        return False
    ok = True
    first, last = after[0], after[-3:]
    for name, i in (("RSS", 1), ("open fds", 2)):
        end = sum(s[i] for s in last) / len(last)
        grew = 100 * (end - first[i]) / first[i]
        verdict = "ok" if grew < max_growth else "FAIL"
        print(f"{verdict}: {who} {name} {first[i]} at {first[0] / 60:.1f} min -> {end:.0f} at the end: "
              f"{grew:+.1f} % (limit {max_growth} %)")
        ok = ok and grew < max_growth
    return ok


def judge_desktop(samples: list[Sample], problems: list[str], warmup: float, max_growth: float) -> bool:
    for problem in problems[:3]:
        print(f"FAIL: {problem}")
    return growth("Berth Desktop", samples, warmup, max_growth) and not problems


def report(soak: Soak, samples: list[Sample], warmup: float, max_growth: float) -> bool:
    ok = growth("berthd", samples, warmup, max_growth)
    lost = {k: (n, soak.seen[k]) for k, n in soak.caused.items() if soak.seen[k] < n}
    caused = sum(soak.caused.values())
    if lost:
        ok = False
        by_action: defaultdict[str, int] = defaultdict(int)
        for (_, action), (n, got) in lost.items():
            by_action[action] += n - got
        print(f"FAIL: events lost: {dict(by_action)} of {caused} caused")
    else:
        print(f"ok: all {caused} container actions the soak caused appear in /events")
    if soak.times != sorted(soak.times):
        ok = False
        print("FAIL: /events delivered events out of time order")
    if soak.errors:
        ok = False
        print(f"FAIL: {len(soak.errors)} requests failed, first: {soak.errors[:3]}")
    return ok


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tests.reliability.soak", description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--containers", type=int, default=50)
    p.add_argument("--every", type=float, default=30, help="seconds between samples")
    p.add_argument("--warmup", type=float, default=5, help="minutes before growth is measured")
    p.add_argument("--max-growth", type=float, default=10, help="percent")
    p.add_argument("--seed", type=int, default=random.SystemRandom().randrange(1 << 32))
    p.add_argument("--desktop", action="store_true",
                   help="attach the real Berth Desktop (offscreen) and judge its RSS and fds too")
    args = p.parse_args(argv)
    if not 1 <= args.containers <= 200 or not 0 < args.minutes <= 240:
        p.error("--containers 1..200 and --minutes up to 240: the soak stays bounded")

    def interrupted(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    sys.exit(run(args.minutes, args.containers, args.every, args.warmup, args.max_growth, args.seed,
                 args.desktop))


if __name__ == "__main__":
    main()
