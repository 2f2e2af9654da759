"""Samples and what the table says about them: median, spread, ratio."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Literal

Better = Literal["lower", "higher"]


@dataclass
class Samples:
    values: list[float]
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def quantile(self, q: float) -> float:
        if len(self.values) == 1:
            return self.values[0]
        ordered = sorted(self.values)
        pos = q * (len(ordered) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    def as_json(self) -> dict[str, Any]:
        return {"n": len(self.values), "median": self.median, "p25": self.quantile(0.25),
                "p75": self.quantile(0.75), "min": min(self.values), "max": max(self.values),
                "values": self.values, **({"note": self.note} if self.note else {})}


@dataclass
class Skipped:
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"skipped": self.reason}


Result = Samples | Skipped


@dataclass
class Metric:
    """One row of the table: a figure measured on each engine."""

    key: str
    title: str
    unit: str
    better: Better
    results: dict[str, Result] = field(default_factory=dict)
    target: str = ""
    target_met: bool | None = None

    def advantage(self, engine: str, peer: str) -> float | None:
        """How many times better `engine` is than `peer` (above 1: better), from the medians."""
        mine, theirs = self.results.get(engine), self.results.get(peer)
        if not isinstance(mine, Samples) or not isinstance(theirs, Samples):
            return None
        if mine.median <= 0 or theirs.median <= 0:
            return None
        return theirs.median / mine.median if self.better == "lower" else mine.median / theirs.median

    def as_json(self) -> dict[str, Any]:
        return {"title": self.title, "unit": self.unit, "better": self.better,
                "results": {k: v.as_json() for k, v in self.results.items()},
                **({"target": self.target, "target_met": self.target_met} if self.target else {})}
