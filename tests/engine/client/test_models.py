"""Typed read models parsed from the API's answers as dockerd gives them."""

from __future__ import annotations

import pytest

from engine.client.models import ContainerSummary, PortMapping

pytestmark = pytest.mark.unit

# A `/containers/json` entry as dockerd 24 answers it (fields compose and the desktop read).
ENTRY = {
    "Id": "f" * 64,
    "Names": ["/app-web-1"],
    "Image": "busybox",
    "State": "running",
    "Status": "Up 3 seconds (healthy)",
    "Ports": [
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
        {"PrivatePort": 53, "Type": "udp"},
    ],
    "Labels": {"com.docker.compose.project": "app"},
}


def test_container_summary() -> None:
    summary = ContainerSummary.from_api(ENTRY)
    assert (summary.id, summary.name, summary.image, summary.state) == ("f" * 64, "app-web-1", "busybox", "running")
    assert summary.labels == {"com.docker.compose.project": "app"}
    assert [str(p) for p in summary.ports] == ["0.0.0.0:8080->80/tcp", "53/udp"]


def test_ports_as_docker_ps_prints_them() -> None:
    assert str(PortMapping.from_api({"PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"})) == "0.0.0.0:8080->80/tcp"
    assert str(PortMapping.from_api({"PrivatePort": 443})) == "443/tcp"


def test_missing_fields_are_empty_not_errors() -> None:
    summary = ContainerSummary.from_api({"Id": "abc", "Names": None, "Labels": None, "Ports": None})
    assert (summary.name, summary.ports, summary.labels) == ("", (), {})
