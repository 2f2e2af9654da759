"""Table models of the Compose page: the engine's projects and one project's containers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from app.display import Tone, short_id
from app.models.resources import ColumnSpec, Index, ResourceModel
from engine.compose import ContainerState, ProjectSummary

TONE_ROLE = Qt.ItemDataRole.UserRole + 12


class TonedModel(ResourceModel):
    """A `ResourceModel` whose state column is coloured by a tone (always next to its word)."""

    def __init__(self, columns: list[ColumnSpec], key: Callable[[dict[str, Any]], str],
                 tone: Callable[[dict[str, Any]], Tone], state_column: int, parent: Any = None) -> None:
        super().__init__(columns, key, parent)
        self._tone = tone
        self.state_column = state_column
        self.colors: dict[Tone, QColor] = {}

    def set_tone_colors(self, colors: dict[Tone, QColor]) -> None:
        self.colors = dict(colors)
        if self.rowCount():
            self.dataChanged.emit(self.index(0, self.state_column), self.index(self.rowCount() - 1, self.state_column))

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < self.rowCount()):
            return None
        if role in (Qt.ItemDataRole.ForegroundRole, TONE_ROLE) and index.column() == self.state_column:
            tone = self._tone(self._rows[index.row()])
            if role == TONE_ROLE:
                return tone.value
            return self.colors.get(tone)
        return super().data(index, role)


# -- projects -------------------------------------------------------------------------------------


def project_item(summary: ProjectSummary) -> dict[str, Any]:
    item = asdict(summary)
    running, total = summary.running, summary.total
    if total and running == total:
        word = "running"
    elif running:
        word = "partly running"
    else:
        word = "stopped"
    item["state"] = word
    item["status"] = f"{word} ({running}/{total})"
    return item


def project_tone(item: dict[str, Any]) -> Tone:
    return {"running": Tone.OK, "partly running": Tone.WARNING}.get(str(item.get("state")), Tone.NEUTRAL)


def projects_model(parent: Any = None) -> TonedModel:
    columns = [
        ColumnSpec("Project", lambda p: str(p.get("name", ""))),
        ColumnSpec("Status", lambda p: str(p.get("status", "")),
                   sort=lambda p: int(p.get("running", 0)) * 10_000 + int(p.get("total", 0)),
                   tooltip=lambda p: f"{p.get('running', 0)} of {p.get('total', 0)} containers running"),
        ColumnSpec("Services", lambda p: ", ".join(p.get("services") or [])),
        ColumnSpec("Working directory", lambda p: str(p.get("working_dir", "")),
                   tooltip=lambda p: str(p.get("working_dir", ""))),
        ColumnSpec("Config files", lambda p: ", ".join(p.get("config_files") or []),
                   tooltip=lambda p: "\n".join(p.get("config_files") or [])),
    ]
    return TonedModel(columns, lambda p: str(p.get("name", "")), project_tone, 1, parent)


# -- one project's containers ---------------------------------------------------------------------


def container_item(state: ContainerState) -> dict[str, Any]:
    return {"id": state.id, "name": state.name, "service": state.service, "number": state.number,
            "image": state.image, "state": state.state, "status": state.status, "ports": list(state.ports)}


def container_tone(item: dict[str, Any]) -> Tone:
    state, status = str(item.get("state", "")), str(item.get("status", ""))
    if state == "running":
        return Tone.ERROR if "(unhealthy)" in status else Tone.OK
    if state == "paused":
        return Tone.WARNING
    if state == "restarting":
        return Tone.PENDING
    if state == "dead" or (state == "exited" and "(0)" not in status):
        return Tone.ERROR
    return Tone.NEUTRAL


def project_containers_model(parent: Any = None) -> TonedModel:
    columns = [
        ColumnSpec("Service", lambda c: str(c.get("service", ""))),
        ColumnSpec("Container", lambda c: str(c.get("name", "")), tooltip=lambda c: str(c.get("id", ""))),
        ColumnSpec("State", lambda c: str(c.get("state", "")), tooltip=lambda c: str(c.get("status", ""))),
        ColumnSpec("Status", lambda c: str(c.get("status", ""))),
        ColumnSpec("Ports", lambda c: ", ".join(c.get("ports") or [])),
        ColumnSpec("Image", lambda c: str(c.get("image", ""))),
        ColumnSpec("Id", lambda c: short_id(str(c.get("id", ""))), tooltip=lambda c: str(c.get("id", ""))),
    ]
    return TonedModel(columns, lambda c: str(c.get("id", "")), container_tone, 2, parent)
