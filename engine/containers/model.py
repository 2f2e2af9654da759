"""A container: its settings and its place in the state machine
created -> running <-> paused -> exited -> removed."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from engine.containers.configspec import ConfigSpec
from engine.containers.hostspec import HostSpec
from engine.formats import human_duration, now_ns, rfc3339_nano

# The label of the containers a Dockerfile build runs its RUN steps in. They are the build's own
# business: not listed (modern dockerd's BuildKit never shows its step containers either, and a
# client counting containers must not see them come and go), yet inspectable by id while they exist.
BUILD_STEP_LABEL = "berth.build.step"


class State(enum.StrEnum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    EXITED = "exited"
    REMOVING = "removing"
    DEAD = "dead"

    # The transitions live here, so every caller asks the state instead of listing states.
    @property
    def is_up(self) -> bool:
        """A process exists (the API's State.Running, paused included)."""
        return self in (State.RUNNING, State.PAUSED)

    @property
    def is_live(self) -> bool:
        """Up, or about to be again: removal needs force, `ps` lists it."""
        return self in (State.RUNNING, State.PAUSED, State.RESTARTING)

    @property
    def can_start(self) -> bool:
        return self in (State.CREATED, State.EXITED, State.RESTARTING)

    @property
    def can_pause(self) -> bool:
        return self is State.RUNNING

    @property
    def can_unpause(self) -> bool:
        return self is State.PAUSED

    @property
    def can_stop(self) -> bool:
        return self.is_live

    @property
    def can_exec(self) -> bool:
        return self is State.RUNNING

    @property
    def can_prune(self) -> bool:
        """Removable without force or a stop: nothing runs and nothing is under way."""
        return self in (State.CREATED, State.EXITED, State.DEAD)

    @property
    def runtime_settled(self) -> bool:
        """The runtime holds nothing for it (never started, or its exit already deleted it)."""
        return self in (State.CREATED, State.EXITED)

    @property
    def can_kill(self) -> bool:
        """A process to signal (a restarting container has none until its restart)."""
        return self.is_up

    @property
    def can_be_joined(self) -> bool:
        """Its namespaces may be shared (`--pid`, `--ipc`, `--uts container:x`)."""
        return self is State.RUNNING

    @property
    def is_frozen(self) -> bool:
        """Its processes are frozen: a signal lands only once they are thawed."""
        return self is State.PAUSED

    @property
    def awaits_restart(self) -> bool:
        """Exited, and its restart policy starts it again after the back-off."""
        return self is State.RESTARTING


@dataclass
class Container:
    id: str
    name: str  # without the leading "/"
    image: str  # as the user asked for it
    image_id: str
    config: dict[str, Any]  # the API's ContainerConfig, image defaults merged in
    host_config: dict[str, Any]
    created_ns: int = field(default_factory=now_ns)
    state: State = State.CREATED
    pid: int = 0
    conmon_pid: int = 0
    exit_code: int = 0
    error: str = ""
    started_ns: int = 0
    finished_ns: int = 0
    restart_count: int = 0
    oom_killed: bool = False
    manually_stopped: bool = False  # restart policies leave such a container alone
    health: dict[str, Any] | None = None  # State.Health: Status, FailingStreak, Log
    # The typed forms of `host_config` and `config`: given by the store when it parsed the same JSON
    # before, else parsed at the first question; `host_config_changed` after an edit.
    _spec: HostSpec | None = field(default=None, repr=False, compare=False)
    _config_spec: ConfigSpec | None = field(default=None, repr=False, compare=False)

    @property
    def spec(self) -> HostSpec:
        """HostConfig typed."""
        if self._spec is None:
            self._spec = HostSpec.parse(self.host_config)
        return self._spec

    @property
    def config_spec(self) -> ConfigSpec:
        """Config typed."""
        if self._config_spec is None:
            self._config_spec = ConfigSpec.parse(self.config)
        return self._config_spec

    def host_config_changed(self) -> None:
        self._spec = None

    @property
    def health_status(self) -> str:
        return str(self.health.get("Status", "")) if self.health else ""

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def running(self) -> bool:
        return self.state.is_live

    # What listings and events report reads the JSON as stored, as inspect does, so a row whose
    # Config no longer parses is still listed and removable; what runs reads `config_spec`.
    @property
    def labels(self) -> dict[str, Any]:
        return dict(self.config.get("Labels") or {})

    @property
    def build_step(self) -> bool:
        return BUILD_STEP_LABEL in self.labels

    @property
    def tty(self) -> bool:
        return bool(self.config.get("Tty"))

    @property
    def command(self) -> list[str]:
        return list(self.config.get("Entrypoint") or []) + list(self.config.get("Cmd") or [])

    def status_text(self, now: int | None = None) -> str:
        """The human `Status` column of `docker ps`."""
        now = now or now_ns()
        if self.state.is_up:
            text = "Up " + human_duration((now - self.started_ns) / 1e9)
            if self.state is State.PAUSED:
                return text + " (Paused)"
            status = self.health_status
            if status == "starting":
                return text + " (health: starting)"
            return f"{text} ({status})" if status in ("healthy", "unhealthy") else text
        if self.state is State.RESTARTING:
            return f"Restarting ({self.exit_code}) {human_duration((now - self.finished_ns) / 1e9)} ago"
        if self.state is State.EXITED:
            return f"Exited ({self.exit_code}) {human_duration((now - self.finished_ns) / 1e9)} ago"
        if self.state is State.REMOVING:
            return "Removal In Progress"
        if self.state is State.DEAD:
            return "Dead"
        return "Created"

    def state_api(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "Status": self.state.value,
            "Running": self.state.is_up,
            "Paused": self.state is State.PAUSED,
            "Restarting": self.state is State.RESTARTING,
            "OOMKilled": self.oom_killed,
            "Dead": self.state is State.DEAD,
            "Pid": self.pid if self.running else 0,
            "ExitCode": self.exit_code,
            "Error": self.error,
            "StartedAt": rfc3339_nano(self.started_ns),
            "FinishedAt": rfc3339_nano(self.finished_ns),
        }
        if self.health is not None:
            state["Health"] = self.health
        return state
