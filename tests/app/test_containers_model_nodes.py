"""The containers model's node rows and its own sorting (issues 21 and 24): an index finds its node and a
node its index; the model sorts each level by one key per row and keeps the order as rows change, so
the page's proxy sorts nothing and asks no cell for it."""

from __future__ import annotations

import time
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from app.models.containers import SORT_ROLE, Column, ContainerNode, ContainersModel, ProjectNode
from app.widgets.containers_page import ContainersProxy
from engine.client import StatsSample

pytestmark = pytest.mark.gui

NOW = int(time.time())


def listing(n: int, project: str = "", state: str = "exited", age: int | None = None) -> dict[str, Any]:
    return {"Id": f"{n:064x}", "Names": [f"/c{n}"], "Image": "busybox", "Command": "sleep 1",
            "Created": NOW - (n if age is None else age), "State": state,
            "Status": "Up" if state == "running" else "Exited (0) 1 minute ago",
            "Labels": {"com.docker.compose.project": project} if project else {}}


def names(model: Any, parent: QModelIndex | None = None) -> list[str]:
    parent = parent or QModelIndex()
    return [model.index(row, Column.NAME, parent).data() for row in range(model.rowCount(parent))]


def sample(cpu: float) -> StatsSample:
    return StatsSample(cpu, 1_000_000, 8_000_000, 0, 0, 0, 0)


def test_indexes_and_nodes_find_each_other(qapp: Any) -> None:
    model = ContainersModel()
    model.set_containers([listing(1), listing(2, "shop"), listing(3, "shop"), listing(4)])
    top = [model.node(model.index(row, 0)) for row in range(model.rowCount())]
    assert [type(node) for node in top] == [ContainerNode, ProjectNode, ContainerNode]
    shop = top[1]
    assert isinstance(shop, ProjectNode) and shop.name == "shop" and shop.row == 1
    assert [child.id for child in shop.children] == [f"{2:064x}", f"{3:064x}"]
    child = model.index_of(f"{3:064x}")
    assert child is not None and child.parent() == model.index(1, 0) and child.row() == 1
    assert model.node(child) is shop.children[1]
    assert model.index_of_node(shop, Column.STATE) == model.index(1, Column.STATE)
    # A removed row's nodes renumber; the project's row goes with its last container.
    model.remove_container(f"{1:064x}")
    assert shop.row == 0 and model.index_of(f"{4:064x}") == model.index(1, 0)
    model.remove_container(f"{2:064x}")
    model.remove_container(f"{3:064x}")
    assert names(model) == ["c4"] and model.project_indexes() == []
    assert model.node(model.index(5, 0)) is None and model.node(QModelIndex()) is None


def test_the_model_sorts_each_level_and_keeps_ties_in_arrival_order(qapp: Any) -> None:
    model = ContainersModel()
    # c1 and c2 created at the same moment: equal keys keep the listing's order, either way.
    model.set_containers([listing(1, age=50), listing(2, age=50), listing(3, age=10), listing(4, "shop", age=40),
                          listing(5, "shop", age=5), listing(6, age=90)])
    model.sort(Column.CREATED, Qt.SortOrder.DescendingOrder)
    assert names(model) == ["shop", "c3", "c1", "c2", "c6"]  # the project's row by its newest member
    assert names(model, model.index(0, 0)) == ["c5", "c4"]
    model.sort(Column.CREATED, Qt.SortOrder.AscendingOrder)
    assert names(model) == ["c6", "c1", "c2", "c3", "shop"]
    model.sort(Column.NAME, Qt.SortOrder.AscendingOrder)
    assert names(model) == ["c1", "c2", "c3", "c6", "shop"]
    model.sort(-1)
    assert names(model) == ["c1", "c2", "c3", "shop", "c6"]


def test_the_order_follows_the_proxy_it_replaces(qapp: Any) -> None:
    """Sorted in the model, the rows come out as the page's QSortFilterProxyModel sorted them by SORT_ROLE
    (its sort chosen before the rows came, as the page's is)."""
    from PySide6.QtCore import QSortFilterProxyModel

    items = [listing(n, "p" if n % 7 == 0 else "", "running" if n % 3 else "exited", age=(n * 37) % 11)
             for n in range(60)]
    for column in (Column.NAME, Column.STATE, Column.CREATED, Column.CPU):
        for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
            reference = ContainersModel()
            proxy = QSortFilterProxyModel()
            proxy.setSourceModel(reference)
            proxy.setSortRole(SORT_ROLE)
            proxy.sort(column, order)
            reference.set_containers(items)
            reference.set_stats({f"{n:064x}": sample(n % 5) for n in range(0, 60, 2)}, {})
            proxy.invalidate()  # sorted whole again from the listing's order, not row by row
            model = ContainersModel()
            model.set_containers(items)
            model.set_stats({f"{n:064x}": sample(n % 5) for n in range(0, 60, 2)}, {})
            model.sort(column, order)
            assert names(model) == names(proxy), (column, order)
            project = model.index_of(f"{7:064x}")
            assert project is not None
            assert names(model, project.parent()) == names(proxy, proxy.mapFromSource(
                reference.index_of(f"{7:064x}").parent())), (column, order)  # type: ignore[union-attr]


def test_rows_stay_sorted_as_they_change(qapp: Any) -> None:
    model = ContainersModel()
    model.set_containers([listing(n, age=n * 10) for n in range(1, 6)])
    model.sort(Column.CREATED, Qt.SortOrder.DescendingOrder)
    assert names(model) == ["c1", "c2", "c3", "c4", "c5"]
    third = model.index_of(f"{3:064x}")
    assert third is not None
    selected = QPersistentModelIndex(third)  # as a selection holds it
    model.upsert(listing(9, age=25))  # a new container lands at its place, not at the end
    assert names(model) == ["c1", "c2", "c9", "c3", "c4", "c5"]
    assert selected.row() == 3 and selected.data() == "c3"

    moves: list[int] = []
    model.layoutChanged.connect(lambda *_: moves.append(1))
    model.sort(Column.CPU, Qt.SortOrder.DescendingOrder)
    moves.clear()
    model.set_stats({f"{5:064x}": sample(80.0), f"{2:064x}": sample(10.0)}, {})
    assert names(model)[:2] == ["c5", "c2"] and moves == [1]
    assert selected.data() == "c3" and model.node(selected).id == f"{3:064x}"  # type: ignore[union-attr]
    model.set_stats({f"{5:064x}": sample(81.0)}, {})  # still first: the rows are not moved
    assert moves == [1]
    model.sort(Column.STATE, Qt.SortOrder.AscendingOrder)
    model.upsert(listing(4, state="running", age=40))  # "running" after every "exited (0)"
    assert names(model)[-1] == "c4"


def test_the_pages_proxy_sorts_through_the_model_without_reading_cells(qapp: Any) -> None:
    model = ContainersModel()
    model.set_containers([listing(n) for n in range(3000)])
    proxy = ContainersProxy()
    proxy.setSourceModel(model)
    proxy.setFilterKeyColumn(-1)
    calls = 0
    data = model.data

    def counting(index: Any, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        nonlocal calls
        calls += 1
        return data(index, role)

    model.data = counting  # type: ignore[method-assign]
    started = time.perf_counter()
    proxy.sort(Column.CREATED, Qt.SortOrder.AscendingOrder)
    took = time.perf_counter() - started
    assert calls == 0, f"sorting asked {calls} cells"  # QSortFilterProxyModel's own sort asks ~2 per comparison
    assert proxy.index(0, Column.NAME).data() == "c2999" and model.sort_column() == Column.CREATED
    assert took < 0.25, took
    proxy.setFilterFixedString("c299")
    assert [proxy.index(r, Column.NAME).data() for r in range(proxy.rowCount())] == [
        f"c{n}" for n in range(2999, 2989, -1)] + ["c299"]
