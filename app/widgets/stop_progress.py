"""`StopProgress`: the detail's line while a stop runs — "Stopping… 4 s" — since `docker stop` waits
for the process (10 s by default) before it kills it, and a silent wait looks like a hang."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QWidget


class StopProgress(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("stop-progress")
        self.setProperty("role", "hint")
        self.id = ""
        self.started = 0.0
        self.grace = 10
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._tick)
        self.hide()

    def start(self, id: str, grace: int = 10) -> None:
        self.id, self.started, self.grace = id, time.monotonic(), grace
        self._tick()
        self._timer.start()
        self.show()

    def finish(self, id: str = "") -> None:
        """The stop ended (the engine reports the container stopped, or it failed); "" ends any."""
        if id and id != self.id:
            return
        self.id = ""
        self._timer.stop()
        self.hide()

    @property
    def active(self) -> bool:
        return bool(self.id)

    def elapsed(self) -> int:
        return int(time.monotonic() - self.started)

    def _tick(self) -> None:
        seconds = self.elapsed()
        if seconds < self.grace:
            then = f"it is killed if it has not exited after {self.grace} s"
        else:
            then = "its process did not exit in time: it is being killed"
        self.setText(f"Stopping… {seconds} s — the container was sent its stop signal; {then}.")
