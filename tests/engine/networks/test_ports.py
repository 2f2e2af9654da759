"""Port publishing requests, and host ports held so that no two containers share one."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from engine.errors import Conflict, InvalidArgument
from engine.networks.ports import PortRequest, PortReservations, PublishSpec, parse_port_key

pytestmark = pytest.mark.unit


def requested(host_config: dict[str, Any], config: dict[str, Any]) -> list[PortRequest]:
    return PublishSpec.parse(host_config).requested(config.get("ExposedPorts") or {})


def exposed(config: dict[str, Any], host_config: dict[str, Any]) -> list[tuple[int, str]]:
    return PublishSpec.parse(host_config).exposed(config.get("ExposedPorts") or {})


def test_requests_from_bindings_and_publish_all() -> None:
    hc = {"PortBindings": {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}, {"HostPort": ""}],
        "53/udp": [{"HostIp": "::", "HostPort": "53"}, {"HostIp": "0.0.0.0", "HostPort": "5300-5310"}]},
        "PublishAllPorts": True}
    cfg: dict[str, Any] = {"ExposedPorts": {"80/tcp": {}, "443/tcp": {}}}
    assert requested(hc, cfg) == [
        PortRequest(80, "tcp", "127.0.0.1", 8080, 8080), PortRequest(80, "tcp", "", 0, 0),
        PortRequest(53, "udp", "", 5300, 5310), PortRequest(443, "tcp", "", 0, 0)]
    assert exposed(cfg, hc) == [(53, "udp"), (80, "tcp"), (443, "tcp")]
    assert parse_port_key("8080") == (8080, "tcp")


def test_host_port_zero_is_any_free_port_as_in_dockerd() -> None:
    # `docker run -p 0:80`: dockerd stores HostPort "0" and publishes on a port of its choosing.
    hc = {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "0"}]}}
    assert requested(hc, {}) == [PortRequest(80, "tcp", "", 0, 0)]


@pytest.mark.parametrize(("bindings", "message"), [
    ({"80/sctp": []}, "protocol 'sctp'"),
    ({"0/tcp": []}, "between 1 and 65535"),
    ({"http/tcp": []}, "not a port number"),
    ({"80/tcp": [{"HostPort": "9000-8000"}]}, "end is before the start"),
    ({"80/tcp": [{"HostIp": "localhost"}]}, "invalid host IP"),
    ("80:80", "must be an object"),
])
def test_bad_requests(bindings: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        requested({"PortBindings": bindings}, {})


def test_reservations_hold_ports_until_released() -> None:
    ports = PortReservations()
    try:
        got = ports.reserve("a", [PortRequest(80, "tcp", "127.0.0.1", 0, 0), PortRequest(53, "udp", "127.0.0.1", 0, 0)])
        tcp = got[0].host_port
        assert tcp > 0 and got[1].proto == "udp"
        with pytest.raises(Conflict, match=f"Bind for 127.0.0.1:{tcp} failed: port is already allocated"):
            ports.reserve("b", [PortRequest(80, "tcp", "127.0.0.1", tcp, tcp)])
        ranged = ports.reserve("b", [PortRequest(80, "tcp", "127.0.0.1", tcp, tcp + 1)])
        assert ranged[0].host_port == tcp + 1  # the range's next free port
        assert ports.bindings("a") == got
        ports.release("a")
        with socket.socket() as s:
            s.bind(("127.0.0.1", tcp))  # free again
    finally:
        ports.close()
