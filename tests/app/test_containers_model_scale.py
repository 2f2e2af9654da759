"""The containers model at scale (issue 24): with thousands of rows, a second's stats readings say only
which rows changed, so the page's sorting and filtering proxy does not filter every row again."""

from __future__ import annotations

import time
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt

from app.models.containers import SORT_ROLE, Column, ContainersModel
from engine.client import StatsSample

pytestmark = pytest.mark.gui


def listing(n: int, project: str = "") -> dict[str, Any]:
    return {"Id": f"{n:064x}", "Names": [f"/c{n}"], "Image": "busybox", "Command": "sleep 1",
            "Created": int(time.time()) - n, "State": "running", "Status": "Up",
            "Labels": {"com.docker.compose.project": project} if project else {}}


def test_a_seconds_readings_change_only_their_rows(qapp: Any) -> None:
    model = ContainersModel()
    model.set_containers([listing(n) for n in range(2000)] + [listing(5000 + n, "shop") for n in range(3)])
    changes: list[tuple[int, int, int, list[int]]] = []

    def record(first: QModelIndex, last: QModelIndex, roles: list[int]) -> None:
        changes.append((first.row(), last.row(), int(first.parent().isValid()), [int(r) for r in roles]))

    model.dataChanged.connect(record)
    ids = [f"{n:064x}" for n in (10, 11, 1500, 5001)]
    model.set_stats({id: StatsSample(5.0, 1_000_000, 8_000_000, 0, 0, 0, 0) for id in ids},
                    {id: [5.0] for id in ids})
    top = [(first, last) for first, last, child, _ in changes if not child]
    assert sum(last - first + 1 for first, last in top) == 4, top  # rows 10-11, 1500 and the project's row
    assert all(int(SORT_ROLE) in roles for *_, roles in changes)

    # Through a proxy filtering every column and sorted by Created, as the Containers page is: a second's
    # readings of a few running containers read those rows again, not the thousands of others.
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    proxy.setFilterKeyColumn(-1)
    proxy.sort(Column.CREATED, Qt.SortOrder.DescendingOrder)
    calls = 0
    data = model.data

    def counting(index: Any, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        nonlocal calls
        calls += 1
        return data(index, role)

    model.data = counting  # type: ignore[method-assign]
    model.set_stats({id: StatsSample(6.0, 1_000_000, 8_000_000, 0, 0, 0, 0) for id in ids},
                    {id: [6.0] for id in ids})
    assert calls < 200, f"the proxy read {calls} cells again for four readings"
    assert proxy.index(0, Column.NAME).data() == "c0"
