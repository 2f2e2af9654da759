"""`python -m bench`: start the engines, run the workloads on each in turn, print and save the table."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, NoReturn

from bench.engines import ENGINES, NETWORK_MODES, REPO, Engine, EngineStartError, docker_cli, stop_quietly
from bench.profile import Profiler
from bench.report import as_json, notes_of, table
from bench.summary import Metric, Result, Skipped
from bench.workloads import all_workloads
from bench.workloads.base import Context, Workload
from tests.support.busybox import BUSYBOX, busybox_rootfs_tar

BINARIES = {"berthd": ["conmon"], "dockerd": ["dockerd"], "podman": ["podman"]}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    names = [w.name for w in all_workloads()]
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer repetitions, a small pull image")
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help=f"run only these workloads (repeatable or comma-separated): {', '.join(names)}")
    p.add_argument("--engines", default="berthd,dockerd,podman", help="comma-separated (default: %(default)s)")
    p.add_argument("--pull-mb", type=int, default=0, help="size of the pull image (default 500, 48 with --quick)")
    p.add_argument("--profile", action="store_true",
                   help="profile berthd with py-spy over an extra pass of `run`, `ps`, `logs` and `pull`")
    p.add_argument("--network", choices=[*NETWORK_MODES, "both"], default="both",
                   help="`none`: every container with --network none; `bridge`: each engine on its default "
                        "bridge in a namespace of its own, for the workloads where networking costs; "
                        "(default: %(default)s)")
    p.add_argument("--out", type=Path, default=REPO / "artifacts" / "bench", help="where the JSON goes")
    args = p.parse_args(argv)
    args.only = [n for item in args.only for n in item.split(",") if n]
    unknown = set(args.only) - set(names)
    if unknown:
        p.error(f"unknown workload(s): {', '.join(sorted(unknown))}; known: {', '.join(names)}")
    args.engines = [e for e in args.engines.split(",") if e]
    if set(args.engines) - set(ENGINES):
        p.error(f"engines are: {', '.join(ENGINES)}")
    return args


def _terminate(signum: int, frame: object) -> NoReturn:
    raise SystemExit(128 + signum)  # so that every finally runs and cleans up


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench: run as root (sudo scripts/bench.sh): the engines need namespaces and mounts", file=sys.stderr)
        return 2
    if not Path(BUSYBOX).exists():
        print("bench: needs Debian's busybox-static", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    workloads = [w for w in all_workloads() if w.name in args.only or (not args.only and not w.on_request)]
    work = Path(tempfile.mkdtemp(prefix="berth-bench-", dir="/var/tmp"))
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    ctx = Context(quick=args.quick, work=work, artifacts=args.out,
                  profiler=Profiler(args.out, enabled=args.profile), options={"pull_mb": args.pull_mb})
    engines: list[Engine] = []
    rows: list[Metric] = []
    names: list[str] = []
    seen: list[Engine] = []
    modes = NETWORK_MODES if args.network == "both" else (args.network,)
    started = time.monotonic()
    load_before = os.getloadavg()
    try:
        for mode in modes:
            in_mode = [w for w in workloads if mode == "none" or w.networked]
            if not in_mode:
                continue
            say(f"network: {mode}")
            engines = start_engines(args.engines, work, ctx, mode)
            seen += engines
            rows += run_workloads(in_mode, engines, ctx, mode)
            names += [e.name for e in engines if e.name not in names]
            for engine in engines:
                stop_quietly(engine)
            engines = []
    finally:
        for engine in engines:
            stop_quietly(engine)
        shutil.rmtree(work, ignore_errors=True)
    header: dict[str, Any] = {
        "when": stamp, "quick": args.quick, "seconds": round(time.monotonic() - started),
        "host": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
                 "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "docker_cli": docker_cli()},
        "engines": {f"{e.name} ({e.network})": {"version": e.version_text, "notes": e.notes} for e in seen},
        "workloads": [w.name for w in workloads],
        "notes": ctx.notes + notes_of(rows),
        "profiles": {k: p.as_json() for k, p in ctx.profiler.profiles.items()},
    }
    if ctx.profiler.problem:
        header["notes"].append(f"profiling: {ctx.profiler.problem}")
    text = table(rows, names)
    print()
    print(text)
    print()
    for line in header["notes"]:
        print(f"note: {line}")
    for e in seen:
        print(f"{e.name} ({e.network}): {e.version_text}" + "".join(f"; {n}" for n in e.notes))
    args.out.mkdir(parents=True, exist_ok=True)
    data = json.dumps(as_json(rows, header), indent=2) + "\n"
    path = args.out / f"bench-{stamp}{'-quick' if args.quick else ''}.json"
    path.write_text(data)
    (args.out / "latest.json").write_text(data)
    (args.out / "latest.txt").write_text(text + "\n\n" + "\n".join(f"note: {n}" for n in header["notes"]) + "\n")
    print(f"saved {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return 0


def start_engines(wanted: list[str], work: Path, ctx: Context, network: str = "none") -> list[Engine]:
    """Start each engine that this host has, and give it the same busybox image."""
    tar = busybox_rootfs_tar(work / "busybox.tar")
    engines: list[Engine] = []
    for name in wanted:
        missing = [b for b in BINARIES[name] if shutil.which(b) is None]
        if missing:
            ctx.notes.append(f"{name} left out: {', '.join(missing)} not installed")
            continue
        engine = ENGINES[name](work / f"{name}-{network}", network)
        engines.append(engine)  # before start, so that a failed start is still cleaned up
        say(f"starting {name}")
        try:
            engine.start()
            engine.load_busybox(tar)
            engine.version_text = engine.version()
        except (EngineStartError, OSError, RuntimeError) as e:
            ctx.notes.append(f"{name} left out ({network} network): {e}")
            stop_quietly(engine)
            engines.remove(engine)
    tar.unlink()
    return engines


def run_workloads(workloads: list[Workload], engines: list[Engine], ctx: Context,
                  network: str = "none") -> list[Metric]:
    rows: list[Metric] = []
    for w in workloads:
        say(f"{w.title}")
        results: dict[str, dict[str, Result]] = {}
        try:
            w.prepare(ctx, engines)
            for engine in engines:
                t0 = time.monotonic()
                try:
                    results[engine.name] = w.run(engine, ctx, w.budget(ctx))
                except Exception as e:  # figures only: a failure is reported, not raised
                    detail = traceback.format_exception_only(e)[-1].strip()
                    ctx.notes.append(f"{w.name} on {engine.name} failed: {detail[:400]}")
                    results[engine.name] = {m.key: Skipped(f"failed on {engine.name}") for m in w.metrics(ctx)}
                say(f"  {engine.name}: {time.monotonic() - t0:.0f}s")
        finally:
            w.finish(ctx)
        metrics = w.metrics(ctx)
        known = {m.key for m in metrics}
        for engine_name, by_key in results.items():
            for key, result in by_key.items():
                if key not in known:  # a row the workload did not declare: keep it all the same
                    metrics.append(Metric(key, key, "", "lower"))
                    known.add(key)
                next(m for m in metrics if m.key == key).results[engine_name] = result
        w.judge({m.key: m for m in metrics}, network)
        if network != "none":  # the same rows again, on the default bridge
            for m in metrics:
                m.key, m.title = f"{m.key}_{network}", f"{m.title} [default {network}]"
        rows.extend(metrics)
    return rows


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)
