"""Berth Desktop's own figures (cold start, idle CPU, RSS...), from `python -m app.bench` if it exists.

app.bench drives its own in-memory fake engine, so these are the desktop's figures alone, in a
berthd column. It prints one figure a line, `name  value unit  target <op> <number> <unit>`; a
JSON object is taken too. With --quick its idle window and log volume are cut, where it has
the flags for that."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from typing import Any

from bench.engines import REPO, Engine
from bench.summary import Better, Metric, Result, Samples, Skipped
from bench.workloads.base import Budget, Context, Workload

FIGURE = re.compile(r"^\s*(?P<name>\S.*?)\s{2,}(?P<value>[\d,]+(?:\.\d+)?)\s*(?P<unit>[^\s\d][^\s]*(?: ?/s)?)?"
                    r"(?:\s+target\s+(?P<target>.+?))?\s*$")
TARGET = re.compile(r"^(?P<op><=|>=|≤|≥|<|>)\s*(?P<number>[\d,]+(?:\.\d+)?)")


class DesktopFigures(Workload):
    name = "desktop"
    title = "Berth Desktop: cold start, idle CPU, RSS"
    full_seconds = 300
    quick_seconds = 150

    def __init__(self) -> None:
        self.rows: list[Metric] = [Metric("desktop", "Berth Desktop (python -m app.bench)", "", "lower")]

    def metrics(self, ctx: Context) -> list[Metric]:
        return self.rows

    def run(self, engine: Engine, ctx: Context, budget: Budget) -> dict[str, Result]:
        if engine.name != "berthd":
            return {m.key: Skipped("Berth's own: no peer equivalent") for m in self.rows}
        if importlib.util.find_spec("app.bench") is None:
            return {"desktop": Skipped("no `python -m app.bench` yet")}
        env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
        args = [sys.executable, "-m", "app.bench"]
        if ctx.quick:
            helptext = subprocess.run([*args, "--help"], env=env, cwd=REPO, capture_output=True, text=True,
                                      timeout=60).stdout
            args += [*(["--idle-seconds", "10"] if "--idle-seconds" in helptext else []),
                     *(["--log-lines", "200000"] if "--log-lines" in helptext else [])]
        done = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=budget.timeout(600))
        figures = _figures(done.stdout)
        if done.returncode != 0 or not figures:
            ctx.notes.append(f"app.bench said: {(done.stdout + done.stderr).strip()[-400:]}")
            return {"desktop": Skipped(f"app.bench exited {done.returncode} with no figures")}
        out: dict[str, Result] = {}
        self.rows = []
        for n, (name, value, unit, target) in enumerate(figures):
            key = f"desktop_{n}"
            better: Better = "higher" if unit.endswith("/s") else "lower"
            row = Metric(key, f"Desktop: {name.strip()}", unit, better)
            if target and (m := TARGET.match(target)):
                row.target = f"{target} (app.bench's)"
                bound = float(m["number"].replace(",", ""))
                row.target_met = {"<": value < bound, "<=": value <= bound, "≤": value <= bound,
                                  ">": value > bound, ">=": value >= bound, "≥": value >= bound}[m["op"]]
            self.rows.append(row)
            out[key] = Samples([value])
        return out


def _figures(text: str) -> list[tuple[str, float, str, str]]:
    """(name, value, unit, target text) for each figure app.bench printed."""
    found = _from_json(text)
    if found:
        return found
    out = []
    for line in text.splitlines():
        m = FIGURE.match(line)
        if m:
            out.append((m["name"], float(m["value"].replace(",", "")), (m["unit"] or "").strip(), m["target"] or ""))
    return out


def _from_json(text: str) -> list[tuple[str, float, str, str]]:
    for candidate in [text, *reversed(text.splitlines())]:
        try:
            data: Any = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, dict):
            return [(str(k), float(v), "", "") for k, v in data.items()
                    if isinstance(v, int | float) and not isinstance(v, bool)]
    return []
