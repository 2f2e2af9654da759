"""Config (the container's own settings, image defaults merged in) as typed values: what runs, as
whom, where, how it is stopped and checked. Parsed once at create and when a stored container is
first loaded (the same function), so a start, a stop or an attach reads fields instead of the
JSON. The raw Config stays beside it in the row, for inspect.

Create's merge (create.py) has already refused what dockerd refuses (commands and environment
that are not lists of strings, bad working directories); the rest is read as leniently as before,
so the rows of an older berthd still load."""

from __future__ import annotations

import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import InvalidArgument
from engine.runtime.conmon import signal_number
from engine.volumes.specs import config_volumes

NS = 1_000_000_000
DEFAULT_INTERVAL = 30 * NS
DEFAULT_TIMEOUT = 30 * NS
DEFAULT_RETRIES = 3
DEFAULT_STOP_TIMEOUT = 10  # seconds, as dockerd


@dataclass(frozen=True)
class Probe:
    """Config.Healthcheck as the health monitor runs it."""

    command: list[str]
    interval: float  # seconds
    timeout: float
    retries: int
    start_period: float

    @classmethod
    def from_config(cls, hc: dict[str, Any] | None) -> Probe | None:
        """None when there is no check (or it is ["NONE"])."""
        if not hc:
            return None
        if not isinstance(hc, dict):
            raise InvalidArgument("Healthcheck must be an object with Test, Interval, Timeout and Retries")
        test = hc.get("Test") or []
        if not test or test[0] == "NONE":
            return None
        if test[0] == "CMD":
            command = list(test[1:])
        elif test[0] == "CMD-SHELL":
            command = ["/bin/sh", "-c", " ".join(test[1:])]
        else:
            command = list(test)
        if not command:
            return None
        for key in ("Interval", "Timeout", "Retries", "StartPeriod"):
            value = hc.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise InvalidArgument(f"Healthcheck.{key} must be a number (nanoseconds, or a count)")
        return cls(command=command,
                   interval=(hc.get("Interval") or DEFAULT_INTERVAL) / NS,
                   timeout=(hc.get("Timeout") or DEFAULT_TIMEOUT) / NS,
                   retries=int(hc.get("Retries") or DEFAULT_RETRIES),
                   start_period=(hc.get("StartPeriod") or 0) / NS)


@dataclass(frozen=True)
class ConfigSpec:
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()  # as merged: a bare NAME unsets it (create.process_env)
    user: str = ""  # resolved against the image's passwd at start (users.py)
    workdir: str = ""  # "": /
    hostname: str = ""
    domainname: str = ""
    healthcheck: Probe | None = None
    stop_signal: str = ""  # as given: a name or number; "": SIGTERM
    stop_signo: int = signal.SIGTERM  # stop_signal as a number, parsed once
    stop_timeout: int = DEFAULT_STOP_TIMEOUT
    labels: Mapping[str, str] = field(default_factory=dict)
    exposed_ports: tuple[str, ...] = ()  # "80/tcp"
    volumes: tuple[str, ...] = ()  # Config.Volumes (`-v /path`): container paths, cleaned
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False

    @property
    def command(self) -> list[str]:
        return [*self.entrypoint, *self.cmd]

    @classmethod
    def parse(cls, cfg: dict[str, Any]) -> ConfigSpec:
        stop_timeout = cfg.get("StopTimeout")
        try:
            timeout = int(stop_timeout or DEFAULT_STOP_TIMEOUT)
        except (TypeError, ValueError):
            raise InvalidArgument(f"StopTimeout must be a whole number of seconds, not {stop_timeout!r}") from None
        stop_signal = cfg.get("StopSignal")
        return cls(
            entrypoint=_strings(cfg.get("Entrypoint")), cmd=_strings(cfg.get("Cmd")), env=_strings(cfg.get("Env")),
            user=str(cfg.get("User") or ""), workdir=str(cfg.get("WorkingDir") or ""),
            hostname=str(cfg.get("Hostname") or ""), domainname=str(cfg.get("Domainname") or ""),
            healthcheck=Probe.from_config(cfg.get("Healthcheck")),
            stop_signal="" if stop_signal in (None, "") else str(stop_signal),
            stop_signo=parse_signal(stop_signal) or signal.SIGTERM, stop_timeout=timeout,
            labels=_labels(cfg.get("Labels")), exposed_ports=tuple(_keys(cfg.get("ExposedPorts"))),
            volumes=config_volumes(cfg),
            tty=bool(cfg.get("Tty")), open_stdin=bool(cfg.get("OpenStdin")), stdin_once=bool(cfg.get("StdinOnce")),
        )


def parse_signal(value: object) -> int:
    """A StopSignal's number (runtime.conmon.signal_number reads it as dockerd does); 0 when it names no
    signal, which create refuses (create.check_stop_signal), while an older berthd's row with such a
    StopSignal still loads, and stops with SIGTERM."""
    if value in (None, ""):
        return 0
    try:
        return max(signal_number(str(value)), 0)
    except InvalidArgument:
        return 0


def _strings(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    raise InvalidArgument(f"expected a list of strings, got {value!r}")


def _labels(value: object) -> dict[str, str]:
    if not value:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument("Labels must be an object of names to strings")
    return {str(k): str(v) for k, v in value.items()}


def _keys(value: object) -> list[str]:
    if isinstance(value, dict):
        return [str(k) for k in value]
    if isinstance(value, list):  # as some clients send ExposedPorts
        return [str(k) for k in value]
    return []
