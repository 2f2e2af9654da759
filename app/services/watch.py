"""Tells people when a container dies unexpectedly or turns unhealthy (from `/events`)."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, Signal

_EXPECTED_WINDOW = 30.0  # a die within this long after a stop/kill/restart was asked for is expected


class ContainerWatch(QObject):
    alert = Signal(str, str)  # title, message

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._expected: dict[str, float] = {}
        self._unhealthy: set[str] = set()  # said once per turn to unhealthy, not once per probe

    def expect_stop(self, id: str) -> None:
        self._expected[id] = time.monotonic()

    def on_event(self, event: dict[str, Any]) -> None:
        action = str(event.get("Action", ""))
        actor = event.get("Actor") or {}
        id = str(actor.get("ID", ""))
        attributes = actor.get("Attributes") or {}
        name = str(attributes.get("name", id[:12]))
        if action in ("kill", "stop"):
            self._expected[id] = time.monotonic()
        elif action == "die":
            code = str(attributes.get("exitCode", "0"))
            asked = time.monotonic() - self._expected.pop(id, -1e9) < _EXPECTED_WINDOW
            if code not in ("0", "") and not asked:
                self.alert.emit(f"{name} stopped unexpectedly", f"It exited with code {code}. Its logs say why.")
        elif action.startswith("health_status") and "unhealthy" in action:
            if id not in self._unhealthy:
                self._unhealthy.add(id)
                self.alert.emit(f"{name} is unhealthy", "Its health check is failing.")
        elif action.startswith("health_status") or action in ("start", "destroy"):
            self._unhealthy.discard(id)
