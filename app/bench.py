"""`python -m app.bench`: Berth Desktop's performance figures (not a test).

Prints: cold start to first painted window; idle CPU with 20 running containers; RSS; refresh of a
1,000-container table; with 5,000 containers (`--many`) the list's first paint, a scroll through it
and idle CPU; log lines appended per second with the longest event-loop stall.
Containers come from the in-memory fake engine of the test suite (tests/engine/client/fake_engine.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parent.parent

_CHILD = """
import sys, time
t0 = time.perf_counter()
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication
from app.desktop.main import create_app
from app.desktop.theme import Theme, apply_theme
app = create_app([sys.argv[0]])
apply_theme(app, Theme.load("light"))
from app.desktop.window import MainWindow
window = MainWindow(sys.argv[1])
class Painted(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            print(f"painted {time.perf_counter() - t0:.4f}", flush=True)
            app.exit(0)
        return False
watcher = Painted()
window.installEventFilter(watcher)
window.show()
QTimer.singleShot(5000, app.quit)
app.exec()
"""


def cold_start(url: str) -> float:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _CHILD, url], capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    wall = time.perf_counter() - started
    for line in out.stdout.splitlines():
        if line.startswith("painted"):
            return wall  # interpreter start included
    raise RuntimeError(f"the window never painted: {out.stderr[-2000:]}")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def many_containers(engine: Any, total: int, results: list[tuple[str, str, str]]) -> None:
    """A window opened on an engine with `total` containers (one in 50 running, as a host of mostly
    stopped ones is): first paint of the full list, scrolling it end to end, idle CPU (issue 24)."""
    from PySide6.QtWidgets import QApplication

    from app.desktop.window import MainWindow
    from tests.app.heartbeat import Heartbeat

    have = len(engine.containers)
    for i in range(max(0, total - have)):
        engine.add_container(f"many-{i}", state="running" if i % 50 == 0 else "exited")
    window = MainWindow(engine.url)
    window.resize(1280, 860)
    window.show()
    beat = Heartbeat(5).start()
    t0 = time.perf_counter()
    window.start()
    table = window.containers_page.table
    while window.containers_model.rowCount() < total:
        await asyncio.sleep(0.005)
    table.viewport().repaint()
    first = time.perf_counter() - t0
    load_stall = beat.stop()
    results.append((f"first paint of a {total:,}-container list (window opened)", f"{first * 1000:.0f} ms",
                    "< 1000 ms"))
    results.append(("  max event-loop stall while it loads", f"{load_stall * 1000:.1f} ms", "≤ 50 ms"))
    await asyncio.sleep(1.0)
    bar = table.verticalScrollBar()
    # A mouse wheel's notch scrolls three rows and Qt paints the rows it exposes; Page Down paints a
    # whole new screen of rows. The worst single step of each, the event loop's longest wait included.
    for label, step, steps in (("wheel, 3 rows a notch, 300 notches", 3 * bar.singleStep(), 300),
                               ("Page Down end to end", bar.pageStep(), 10_000)):
        beat = Heartbeat(5).start()
        worst = 0.0
        for value in list(range(0, bar.maximum() + 1, max(1, step)))[:steps]:
            t1 = time.perf_counter()
            bar.setValue(value)
            QApplication.processEvents()
            worst = max(worst, time.perf_counter() - t1)
            await asyncio.sleep(0)
        worst = max(beat.stop(), worst)
        results.append((f"  scroll the list: {label}, worst step", f"{worst * 1000:.1f} ms", "≤ 50 ms"))
    await asyncio.sleep(3.0)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(20)
    cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0) * 100
    results.append((f"  idle CPU, 20 s, {total:,} containers", f"{cpu:.2f} %", "< 1 %"))
    await window.shutdown()
    window.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.bench")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--log-lines", type=int, default=1_000_000)
    parser.add_argument("--many", type=int, default=5_000, metavar="N",
                        help="containers for the large-list figures (0: skip them)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO))
    import qasync  # type: ignore[import-untyped]
    from PySide6.QtWidgets import QApplication

    from app.desktop.theme import Theme, apply_theme
    from app.desktop.window import MainWindow
    from app.widgets.log_panel import LogPanel
    from tests.app.heartbeat import Heartbeat
    from tests.engine.client.fake_engine import FakeEngine, short_socket_dir

    directory = short_socket_dir()
    # The bench's windows keep their settings and metrics history in its own directory: the user's
    # are neither read (their size would be measured) nor written (fake containers in their history).
    os.environ["BERTH_CONFIG_DIR"] = str(directory / "config")
    engine = FakeEngine(directory / "engine.sock").start()
    results: list[tuple[str, str, str]] = []
    try:
        starts = sorted(cold_start(engine.url) for _ in range(5))
        results.append(("cold start to first painted window, median of 5",
                        f"{statistics.median(starts) * 1000:.0f} ms", "< 700 ms"))
        results.append(("cold start, fastest of the 5", f"{starts[0] * 1000:.0f} ms", ""))

        app = QApplication.instance() or QApplication([sys.argv[0]])
        apply_theme(app, Theme.load("light"))  # type: ignore[arg-type]
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)

        async def run() -> None:
            for i in range(20):
                engine.add_container(f"idle-{i}", state="running")
            window = MainWindow(engine.url)
            window.show()
            window.start()
            while window.containers_model.rowCount() < 20:
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)
            cpu0 = time.process_time()
            wall0 = time.perf_counter()
            await asyncio.sleep(args.idle_seconds)
            cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0) * 100
            results.append((f"idle CPU, {args.idle_seconds:.0f} s, 20 running containers", f"{cpu:.2f} %", "< 1 %"))
            results.append(("RSS (window with 20 containers)", f"{rss_mb():.0f} MB", "< 200 MB"))

            for i in range(980):
                engine.add_container(f"bulk-{i}", state="running")
            while window.containers_model.rowCount() < 1000:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            # Every row changes (all stop): one listing folded into the table, then painted.
            def stop_all() -> None:
                for container in engine.containers.values():
                    container.state = "exited"
                    container.exit_code = 137

            engine.call(stop_all)
            items = await window.connection.client.containers(all=True)
            import cProfile
            import pstats
            profile = cProfile.Profile() if os.environ.get("BERTH_BENCH_PROFILE") else None
            if profile:
                profile.enable()
            t0 = time.perf_counter()
            window.containers_model.set_containers(items)
            window.containers_page.table.viewport().repaint()
            refresh = time.perf_counter() - t0
            if profile:
                profile.disable()
                pstats.Stats(profile).sort_stats("cumulative").print_stats(15)
            results.append(("refresh of a 1,000-container table (all rows changed)", f"{refresh * 1000:.1f} ms",
                            "< 100 ms"))
            await window.shutdown()
            window.close()
            if args.many:
                await many_containers(engine, args.many, results)

            panel = LogPanel()
            panel.resize(1000, 600)
            panel.show()
            beat = Heartbeat(5).start()
            batch_lines = 2_000
            chunk = "".join(f"2026-11-28T02:40:42.{i:09d}Z GET /api/items/{i} 200 \x1b[32mok\x1b[0m\n"
                            for i in range(batch_lines))
            t0 = time.perf_counter()
            added = 0
            while added < args.log_lines:
                panel.buffer.append(chunk)
                panel.on_appended()
                added += batch_lines
                await asyncio.sleep(0)  # as the follower yields between bursts
            await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - t0
            stall = beat.stop()
            results.append(("log lines appended per second (follow on, view painting)",
                            f"{added / elapsed:,.0f} lines/s", "≥ 50,000"))
            results.append(("  max event-loop stall while appending", f"{stall * 1000:.1f} ms", "≤ 50 ms"))
            panel.close()

        with loop:
            loop.run_until_complete(run())
    finally:
        engine.stop()
        shutil.rmtree(directory, ignore_errors=True)
    width = max(len(r[0]) for r in results)
    for name, value, target in results:
        print(f"{name.ljust(width)}  {value:>16}  {('target ' + target) if target else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
