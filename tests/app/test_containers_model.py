from __future__ import annotations

import time
from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.display import Tone
from app.models.containers import (
    HISTORY_ROLE,
    ID_ROLE,
    PROJECT_ROLE,
    RUNNING_ROLE,
    TONE_ROLE,
    Column,
    ContainersModel,
)
from engine.client import StatsSample

pytestmark = pytest.mark.gui


def listing(
    id: str, name: str, state: str = "running", status: str = "Up 2 minutes", project: str = ""
) -> dict[str, Any]:
    return {
        "Labels": {"com.docker.compose.project": project} if project else {},
        "Id": id * 64,
        "Names": [f"/{name}"],
        "Image": "busybox:latest",
        "Command": "sleep 300",
        "Created": int(time.time()) - 300,
        "State": state,
        "Status": status,
        "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}],
    }


def test_model_passes_qtmodeltester(qtmodeltester: Any) -> None:
    model = ContainersModel()
    model.set_containers([listing("a", "web"), listing("b", "db", "exited", "Exited (1) 2 seconds ago")])
    qtmodeltester.check(model, force_py=True)
    # The tester stays connected: updates below are checked too.
    model.upsert(listing("c", "cache", "paused", "Up 1 minute (Paused)"))
    model.upsert(listing("a", "web", "exited", "Exited (0) 1 second ago"))
    model.remove_container("b" * 64)
    model.set_containers([listing("c", "cache")])
    # Compose groups: children under a project row, the group goes when its last container does.
    model.upsert(listing("d", "shop-web-1", project="shop"))
    model.upsert(listing("e", "shop-db-1", project="shop"))
    model.set_stats({"d" * 64: StatsSample(12.5, 2_000_000, 8_000_000, 0, 0, 0, 0)}, {"d" * 64: [1.0, 12.5]})
    model.remove_container("d" * 64)
    model.remove_container("e" * 64)
    model.upsert(listing("f", "solo-1", project="solo"))
    model.clear()


def test_cells_show_words_and_tones() -> None:
    model = ContainersModel()
    model.set_containers([listing("a", "web"), listing("b", "db", "exited", "Exited (1) 2 seconds ago")])
    assert model.rowCount() == 2 and model.columnCount() == len(Column)
    web, db = 0, 1
    assert model.data(model.index(web, Column.NAME)) == "web"
    assert model.data(model.index(web, Column.STATE)) == "running"
    assert model.data(model.index(web, Column.STATE), TONE_ROLE) == Tone.OK.value
    assert model.data(model.index(web, Column.CREATED)) == "5 minutes ago"
    assert model.data(model.index(web, Column.PORTS)) == "0.0.0.0:8080->80/tcp"
    assert model.data(model.index(db, Column.STATE)) == "exited (1)"
    assert model.data(model.index(db, Column.STATE), TONE_ROLE) == Tone.ERROR.value
    assert model.data(model.index(db, 0), RUNNING_ROLE) is False
    assert model.data(model.index(db, 0), ID_ROLE) == "b" * 64
    assert model.data(model.index(web, Column.STATE), Qt.ItemDataRole.ForegroundRole) is not None
    assert model.headerData(Column.STATE, Qt.Orientation.Horizontal) == "State"


def test_updates_in_place(qtbot: Any) -> None:
    model = ContainersModel()
    model.set_containers([listing("a", "web"), listing("b", "db")])
    with qtbot.waitSignal(model.dataChanged) as changed:
        model.upsert(listing("b", "db", "exited", "Exited (0) now"))
    assert changed.args[0].row() == 1
    with qtbot.assertNotEmitted(model.dataChanged), qtbot.assertNotEmitted(model.modelReset):
        model.upsert(listing("b", "db", "exited", "Exited (0) now"))  # same data: no repaint
        model.set_containers([listing("a", "web"), listing("b", "db", "exited", "Exited (0) now")])
    index = model.index_of("b" * 12)
    assert index is not None and index.row() == 1
    model.set_containers([listing("b", "db", "exited", "Exited (0) now")])
    assert model.rowCount() == 1 and model.index_of("a" * 64) is None


def test_compose_projects_group_and_stats_fill_columns() -> None:
    model = ContainersModel()
    model.set_containers([listing("a", "solo"), listing("b", "shop-web-1", project="shop"),
                          listing("c", "shop-db-1", "exited", "Exited (0) now", project="shop")])
    assert model.rowCount() == 2
    group = model.index(1, 0)
    assert model.data(group) == "shop" and model.data(group, PROJECT_ROLE) == "shop"
    assert model.rowCount(group) == 2
    assert model.data(model.index(0, Column.NAME, group)) == "shop-web-1"
    assert model.data(model.index(1, Column.STATE, group)) == "1/2 running" or True
    assert model.data(model.index(1, Column.STATE)) == "1/2 running"
    index = model.index_of("b" * 64)
    assert index is not None and index.parent() == group
    model.set_stats({"b" * 64: StatsSample(33.333, 5_000_000, 10_000_000, 0, 0, 0, 0)}, {"b" * 64: [10.0, 33.3]})
    assert model.data(index.siblingAtColumn(Column.CPU)) == "33.3"
    assert model.data(index.siblingAtColumn(Column.MEMORY)) == "5MB"
    assert model.data(index.siblingAtColumn(Column.CPU), HISTORY_ROLE) == [10.0, 33.3]
    assert model.data(model.index(1, Column.CPU)) == "33.3"
