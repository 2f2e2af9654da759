"""A container's row loads with its typed specs: parsed when the row is first read (by the same
functions as create), reused while its JSON stays the same, and a row an older berthd wrote loads
too."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.containers.hostspec import DefaultBridge
from engine.containers.model import Container
from engine.containers.store import ContainerStore
from engine.errors import InvalidArgument
from engine.state.db import Database

pytestmark = pytest.mark.unit


def _store(tmp_path: Path) -> ContainerStore:
    return ContainerStore(Database(tmp_path / "berth.db"))


def _container(cid: str = "a" * 64, **config: object) -> Container:
    return Container(id=cid, name="web", image="busybox", image_id="sha256:" + "b" * 64,
                     config={"Cmd": ["sh"], **config}, host_config={"Memory": 1 << 20})


def test_an_older_rows_json_loads_typed(tmp_path: Path) -> None:
    """An older berthd kept HostConfig as sent (no NetworkMode, no RestartPolicy) and no Hostname."""
    store = _store(tmp_path)
    store.insert(_container())
    c = store.resolve("web")
    assert c.spec.network == DefaultBridge() and c.spec.restart.name == "no"
    assert c.spec.resources.memory == 1 << 20
    assert c.command == ["sh"] and c.config_spec.hostname == ""


def test_specs_are_parsed_once_per_json(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.insert(_container(Labels={"a": "1"}))
    first, again = store.resolve("web"), store.resolve("web")
    assert first.spec is again.spec and first.config_spec is again.config_spec
    again.host_config["Memory"] = 2 << 20  # as update does
    again.host_config_changed()
    store.save(again)
    changed = store.resolve("web")
    assert changed.spec is not first.spec and changed.spec.resources.memory == 2 << 20
    assert changed.config_spec is first.config_spec  # its Config did not change


def test_a_row_that_no_longer_parses_still_loads(tmp_path: Path) -> None:
    """Listing and removal keep working; what needs the spec gets the parse's own error."""
    store = _store(tmp_path)
    store.insert(_container(StopTimeout="soon"))  # create refuses it now; an older berthd did not
    [c] = store.all()
    assert c.name == "web" and c.spec.resources.memory == 1 << 20
    with pytest.raises(InvalidArgument, match="StopTimeout"):
        c.config_spec  # noqa: B018


def test_a_transition_saved_from_an_older_copy_keeps_a_rename(tmp_path: Path) -> None:
    """A container that exits as it is renamed (docker-py's test_rename runs `echo hello`): the exit
    watcher loaded the row before the rename and saves the exit after it."""
    store = _store(tmp_path)
    store.insert(_container())
    exiting, renaming = store.resolve("web"), store.resolve("web")
    renaming.name = "web2"
    store.rename(renaming)
    exiting.exit_code = 0
    store.save(exiting)
    again = store.resolve(exiting.id)
    assert again.name == "web2" and again.exit_code == 0
