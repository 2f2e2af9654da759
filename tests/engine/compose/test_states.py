"""A project's container as compose reads it from `/containers/json` (labels, number, ports)."""

from __future__ import annotations

import pytest

from engine.compose import ContainerState

pytestmark = pytest.mark.unit


def test_container_state_from_summary() -> None:
    state = ContainerState.from_summary({
        "Id": "abc", "Names": ["/app-web-2"], "Image": "busybox", "State": "running",
        "Status": "Up 2 minutes (unhealthy)",
        "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                  {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                  {"PrivatePort": 53, "Type": "udp"}],
        "Labels": {"com.docker.compose.service": "web", "com.docker.compose.container-number": "2",
                   "com.docker.compose.oneoff": "False", "com.docker.compose.config-hash": "h"},
    })
    assert (state.name, state.service, state.number, state.oneoff, state.config_hash) == ("app-web-2", "web", 2,
                                                                                          False, "h")
    assert state.ports == ["0.0.0.0:8080->80/tcp", "53/udp"]
    assert state.health == "unhealthy"
