"""A QTimer heartbeat that measures how long the event loop went without running it (stalls)."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer


class Heartbeat(QObject):
    def __init__(self, interval_ms: int = 5) -> None:
        super().__init__()
        self.interval = interval_ms / 1000
        self.max_gap = 0.0
        self._last = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._beat)

    def start(self) -> Heartbeat:
        self.max_gap = 0.0
        self._last = time.perf_counter()
        self._timer.start()
        return self

    def _beat(self) -> None:
        now = time.perf_counter()
        self.max_gap = max(self.max_gap, now - self._last)
        self._last = now

    def stop(self) -> float:
        self._beat()
        self._timer.stop()
        return self.max_gap
