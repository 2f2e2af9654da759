"""`docker stats` reports a container's interfaces, except with the host's network (as dockerd)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.cli import docker
from tests.support.cli import ok as _ok
from tests.support.daemon import Berthd

pytestmark = pytest.mark.e2e


@pytest.fixture
def boxes(docker_env: dict[str, str]) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        docker(docker_env, "rm", "-f", name)


def test_stats_networks_only_in_a_namespace_of_the_containers_own(berthd: Berthd, busybox_image: str,
                                                                  docker_env: dict[str, str],
                                                                  boxes: list[str]) -> None:
    reports = {}
    for mode in ("bridge", "host"):
        cid = _ok(docker_env, "run", "-d", "--network", mode, busybox_image, "sleep", "60").strip()
        boxes.append(cid)
        status, _, body = berthd.api.request("GET", f"/containers/{cid}/stats?stream=false")
        assert status == 200, body
        reports[mode] = json.loads(body)
    assert "eth0" in reports["bridge"]["networks"]
    assert "networks" not in reports["host"]
