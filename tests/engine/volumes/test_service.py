"""The volume service: filters checked as dockerd checks them, and each change's event published
by the service (never by the router)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import InvalidArgument, NotFound
from engine.events import EventBus
from engine.filters import Filters
from engine.state.db import Database
from engine.volumes.service import VolumeService
from engine.volumes.store import VolumeStore

pytestmark = pytest.mark.unit


@pytest.fixture
def svc(tmp_path: Path) -> VolumeService:
    users = {"c1"}
    return VolumeService(VolumeStore(tmp_path / "volumes", Database(tmp_path / "db.sqlite"), lambda c: c in users),
                         EventBus())


def events(svc: VolumeService) -> list[tuple[str, str]]:
    return [(e.action, e.actor_id) for e in svc.events.since(0)]


def test_create_remove_and_their_events(svc: VolumeService) -> None:
    svc.create({"Name": "data", "Labels": {"app": "web"}})
    svc.create({"Name": "data"})  # an existing name: that volume, no second event
    svc.remove("data")
    svc.remove("data", force=True)  # gone already: no error with force, and no event
    with pytest.raises(NotFound):
        svc.remove("data")
    assert events(svc) == [("create", "data"), ("destroy", "data")]
    with pytest.raises(InvalidArgument, match="Labels must be a JSON object"):
        svc.create({"Labels": ["a"]})


def test_list_filters(svc: VolumeService) -> None:
    svc.create({"Name": "used", "Labels": {"app": "web"}})
    svc.create({"Name": "free"})
    svc.store.add_ref("c1", "/data", "used")

    def names(flt: dict[str, list[str]]) -> list[str]:
        return sorted(v["Name"] for v in svc.list(Filters(flt)))

    assert names({}) == ["free", "used"]
    assert names({"dangling": ["true"]}) == ["free"] and names({"dangling": ["0"]}) == ["used"]
    assert names({"label": ["app=web"]}) == ["used"] and names({"name": ["fr"]}) == ["free"]
    with pytest.raises(InvalidArgument, match="invalid filter 'until'"):
        svc.list(Filters({"until": ["1h"]}))


def test_prune_anonymous_unless_all(svc: VolumeService) -> None:
    anon = svc.create({})
    svc.create({"Name": "named"})
    removed, _ = svc.prune(Filters())
    assert removed == [anon.name]
    removed, _ = svc.prune(Filters({"all": ["true"], "label!": ["keep"]}))
    assert removed == ["named"]
    assert [a for a, _ in events(svc)] == ["create", "create", "destroy", "destroy"]
    with pytest.raises(InvalidArgument, match="invalid filter 'dangling'"):
        svc.prune(Filters({"dangling": ["true"]}))
