"""The container actions, described once (issue 21): which states each applies to, what it asks of
the intents, where it is offered and in which words."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.models.container_actions import (
    ACTIONS,
    MENU,
    PALETTE,
    PALETTE_ORDER,
    ROW,
    TOOLBAR,
    TRAY,
    TRAY_ORDER,
    Facts,
    action,
    applicable,
    offered,
)

pytestmark = pytest.mark.unit

ICONS = Path(__file__).resolve().parents[2] / "resources" / "icons"

RUNNING = Facts("running", True)
STARTING = Facts("running", True)  # health: starting — runs
PAUSED = Facts("paused", False)
EXITED = Facts("exited", False)
CREATED = Facts("created", False)
RESTARTING = Facts("restarting", False)
DEAD = Facts("dead", False)
STOPPING = Facts("running", False)  # a stop asked: the row says "stopping…", no longer "running"


class Recorder:
    """ContainerIntents that write down what was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, list[str]]] = []

    def _note(self, name: str, ids: list[str]) -> None:
        self.asked.append((name, ids))

    def start(self, ids: list[str]) -> None:
        self._note("start", ids)

    def stop(self, ids: list[str]) -> None:
        self._note("stop", ids)

    def restart(self, ids: list[str]) -> None:
        self._note("restart", ids)

    def pause(self, ids: list[str]) -> None:
        self._note("pause", ids)

    def unpause(self, ids: list[str]) -> None:
        self._note("unpause", ids)

    def kill(self, ids: list[str]) -> None:
        self._note("kill", ids)

    def remove(self, ids: list[str]) -> None:
        self._note("remove", ids)

    def logs(self, ids: list[str]) -> None:
        self._note("logs", ids)

    def terminal(self, ids: list[str]) -> None:
        self._note("terminal", ids)


@pytest.mark.parametrize(("facts", "allowed"), [
    (RUNNING, {"stop", "restart", "pause", "kill", "remove", "logs", "terminal"}),
    (STARTING, {"stop", "restart", "pause", "kill", "remove", "logs", "terminal"}),
    (PAUSED, {"stop", "restart", "unpause", "kill", "remove", "logs"}),
    (EXITED, {"start", "restart", "remove", "logs"}),
    (CREATED, {"start", "restart", "remove", "logs"}),
    (RESTARTING, {"start", "restart", "remove", "logs"}),
    (DEAD, {"start", "restart", "remove", "logs"}),
    (STOPPING, {"start", "restart", "pause", "remove", "logs"}),
])
def test_each_state_offers_what_it_allows(facts: Facts, allowed: set[str]) -> None:
    assert {a.name for a in ACTIONS if a.applies(facts)} == allowed


def test_an_action_asks_its_own_intent_and_nothing_for_no_container() -> None:
    intents = Recorder()
    for described in ACTIONS:
        described.perform(intents, ["a", "b"])
    assert intents.asked == [(a.name, ["a", "b"]) for a in ACTIONS]
    intents.asked.clear()
    action("stop").perform(intents, [])
    assert intents.asked == []


def test_each_place_offers_its_actions_in_its_order() -> None:
    assert [a.name for a in offered(TOOLBAR)] == ["start", "stop", "restart", "pause", "unpause", "remove"]
    assert [a.name for a in offered(MENU)] == ["start", "stop", "restart", "pause", "unpause", "kill", "remove"]
    assert [a.name for a in offered(ROW)] == ["start", "stop", "remove", "logs"]
    assert [a.menu_text for a in offered(TRAY, TRAY_ORDER)] == ["Show logs", "Restart", "Stop"]
    running = [(a.title("web"), a.hint()) for a in applicable(PALETTE, RUNNING, PALETTE_ORDER)]
    assert running == [("Container web", "show its logs"), ("Stop web", "docker stop"),
                       ("Restart web", "docker restart"), ("Pause web", "docker pause"), ("Kill web", "docker kill"),
                       ("Terminal in web", "docker exec -it … sh"), ("Remove web", "docker rm")]
    assert [a.title("db") for a in applicable(PALETTE, EXITED, PALETTE_ORDER)] == [
        "Container db", "Restart db", "Start db", "Remove db"]


def test_words_icons_and_shortcuts() -> None:
    for described in ACTIONS:
        assert (ICONS / f"{described.icon}.svg").is_file(), described.name
        assert described.cli.startswith("docker "), described.name
        assert described.busy or described.single, f"{described.name} says nothing while it runs"
    assert action("remove").tooltip(action("remove").row_tip) == "Remove this container (docker rm)   Delete"
    assert action("start").tooltip(action("start").tip) == "Start the selected containers (docker start)"
    assert (action("logs").shortcut, action("terminal").shortcut) == ("Ctrl+L", "Ctrl+T")
    assert len({a.name for a in ACTIONS}) == len(ACTIONS)
