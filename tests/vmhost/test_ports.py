from __future__ import annotations

import pytest

from vmhost.ports import Published, published_ports

pytestmark = pytest.mark.unit


def test_published_ports_keeps_tcp_with_a_host_port() -> None:
    containers = [
        {"Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                   {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                   {"PrivatePort": 443, "Type": "tcp"},
                   {"IP": "0.0.0.0", "PrivatePort": 53, "PublicPort": 53, "Type": "udp"}]},
        {"Ports": [{"IP": "127.0.0.1", "PrivatePort": 5432, "PublicPort": 5432, "Type": "tcp"}]},
        {"Ports": None},
        {},
    ]
    assert published_ports(containers) == {Published(8080, "127.0.0.1"), Published(5432, "127.0.0.1")}


def test_specific_guest_address_is_kept() -> None:
    ports = published_ports([{"Ports": [{"IP": "10.88.0.1", "PublicPort": 9000, "Type": "tcp"}]}])
    assert ports == {Published(9000, "10.88.0.1")}
