"""Every container state answers what it allows, as dockerd's state machine does:
created -> running <-> paused -> exited -> removed, restarting between exits and starts."""

from __future__ import annotations

import pytest

from engine.containers.model import State

pytestmark = pytest.mark.unit

# state: (is_up, is_live, can_start, can_pause, can_unpause, can_stop, can_exec, can_prune, runtime_settled,
#         can_kill, can_be_joined, is_frozen, awaits_restart)
TABLE = {
    State.CREATED: (False, False, True, False, False, False, False, True, True, False, False, False, False),
    State.RUNNING: (True, True, False, True, False, True, True, False, False, True, True, False, False),
    State.PAUSED: (True, True, False, False, True, True, False, False, False, True, False, True, False),
    State.RESTARTING: (False, True, True, False, False, True, False, False, False, False, False, False, True),
    State.EXITED: (False, False, True, False, False, False, False, True, True, False, False, False, False),
    State.REMOVING: (False, False, False, False, False, False, False, False, False, False, False, False, False),
    State.DEAD: (False, False, False, False, False, False, False, True, False, False, False, False, False),
}
FIELDS = ("is_up", "is_live", "can_start", "can_pause", "can_unpause", "can_stop", "can_exec",
          "can_prune", "runtime_settled", "can_kill", "can_be_joined", "is_frozen", "awaits_restart")


def test_table_covers_every_state() -> None:
    assert set(TABLE) == set(State)


@pytest.mark.parametrize("state", list(State), ids=[s.value for s in State])
def test_transitions(state: State) -> None:
    got = tuple(getattr(state, name) for name in FIELDS)
    assert dict(zip(FIELDS, got, strict=True)) == dict(zip(FIELDS, TABLE[state], strict=True))


def test_up_states_are_live() -> None:
    assert all(s.is_live for s in State if s.is_up)
    assert not any(s.can_start for s in State if s.is_up)
