"""/networks through the API, as docker-py and the CLI send it, answered as dockerd answers it:
what create echoes back, what it refuses (with dockerd's words), and endpoint settings."""

from __future__ import annotations

import ipaddress
import json
import random
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import Berthd

pytestmark = pytest.mark.integration


@pytest.fixture
def made(berthd: Berthd) -> Iterator[list[tuple[str, str]]]:
    """("containers"|"networks", id) to remove after the test, containers first."""
    items: list[tuple[str, str]] = []
    yield items
    for kind, ref in sorted(items, key=lambda i: i[0] != "containers"):
        berthd.api.request("DELETE", f"/{kind}/{ref}" + ("?force=1" if kind == "containers" else ""))


def name() -> str:
    return "n" + uuid.uuid4().hex[:10]


def create(berthd: Berthd, made: list[tuple[str, str]], **body: Any) -> dict[str, Any]:
    """Create a network, return its inspect."""
    body.setdefault("Name", name())
    created = berthd.api.json("POST", "/v1.45/networks/create", body)
    made.append(("networks", created["Id"]))
    result: dict[str, Any] = berthd.api.json("GET", f"/v1.45/networks/{created['Id']}")
    return result


def refused(berthd: Berthd, path: str, body: dict[str, Any]) -> tuple[int, str]:
    status, _, data = berthd.api.request("POST", path, body)
    assert status >= 400, data
    return status, str(json.loads(data)["message"])


def test_create_echoes_options_ipam_and_fields_as_dockerd(berthd: Berthd, made: list[tuple[str, str]]) -> None:
    third = random.randrange(0, 256)
    plain = create(berthd, made, IPAM={"Config": [{"Subnet": f"10.232.{third}.0/24"}]})
    # No options given: Options is {}, IPAM.Options null, and the entry as given (no Gateway added).
    assert plain["Options"] == {} and plain["IPAM"] == {"Driver": "default", "Options": None,
                                                         "Config": [{"Subnet": f"10.232.{third}.0/24"}]}
    assert (plain["Scope"], plain["Attachable"], plain["Ingress"], plain["Internal"], plain["EnableIPv6"],
            plain["ConfigOnly"], plain["ConfigFrom"], plain["Containers"], plain["Labels"]) == (
        "local", False, False, False, False, False, {"Network": ""}, {}, {})
    berthd.api.request("DELETE", f"/networks/{plain['Id']}")
    pool = {"Subnet": f"10.232.{third}.0/24", "IPRange": f"10.232.{third}.128/25",
            "Gateway": f"10.232.{third}.254", "AuxiliaryAddresses": {"a": f"10.232.{third}.130"}}
    options = {"com.docker.network.bridge.enable_icc": "false", "com.docker.network.bridge.name": "bx" + name()[1:9],
               "com.docker.network.bridge.enable_ip_masquerade": "false",
               "com.docker.network.bridge.host_binding_ipv4": "127.0.0.1", "com.docker.network.driver.mtu": "1400",
               "org.example.other": "kept"}
    full = create(berthd, made, Options=options, Labels={"com.docker.py.test": "label"}, Internal=True,
                  Attachable=True, IPAM={"Driver": "default", "Options": {"x": "y"}, "Config": [pool]})
    assert full["Options"] == options and full["Labels"] == {"com.docker.py.test": "label"}
    bridge = options["com.docker.network.bridge.name"]
    assert Path(f"/sys/class/net/{bridge}/bridge").is_dir()  # the bridge has the name asked for
    assert full["IPAM"] == {"Driver": "default", "Options": {"x": "y"}, "Config": [pool]}
    assert full["Internal"] is True and full["Attachable"] is True
    # An auto-chosen subnet is shown with its gateway, as dockerd shows it.
    auto = create(berthd, made)["IPAM"]["Config"]
    assert len(auto) == 1 and ipaddress.IPv4Address(auto[0]["Gateway"]) in ipaddress.IPv4Network(auto[0]["Subnet"])


def test_auxiliary_addresses_are_never_handed_out(berthd: Berthd, busybox_image: str,
                                                  made: list[tuple[str, str]]) -> None:
    third = random.randrange(0, 256)
    net = create(berthd, made, IPAM={"Config": [{"Subnet": f"10.233.{third}.0/29", "Gateway": f"10.233.{third}.1",
                                                 "AuxiliaryAddresses": {"r": f"10.233.{third}.2"}}]})
    c = berthd.api.json("POST", "/containers/create", {"Image": busybox_image, "Cmd": ["sleep", "60"],
                                                        "HostConfig": {"NetworkMode": net["Name"]}})
    made.append(("containers", c["Id"]))
    berthd.api.json("POST", f"/containers/{c['Id']}/start")
    got = berthd.api.json("GET", f"/containers/{c['Id']}/json")["NetworkSettings"]["Networks"][net["Name"]]
    assert got["IPAddress"] == f"10.233.{third}.3"


def test_create_refuses_as_dockerd(berthd: Berthd, made: list[tuple[str, str]]) -> None:
    assert refused(berthd, "/networks/create", {"Name": name(), "Labels": ["a=b"]}) == (
        400, "json: cannot unmarshal array into Go struct field NetworkCreateRequest.Labels of type map[string]string")
    assert refused(berthd, "/networks/create", {"Name": name(), "Labels": {"a": 1}}) == (
        400, "json: cannot unmarshal number into Go struct field NetworkCreateRequest.Labels of type string")
    for driver in ("host", "null"):
        assert refused(berthd, "/networks/create", {"Name": name(), "Driver": driver}) == (
            403, f'only one instance of "{driver}" network is allowed')
    assert refused(berthd, "/networks/create", {"Name": name(), "Ingress": True}) == (
        403, "Ingress network can only be global scope network")
    # Outside a swarm (see tests/engine/api/test_swarm.py for inside one).
    assert refused(berthd, "/networks/create", {"Name": name(), "Driver": "overlay"}) == (
        403, 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node '
             "to swarm and try again.")
    assert refused(berthd, "/networks/create", {"Name": name(), "Scope": "swarm"}) == (
        403, "cannot create a swarm scoped network when swarm is not active")
    assert refused(berthd, "/networks/create", {"Name": "bridge"}) == (
        403, "operation is not permitted on predefined bridge network")
    status, says = refused(berthd, "/networks/create",
                           {"Name": name(), "Options": {"com.docker.network.bridge.enable_icc": "maybe"}})
    assert status == 400 and "failed to parse com.docker.network.bridge.enable_icc value: maybe" in says
    status, says = refused(berthd, "/networks/create", {"Name": name(), "EnableIPv6": True})
    assert status == 404 and "non-overlapping IPv6 address pool" in says
    # CheckDuplicate, or not (API 1.44+ always checks): a second network of the same name is refused.
    first = create(berthd, made)
    for check in (True, False):
        assert refused(berthd, "/networks/create", {"Name": first["Name"], "CheckDuplicate": check}) == (
            409, f"network with name {first['Name']} already exists")


def test_overlapping_subnets_refused_for_both_families(berthd: Berthd, made: list[tuple[str, str]]) -> None:
    third = random.randrange(0, 256)
    v6 = f"fd42:{random.randrange(1, 0xffff):x}:{random.randrange(1, 0xffff):x}::/64"
    first = create(berthd, made, EnableIPv6=True,
                   IPAM={"Config": [{"Subnet": f"10.234.{third}.0/24"}, {"Subnet": v6}]})
    for subnet in (f"10.234.{third}.0/25", v6):
        status, says = refused(berthd, "/networks/create", {"Name": name(), "IPAM": {"Config": [{"Subnet": subnet}]}})
        assert (status, says) == (403, f"Pool overlaps with other one on this address space ({first['Name']})")


def test_scope_config_only_and_config_from(berthd: Berthd, made: list[tuple[str, str]]) -> None:
    third = random.randrange(0, 256)
    local = create(berthd, made)
    assert berthd.api.request("GET", f"/networks/{local['Name']}?scope=local")[0] == 200
    assert berthd.api.request("GET", f"/networks/{local['Name']}?scope=global")[0] == 404
    listed = berthd.api.json("GET", "/networks?filters=" + urllib.parse.quote(json.dumps({"scope": ["swarm"]})))
    assert listed == []
    config = create(berthd, made, ConfigOnly=True, Options={"com.docker.network.bridge.enable_icc": "false"},
                    IPAM={"Config": [{"Subnet": f"10.235.{third}.0/24"}]})
    assert (config["Driver"], config["ConfigOnly"], config["IPAM"]["Config"]) == (
        "null", True, [{"Subnet": f"10.235.{third}.0/24"}])
    user = create(berthd, made, ConfigFrom={"Network": config["Name"]})
    assert user["Driver"] == "bridge" and user["ConfigFrom"] == {"Network": config["Name"]}
    assert user["Options"] == {"com.docker.network.bridge.enable_icc": "false"}
    assert user["IPAM"]["Config"] == [{"Subnet": f"10.235.{third}.0/24"}]
    status, _, body = berthd.api.request("DELETE", f"/networks/{config['Name']}")
    assert status == 403 and "is in use" in json.loads(body)["message"]


def test_endpoint_settings_stored_and_shown(berthd: Berthd, busybox_image: str, made: list[tuple[str, str]]) -> None:
    v6 = ipaddress.IPv6Network(f"fd42:{random.randrange(1, 0xffff):x}:{random.randrange(1, 0xffff):x}::/64")
    net = create(berthd, made, EnableIPv6=True,
                 IPAM={"Config": [{"Subnet": str(v6), "IPRange": f"{v6.network_address}0/96",
                                   "Gateway": str(v6.network_address + 0xffff)}]})
    fixed = str(v6.network_address + 0xf00d)
    body = {"Image": busybox_image, "Cmd": ["sleep", "60"], "MacAddress": "02:42:ac:11:00:77",
            "HostConfig": {"NetworkMode": net["Name"]},
            "NetworkingConfig": {"EndpointsConfig": {net["Name"]: {
                "Aliases": ["foo"], "Links": ["docker-py-test-upstream:bar"], "DriverOpts": {"key1": "a"},
                "IPAMConfig": {"IPv6Address": fixed, "LinkLocalIPs": ["169.254.8.8"]}}}}}
    c = berthd.api.json("POST", "/v1.45/containers/create", body)
    made.append(("containers", c["Id"]))
    created = berthd.api.json("GET", f"/containers/{c['Id']}/json")["NetworkSettings"]["Networks"][net["Name"]]
    # Before start: what was asked for, the MAC (from Config.MacAddress) included, as dockerd shows it.
    assert (created["MacAddress"], created["Aliases"], created["Links"], created["DriverOpts"]) == (
        "02:42:ac:11:00:77", ["foo"], ["docker-py-test-upstream:bar"], {"key1": "a"})
    assert created["IPAMConfig"] == {"IPv6Address": fixed, "LinkLocalIPs": ["169.254.8.8"]}
    berthd.api.json("POST", f"/containers/{c['Id']}/start")
    running = berthd.api.json("GET", f"/containers/{c['Id']}/json")["NetworkSettings"]["Networks"][net["Name"]]
    assert (running["MacAddress"], running["GlobalIPv6Address"], running["IPv6Gateway"]) == (
        "02:42:ac:11:00:77", fixed, str(v6.network_address + 0xffff))
    # connect with a MAC and a fixed IPv6 address, to a container that has not started
    other = berthd.api.json("POST", "/containers/create", {"Image": busybox_image, "Cmd": ["sleep", "60"]})
    made.append(("containers", other["Id"]))
    second = str(v6.network_address + 0xbeef)
    status, _, data = berthd.api.request("POST", f"/networks/{net['Id']}/connect", {
        "Container": other["Id"], "EndpointConfig": {"MacAddress": "02:42:ac:11:00:02",
                                                     "IPAMConfig": {"IPv6Address": second}}})
    assert status == 200, data
    shown = berthd.api.json("GET", f"/containers/{other['Id']}/json")["NetworkSettings"]["Networks"][net["Name"]]
    assert shown["MacAddress"] == "02:42:ac:11:00:02" and shown["IPAMConfig"] == {"IPv6Address": second}
    # the same fixed address twice, or one outside the subnet, is refused
    for address, status_wanted in ((fixed, 409), ("fd00:dead::1", 400)):
        status, says = refused(berthd, "/containers/create", {**body, "MacAddress": "", "NetworkingConfig": {
            "EndpointsConfig": {net["Name"]: {"IPAMConfig": {"IPv6Address": address}}}}})
        assert status == status_wanted, says
    status, says = refused(berthd, "/containers/create", {**body, "MacAddress": "zz"})
    assert status == 400 and "invalid MAC address" in says
