from __future__ import annotations

import resource

import pytest

from engine.errors import InvalidArgument
from engine.runtime.rlimits import RLIMIT_LOCKS, UNLIMITED, Ulimit, container_rlimits, host_hard_limit

pytestmark = pytest.mark.unit


def unlimited_host(resource_id: int) -> int:
    return UNLIMITED


def this_kind_of_host(resource_id: int) -> int:
    # The verified host: hard nofile 20000, root without CAP_SYS_RESOURCE.
    return {resource.RLIMIT_NOFILE: 20000, resource.RLIMIT_NPROC: 96365}.get(resource_id, UNLIMITED)


def by_type(entries: list[dict[str, int | str]]) -> dict[str, tuple[int | str, int | str]]:
    return {str(e["type"]): (e["soft"], e["hard"]) for e in entries}


def test_defaults_are_dockers_when_the_host_allows() -> None:
    entries, warnings = container_rlimits(hard_limit=unlimited_host)
    assert by_type(entries) == {
        "RLIMIT_NOFILE": (1048576, 1048576),
        "RLIMIT_NPROC": (UNLIMITED, UNLIMITED),
        "RLIMIT_CORE": (UNLIMITED, UNLIMITED),
    }
    assert warnings == []


def test_defaults_are_clamped_silently_to_host_hard_limits() -> None:
    entries, warnings = container_rlimits(hard_limit=this_kind_of_host)
    limits = by_type(entries)
    assert limits["RLIMIT_NOFILE"] == (20000, 20000)
    assert limits["RLIMIT_NPROC"] == (96365, 96365)
    assert warnings == []


def test_requested_limit_overrides_default() -> None:
    entries, warnings = container_rlimits([Ulimit("nofile", 1024, 4096)], hard_limit=this_kind_of_host)
    assert by_type(entries)["RLIMIT_NOFILE"] == (1024, 4096)
    assert warnings == []


def test_requested_limit_above_host_is_clamped_with_a_warning() -> None:
    entries, warnings = container_rlimits([Ulimit("nofile", 1048576, 1048576)], hard_limit=this_kind_of_host)
    assert by_type(entries)["RLIMIT_NOFILE"] == (20000, 20000)
    assert len(warnings) == 1
    assert "nofile=1048576:1048576" in warnings[0]
    assert "20000" in warnings[0]


def test_soft_below_clamped_hard_is_kept() -> None:
    entries, warnings = container_rlimits([Ulimit("nofile", 4096, 50000)], hard_limit=this_kind_of_host)
    assert by_type(entries)["RLIMIT_NOFILE"] == (4096, 20000)
    assert warnings and "nofile=4096:20000" in warnings[0]


def test_unlimited_is_minus_one_and_is_clamped() -> None:
    entries, warnings = container_rlimits([Ulimit("nofile", -1, -1)], hard_limit=this_kind_of_host)
    assert by_type(entries)["RLIMIT_NOFILE"] == (20000, 20000)
    assert "nofile=unlimited:unlimited" in warnings[0]
    entries, _ = container_rlimits([Ulimit("memlock", -1, -1)], hard_limit=unlimited_host)
    assert by_type(entries)["RLIMIT_MEMLOCK"] == (UNLIMITED, UNLIMITED)


def test_extra_names_map_to_oci_types() -> None:
    requested = [Ulimit("stack", 8388608, 8388608), Ulimit("locks", 10, 20), Ulimit("rtprio", 0, 0)]
    seen: list[int] = []

    def record(resource_id: int) -> int:
        seen.append(resource_id)
        return UNLIMITED

    entries, _ = container_rlimits(requested, hard_limit=record)
    limits = by_type(entries)
    assert limits["RLIMIT_STACK"] == (8388608, 8388608)
    assert limits["RLIMIT_LOCKS"] == (10, 20)
    assert limits["RLIMIT_RTPRIO"] == (0, 0)
    assert {resource.RLIMIT_STACK, RLIMIT_LOCKS, resource.RLIMIT_RTPRIO} <= set(seen)


@pytest.mark.parametrize(
    ("ulimit", "message"),
    [
        (Ulimit("files", 1, 1), "unknown ulimit 'files': use one of"),
        (Ulimit("nofile", 2048, 1024), "soft limit 2048 is above hard limit 1024"),
        (Ulimit("nofile", -1, 1024), "soft limit -1 is above hard limit 1024"),
        (Ulimit("nofile", -5, 10), "-5 is not a limit"),
    ],
)
def test_bad_ulimits_are_refused(ulimit: Ulimit, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        container_rlimits([ulimit], hard_limit=unlimited_host)


def test_real_host_limits_are_respected() -> None:
    entries, _ = container_rlimits([Ulimit("nofile", -1, -1)])
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    expected = UNLIMITED if hard == resource.RLIM_INFINITY else hard
    assert host_hard_limit(resource.RLIMIT_NOFILE) == expected
    assert by_type(entries)["RLIMIT_NOFILE"][1] == expected
