from __future__ import annotations

import time
from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.display import Tone
from app.models.containers import ID_ROLE, RUNNING_ROLE, TONE_ROLE, Column, ContainersModel

pytestmark = pytest.mark.gui


def listing(id: str, name: str, state: str = "running", status: str = "Up 2 minutes") -> dict[str, Any]:
    return {
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
    model.clear()


def test_cells_show_words_and_tones() -> None:
    model = ContainersModel()
    model.set_containers([listing("a", "web"), listing("b", "db", "exited", "Exited (1) 2 seconds ago")])
    assert model.rowCount() == 2 and model.columnCount() == 5
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
    assert model.row_of("b" * 12) == 1
    model.set_containers([listing("b", "db", "exited", "Exited (0) now")])
    assert model.rowCount() == 1 and model.row_of("a" * 64) is None
