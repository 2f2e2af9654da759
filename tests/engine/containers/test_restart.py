"""Restart policies as dockerd applies them: which exits come back, and the back-off."""

from __future__ import annotations

import pytest

from engine.containers.restart import RESTART_DELAY_MAX, Backoff, RestartPolicy, restart_policy
from engine.errors import InvalidArgument

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("name", "retries", "code", "count", "stopped", "want"), [
    ("no", 0, 1, 0, False, False),
    ("always", 0, 0, 5, False, True),
    ("always", 0, 1, 0, True, False),  # docker stop wins over the policy
    ("unless-stopped", 0, 0, 0, False, True),
    ("unless-stopped", 0, 0, 0, True, False),
    ("on-failure", 0, 0, 0, False, False),  # a clean exit stays down
    ("on-failure", 0, 3, 99, False, True),  # no cap
    ("on-failure", 2, 3, 1, False, True),
    ("on-failure", 2, 3, 2, False, False),  # cap reached
])
def test_restarts(name: str, retries: int, code: int, count: int, stopped: bool, want: bool) -> None:
    policy = RestartPolicy(name, retries)
    assert policy.restarts(exit_code=code, restart_count=count, manually_stopped=stopped) is want


def test_parse() -> None:
    assert restart_policy({}) == RestartPolicy("no", 0)
    assert restart_policy({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}}) == \
        RestartPolicy("on-failure", 3)


@pytest.mark.parametrize("raw", [
    "always", {"Name": "sometimes"}, {"Name": "on-failure", "MaximumRetryCount": -1},
    {"Name": "always", "MaximumRetryCount": 2},
])
def test_parse_refuses(raw: object) -> None:
    with pytest.raises(InvalidArgument):
        restart_policy({"RestartPolicy": raw})


def test_backoff_doubles_caps_and_resets() -> None:
    b = Backoff()
    delays = [b.next_delay("c", 0.5) for _ in range(12)]
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    assert delays[-1] == RESTART_DELAY_MAX
    assert b.next_delay("c", 10.0) == 0.1  # ran long enough: back to the start
    assert b.next_delay("other", 0.0) == 0.1  # per container
    b.forget("c")
    assert b.next_delay("c", 0.0) == 0.1
