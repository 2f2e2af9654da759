"""The table the run prints, and the JSON it saves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.summary import Metric, Samples, Skipped

PEERS = ("dockerd", "podman")


def number(x: float) -> str:
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def cell(result: Samples | Skipped | None, footnotes: list[str]) -> str:
    if result is None:
        return "-"
    if isinstance(result, Skipped):
        if result.reason not in footnotes:
            footnotes.append(result.reason)
        return f"skip[{footnotes.index(result.reason) + 1}]"
    med = number(result.median)
    if len(result.values) < 3:
        return f"{med} (n={len(result.values)})"
    return f"{med} ({number(result.quantile(0.25))}-{number(result.quantile(0.75))})"


def table(metrics: Sequence[Metric], engines: Sequence[str]) -> str:
    footnotes: list[str] = []
    peers = [p for p in PEERS if p in engines]
    head = ["workload", "unit", *engines, *(f"vs {p}" for p in peers), "target"]
    rows = []
    for m in metrics:
        ratios = []
        for p in peers:
            r = m.advantage("berthd", p)
            ratios.append("-" if r is None else f"{r:.2f}x")
        if m.target:
            verdict = {True: "met", False: "NOT met", None: "n/a"}[m.target_met]
            target = f"{m.target}: {verdict}"
        else:
            target = ""
        rows.append([m.title, m.unit, *(cell(m.results.get(e), footnotes) for e in engines), *ratios, target])
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) if i < len(head) - 1 else str(c)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip())
    lines += ["", "Cells: median (25th-75th percentile), or (n=...) when fewer than 3 samples.",
              "vs <peer>: how many times better berthd's median is (above 1: berthd is faster/leaner/higher)."]
    if footnotes:
        lines.append("Skipped:")
        lines += [f"  [{i}] {why}" for i, why in enumerate(footnotes, 1)]
    return "\n".join(lines)


def notes_of(metrics: Sequence[Metric]) -> list[str]:
    out = []
    for m in metrics:
        for engine, r in m.results.items():
            if isinstance(r, Samples) and r.note:
                out.append(f"{m.title.strip()} [{engine}]: {r.note}")
    return out


def as_json(metrics: Sequence[Metric], header: dict[str, Any]) -> dict[str, Any]:
    return {**header, "metrics": {m.key: m.as_json() for m in metrics}}
