"""Resource limits (`process.rlimits`) for a container.

The runtime applies them with setrlimit before it drops privileges, but with berthd's own
capabilities: where berthd lacks CAP_SYS_RESOURCE (some hosts drop it even for root), a
hard limit above berthd's own fails the whole container ("setrlimit RLIMIT_NOFILE:
Operation not permitted"). So every limit is clamped to the hard limit berthd holds.
"""

from __future__ import annotations

import resource
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.errors import InvalidArgument

# Python's resource module does not name it; it is 10 on every Linux architecture.
RLIMIT_LOCKS = 10

# What the OCI spec (a uint64) and the kernel call "no limit".
UNLIMITED = 2**64 - 1

# Docker's ulimit names (`--ulimit nofile=1024:2048`) -> resource numbers and OCI types.
_RESOURCES: dict[str, tuple[int, str]] = {
    "core": (resource.RLIMIT_CORE, "RLIMIT_CORE"),
    "cpu": (resource.RLIMIT_CPU, "RLIMIT_CPU"),
    "data": (resource.RLIMIT_DATA, "RLIMIT_DATA"),
    "fsize": (resource.RLIMIT_FSIZE, "RLIMIT_FSIZE"),
    "locks": (RLIMIT_LOCKS, "RLIMIT_LOCKS"),
    "memlock": (resource.RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"),
    "msgqueue": (resource.RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"),
    "nice": (resource.RLIMIT_NICE, "RLIMIT_NICE"),
    "nofile": (resource.RLIMIT_NOFILE, "RLIMIT_NOFILE"),
    "nproc": (resource.RLIMIT_NPROC, "RLIMIT_NPROC"),
    "rss": (resource.RLIMIT_RSS, "RLIMIT_RSS"),
    "rtprio": (resource.RLIMIT_RTPRIO, "RLIMIT_RTPRIO"),
    "rttime": (resource.RLIMIT_RTTIME, "RLIMIT_RTTIME"),
    "sigpending": (resource.RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"),
    "stack": (resource.RLIMIT_STACK, "RLIMIT_STACK"),
}


# OCI rlimit types -> resource numbers (an exec started by berthd itself sets them).
_NUMBERS: dict[str, int] = {oci: number for number, oci in _RESOURCES.values()}


def resource_number(oci_type: str) -> int | None:
    """The resource number of an OCI rlimit type ("RLIMIT_NOFILE"), None for one Docker does not name."""
    return _NUMBERS.get(str(oci_type).upper())


@dataclass(frozen=True)
class Ulimit:
    """One `--ulimit name=soft:hard`; -1 means unlimited, as in Docker."""

    name: str
    soft: int
    hard: int


# What a container started by a stock dockerd unit (LimitNOFILE/LimitNPROC/LimitCORE=infinity)
# ends up with: nofile at the kernel's usual nr_open, the others unlimited.
DEFAULT_ULIMITS: tuple[Ulimit, ...] = (
    Ulimit("nofile", 1048576, 1048576),
    Ulimit("nproc", -1, -1),
    Ulimit("core", -1, -1),
)


def host_hard_limit(resource_id: int) -> int:
    """berthd's own hard limit for a resource, UNLIMITED when there is none."""
    hard = resource.getrlimit(resource_id)[1]
    return UNLIMITED if hard == resource.RLIM_INFINITY else hard


def container_rlimits(
    requested: Sequence[Ulimit] = (),
    *,
    hard_limit: Callable[[int], int] = host_hard_limit,
) -> tuple[list[dict[str, Any]], list[str]]:
    """OCI `process.rlimits` entries and warnings for requested limits that were lowered.

    Requested ulimits override the defaults by name. Defaults are clamped silently: they
    are a best effort, and a warning on every `docker run` would teach people to ignore
    warnings. A limit the user asked for and did not get is always reported.
    """
    wanted: dict[str, tuple[Ulimit, bool]] = {u.name: (u, False) for u in DEFAULT_ULIMITS}
    for ulimit in requested:
        _check(ulimit)
        wanted[ulimit.name] = (ulimit, True)

    entries: list[dict[str, Any]] = []
    warnings: list[str] = []
    for ulimit, explicit in wanted.values():
        resource_id, oci_type = _RESOURCES[ulimit.name]
        soft, hard = _to_oci_value(ulimit.soft), _to_oci_value(ulimit.hard)
        ceiling = hard_limit(resource_id)
        if hard > ceiling:
            hard = ceiling
            soft = min(soft, ceiling)
            if explicit:
                warnings.append(
                    f"ulimit {ulimit.name}={_show(ulimit.soft)}:{_show(ulimit.hard)} exceeds the host's hard "
                    f"limit {_show(ceiling)}; the container gets {ulimit.name}={_show(soft)}:{_show(hard)}"
                )
        entries.append({"type": oci_type, "hard": hard, "soft": soft})
    return entries, warnings


def _check(ulimit: Ulimit) -> None:
    if ulimit.name not in _RESOURCES:
        known = ", ".join(sorted(_RESOURCES))
        raise InvalidArgument(f"unknown ulimit {ulimit.name!r}: use one of {known}")
    for value in (ulimit.soft, ulimit.hard):
        if value < -1:
            raise InvalidArgument(f"ulimit {ulimit.name}: {value} is not a limit (use -1 for unlimited)")
    if _to_oci_value(ulimit.soft) > _to_oci_value(ulimit.hard):
        raise InvalidArgument(
            f"ulimit {ulimit.name}: soft limit {ulimit.soft} is above hard limit {ulimit.hard}; "
            "the soft limit must be less than or equal to the hard limit"
        )


def _to_oci_value(value: int) -> int:
    return UNLIMITED if value == -1 else value


def _show(value: int) -> str:
    return "unlimited" if value in (-1, UNLIMITED) else str(value)
