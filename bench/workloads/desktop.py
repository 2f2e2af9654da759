"""Berth Desktop's own figures (cold start, idle CPU, RSS), from `python -m app.bench` if it exists.

Its output is taken as JSON: an object of figures, each a number or {"median": ..., "values": [...]}
(the last JSON object printed wins); anything else is kept as text in the notes."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from typing import Any

from bench.engines import REPO, Engine
from bench.summary import Metric, Result, Samples, Skipped
from bench.workloads.base import Budget, Context, Workload


class DesktopFigures(Workload):
    name = "desktop"
    title = "Berth Desktop: cold start, idle CPU, RSS"
    full_seconds = 240
    quick_seconds = 120

    def __init__(self) -> None:
        self.found: dict[str, Any] = {}
        self.rows: list[Metric] = [Metric("desktop", "Berth Desktop (python -m app.bench)", "", "lower")]

    def metrics(self, ctx: Context) -> list[Metric]:
        return self.rows

    def run(self, engine: Engine, ctx: Context, budget: Budget) -> dict[str, Result]:
        if engine.name != "berthd":
            return {m.key: Skipped("berthd only: the desktop is Berth's") for m in self.rows}
        if importlib.util.find_spec("app.bench") is None:
            return {"desktop": Skipped("no `python -m app.bench` yet")}
        env = {**os.environ, "BERTH_HOST": f"unix://{engine.socket}", "DOCKER_HOST": f"unix://{engine.socket}",
               "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
        args = [sys.executable, "-m", "app.bench", *(["--quick"] if ctx.quick else [])]
        done = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=budget.timeout(600))
        if done.returncode != 0 and ctx.quick:  # it may not know --quick
            done = subprocess.run(args[:-1], env=env, cwd=REPO, capture_output=True, text=True,
                                  timeout=budget.timeout(600))
        figures = _last_json_object(done.stdout)
        if done.returncode != 0 or figures is None:
            ctx.notes.append(f"app.bench said: {(done.stdout + done.stderr).strip()[-400:]}")
            return {"desktop": Skipped(f"app.bench exited {done.returncode} without JSON figures")}
        out: dict[str, Result] = {}
        rows = []
        for key, value in figures.items():
            values = _values(value)
            if values is None:
                continue
            unit = str(value.get("unit", "")) if isinstance(value, dict) else _unit_from_key(key)
            rows.append(Metric(f"desktop_{key}", f"Desktop: {key}", unit, "lower"))
            out[f"desktop_{key}"] = Samples(values)
        if rows:
            self.rows = rows
        return out or {"desktop": Skipped("app.bench printed no figures")}


def _last_json_object(text: str) -> dict[str, Any] | None:
    try:
        whole = json.loads(text)
        if isinstance(whole, dict):
            return whole
    except ValueError:
        pass
    for line in reversed(text.splitlines()):
        try:
            found = json.loads(line)
        except ValueError:
            continue
        if isinstance(found, dict):
            return found
    return None


def _values(value: Any) -> list[float] | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict):
        if isinstance(value.get("values"), list) and value["values"]:
            return [float(v) for v in value["values"]]
        if isinstance(value.get("median"), int | float):
            return [float(value["median"])]
    return None


def _unit_from_key(key: str) -> str:
    for suffix, unit in (("_ms", "ms"), ("_s", "s"), ("_mb", "MB"), ("_pct", "%"), ("_percent", "%")):
        if key.lower().endswith(suffix):
            return unit
    return ""
