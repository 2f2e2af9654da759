"""What can be done to a container, described once: each action's words, icon, shortcut, the docker
command it stands for, the states it applies to and what it asks of the `ContainerIntents` that
carries it out. The Containers page's toolbar, its rows' own buttons and context menu, the command
palette, the tray and the window's shortcuts for the detail's tabs all read this table; none of them
decides on its own what Stop means or when it is offered.

Qt-free: a view turns an action into a QAction or a button, the containers controller implements
the intents.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


class ContainerIntents(Protocol):
    """What the user can ask of containers, by id (the containers controller does it)."""

    def start(self, ids: list[str]) -> None: ...
    def stop(self, ids: list[str]) -> None: ...
    def restart(self, ids: list[str]) -> None: ...
    def pause(self, ids: list[str]) -> None: ...
    def unpause(self, ids: list[str]) -> None: ...
    def kill(self, ids: list[str]) -> None: ...
    def remove(self, ids: list[str]) -> None: ...
    def logs(self, ids: list[str]) -> None: ...
    def terminal(self, ids: list[str]) -> None: ...


@dataclass(frozen=True)
class Facts:
    """What an action needs to know of a container: the engine's state word, and whether it runs
    (a health check's "starting" and "unhealthy" run too)."""

    state: str  # "running", "paused", "exited", ... as /containers/json says
    running: bool

    @property
    def up(self) -> bool:
        """Its process exists (running or paused): Stop acts on it and Start does not."""
        return self.running or self.state == "paused"


# Where an action is offered.
TOOLBAR = "toolbar"  # the Containers page's toolbar, on the selection
MENU = "menu"  # the list's context menu, on the selection
ROW = "row"  # a row's own buttons at its right end
PALETTE = "palette"  # the command palette, one command per container
TRAY = "tray"  # the tray's submenu of a running container


@dataclass(frozen=True)
class ContainerAction:
    name: str
    label: str  # on a button: "Stop"
    busy: str  # while it runs: "Stopping…"
    icon: str  # a name in resources/icons
    cli: str  # the docker command it corresponds to, named in tooltips so people learn the CLI
    tip: str  # for the selection: "Stop the selected containers"
    row_tip: str  # for one row: "Stop this container"
    palette: str  # a palette command's title, "{name}" the container's: "Stop {name}"
    applies: Callable[[Facts], bool]  # offered (enabled) for a container in this state
    places: frozenset[str]
    shortcut: str = ""  # as QKeySequence reads it
    menu_label: str = ""  # in a menu, when the button's word is not enough ("Show logs")
    palette_hint: str = ""  # the palette's hint, when not the docker command
    single: bool = False  # acts on one container (its detail), not on a selection

    def tooltip(self, text: str) -> str:
        """`text` with the docker command and the shortcut, as every tooltip names them."""
        return f"{text} ({self.cli})" + (f"   {self.shortcut}" if self.shortcut else "")

    @property
    def menu_text(self) -> str:
        return self.menu_label or self.label

    def title(self, name: str) -> str:
        return self.palette.format(name=name)

    def hint(self) -> str:
        return self.palette_hint or self.cli

    def perform(self, intents: ContainerIntents, ids: Sequence[str]) -> None:
        """Ask for it: each action's name is its intent's (ContainerIntents.stop for "stop")."""
        if ids:
            getattr(intents, self.name)(list(ids))


def _always(facts: Facts) -> bool:
    return True


def _down(facts: Facts) -> bool:
    return not facts.up


def _up(facts: Facts) -> bool:
    return facts.up


def _running_state(facts: Facts) -> bool:
    return facts.state == "running"


def _paused(facts: Facts) -> bool:
    return facts.state == "paused"


def _running(facts: Facts) -> bool:
    return facts.running


_SELECTION = frozenset({TOOLBAR, MENU, PALETTE})

ACTIONS: tuple[ContainerAction, ...] = (
    ContainerAction("start", "Start", "Starting…", "start", "docker start", "Start the selected containers",
                    "Start this container", "Start {name}", _down,
                    _SELECTION | {ROW}),
    ContainerAction("stop", "Stop", "Stopping…", "stop", "docker stop", "Stop the selected containers",
                    "Stop this container", "Stop {name}", _up, _SELECTION | {ROW, TRAY}),
    ContainerAction("restart", "Restart", "Restarting…", "restart", "docker restart",
                    "Restart the selected containers", "Restart this container", "Restart {name}", _always,
                    _SELECTION | {TRAY}),
    ContainerAction("pause", "Pause", "Pausing…", "pause", "docker pause", "Pause the selected containers",
                    "Pause this container", "Pause {name}", _running_state, _SELECTION),
    ContainerAction("unpause", "Resume", "Resuming…", "start", "docker unpause",
                    "Resume the selected paused containers", "Resume this container", "Resume {name}", _paused,
                    _SELECTION),
    ContainerAction("kill", "Kill", "Killing…", "close", "docker kill",
                    "Kill the selected containers at once, without a stop's grace period",
                    "Kill this container", "Kill {name}", _up, frozenset({MENU, PALETTE})),
    ContainerAction("remove", "Remove", "Removing…", "remove", "docker rm", "Remove the selected containers",
                    "Remove this container", "Remove {name}", _always,
                    _SELECTION | {ROW}, shortcut="Delete"),
    ContainerAction("logs", "Logs", "", "logs", "docker logs -f", "The selected container's logs",
                    "This container's logs", "Container {name}", _always,
                    frozenset({ROW, PALETTE, TRAY}), shortcut="Ctrl+L", menu_label="Show logs",
                    palette_hint="show its logs", single=True),
    ContainerAction("terminal", "Terminal", "", "terminal", "docker exec -it … sh",
                    "A shell in the selected container", "A shell in this container", "Terminal in {name}",
                    _running, frozenset({PALETTE}), shortcut="Ctrl+T", single=True),
)

BY_NAME = {action.name: action for action in ACTIONS}
# The order each place lists them in.
PALETTE_ORDER = ("logs", "stop", "restart", "start", "pause", "unpause", "kill", "terminal", "remove")
TRAY_ORDER = ("logs", "restart", "stop")


def action(name: str) -> ContainerAction:
    return BY_NAME[name]


def offered(place: str, order: Sequence[str] | None = None) -> list[ContainerAction]:
    """The actions a place offers, in its order (the table's when it has none)."""
    names = order if order is not None else [a.name for a in ACTIONS]
    return [BY_NAME[name] for name in names if place in BY_NAME[name].places]


def applicable(place: str, facts: Facts, order: Sequence[str] | None = None) -> list[ContainerAction]:
    """The actions a place offers for a container in this state."""
    return [a for a in offered(place, order) if a.applies(facts)]
