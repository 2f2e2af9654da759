"""Restart policies: whether an exited container comes back, and after how long.

Pure (no clock, no I/O), so every rule is unit-tested; the container service applies it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.errors import InvalidArgument

RESTART_DELAY_MIN = 0.1
RESTART_DELAY_MAX = 60.0
RESET_AFTER = 10.0  # seconds of running that reset the back-off, as dockerd


@dataclass(frozen=True)
class RestartPolicy:
    name: str  # no, always, unless-stopped, on-failure
    max_retries: int

    def restarts(self, *, exit_code: int, restart_count: int, manually_stopped: bool) -> bool:
        if manually_stopped or self.name == "no":
            return False
        if self.name == "on-failure":
            return exit_code != 0 and (self.max_retries == 0 or restart_count < self.max_retries)
        return True  # always, unless-stopped


def restart_policy(host_config: dict[str, Any]) -> RestartPolicy:
    raw = host_config.get("RestartPolicy") or {}
    if not isinstance(raw, dict):
        raise InvalidArgument("RestartPolicy must be an object with Name and MaximumRetryCount")
    name = raw.get("Name") or "no"
    retries = raw.get("MaximumRetryCount") or 0
    if name not in ("no", "always", "unless-stopped", "on-failure"):
        raise InvalidArgument(f"invalid restart policy: {name!r}: use no, always, unless-stopped or on-failure[:N]")
    if not isinstance(retries, int) or retries < 0:
        raise InvalidArgument("invalid restart policy: the maximum retry count must be a non-negative integer")
    if retries and name != "on-failure":
        raise InvalidArgument("invalid restart policy: maximum retry count can only be used with 'on-failure'")
    return RestartPolicy(name, retries)


class Backoff:
    """Docker's back-off per container: 100 ms, doubling up to a minute; reset after 10 s of running."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def next_delay(self, cid: str, ran_seconds: float) -> float:
        if ran_seconds >= RESET_AFTER:
            delay = RESTART_DELAY_MIN
        else:
            delay = min(self._last.get(cid, RESTART_DELAY_MIN / 2) * 2, RESTART_DELAY_MAX)
        self._last[cid] = delay
        return delay

    def forget(self, cid: str) -> None:
        self._last.pop(cid, None)
