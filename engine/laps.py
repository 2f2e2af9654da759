"""Where the time of one operation went, for berthd's debug log: "12.3 ms (netns 4.1, veth 7.0, ...)".

The start path's costs (a network join, a bundle) are measured by berthd itself, so a slow step shows in
`berthd --debug` on any machine, not only under a profiler.
"""

from __future__ import annotations

import time


class Laps:
    def __init__(self) -> None:
        self._start = self._last = time.perf_counter()
        self._parts: list[tuple[str, float]] = []

    def mark(self, what: str) -> None:
        """The time since the previous mark (or the start) was spent on `what`."""
        now = time.perf_counter()
        self._parts.append((what, 1000 * (now - self._last)))
        self._last = now

    @property
    def total_ms(self) -> float:
        return 1000 * (self._last - self._start)

    def __str__(self) -> str:
        parts = ", ".join(f"{what} {ms:.1f}" for what, ms in self._parts)
        return f"{self.total_ms:.1f} ms ({parts})"
