"""berthd's single-node swarm: outside one, every swarm endpoint answers as a stock dockerd
outside one; `docker swarm init` makes berthd a manager of one node with overlay networks
carried by its bridges, no listener opened, kept across a restart, and `leave --force` ends it."""

from __future__ import annotations

import json
import random
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.networks.spec import NOT_A_MANAGER
from engine.swarm.service import ALREADY_IN_A_SWARM, LAST_MANAGER, NOT_IN_A_SWARM
from tests.reliability.helpers import private_berthd
from tests.support.daemon import Berthd

pytestmark = pytest.mark.integration


def _init_body(port: int) -> dict[str, Any]:
    # As docker-py's tests send it: a listen address on every interface, which berthd only records.
    return {"AdvertiseAddr": "127.0.0.1", "ListenAddr": f"0.0.0.0:{port}", "ForceNewCluster": False}


def _listening_ports() -> set[int]:
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                ports.add(int(fields[1].rpartition(":")[2], 16))
    return ports


def _leave(daemon: Berthd) -> None:
    daemon.api.request("POST", "/swarm/leave?force=1")


@pytest.fixture
def swarm(berthd: Berthd) -> Iterator[str]:
    """The session berthd in a swarm for the test; the node id. Left (force) afterwards."""
    _leave(berthd)
    port = random.randrange(20000, 30000)
    node_id = berthd.api.json("POST", "/swarm/init", _init_body(port))
    try:
        yield str(node_id)
    finally:
        _leave(berthd)


def _message(daemon: Berthd, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, str]:
    status, _, data = daemon.api.request(method, path, body)
    return status, str(json.loads(data)["message"])


def test_outside_a_swarm_endpoints_answer_as_dockerd_outside_one(berthd: Berthd) -> None:
    _leave(berthd)
    for method, path in (("GET", "/swarm"), ("GET", "/v1.45/swarm/unlockkey"), ("POST", "/swarm/update?version=1"),
                         ("GET", "/nodes"), ("GET", "/nodes/abc"), ("DELETE", "/nodes/abc"),
                         ("GET", "/services"), ("POST", "/services/create"), ("GET", "/v1.45/tasks"),
                         ("GET", "/tasks/x"), ("GET", "/secrets"), ("POST", "/secrets/create"),
                         ("GET", "/configs"), ("GET", "/configs/x")):
        status, headers, body = berthd.api.request(method, path)
        assert (status, json.loads(body)) == (503, {"message": NOT_A_MANAGER}), (method, path)
        assert headers["Content-Type"] == "application/json"
    for path in ("/swarm/leave", "/v1.45/swarm/leave?force=1", "/swarm/leave?force=true"):
        assert _message(berthd, "POST", path) == (503, NOT_IN_A_SWARM), path
    status, says = _message(berthd, "POST", "/swarm/join", {"ListenAddr": "0.0.0.0:2377",
                                                             "RemoteAddrs": ["127.0.0.1:2377"], "JoinToken": "x"})
    assert status == 503 and "single-node swarms only" in says
    info = berthd.api.json("GET", "/info")["Swarm"]
    assert (info["LocalNodeState"], info["NodeID"], info["ControlAvailable"]) == ("inactive", "", False)
    assert berthd.api.request("GET", "/_ping")[1]["Swarm"] == "inactive"


def test_init_inspect_overlay_network_containers_by_name_and_leave(berthd: Berthd, busybox_image: str) -> None:
    _leave(berthd)
    port = random.randrange(20000, 30000)
    before = _listening_ports()
    node_id = berthd.api.json("POST", "/swarm/init", _init_body(port))
    try:
        # ListenAddr is recorded, never listened on.
        assert port not in _listening_ports() - before
        swarm = berthd.api.json("GET", "/swarm")
        assert len(swarm["ID"]) == 25 and swarm["Spec"]["Name"] == "default"
        assert swarm["Spec"]["Orchestration"] == {"TaskHistoryRetentionLimit": 5}
        assert (swarm["DefaultAddrPool"], swarm["SubnetSize"], swarm["DataPathPort"]) == (["10.0.0.0/8"], 24, 4789)
        assert swarm["JoinTokens"]["Worker"].startswith("SWMTKN-1-")
        assert swarm["JoinTokens"]["Worker"] != swarm["JoinTokens"]["Manager"]
        info = berthd.api.json("GET", "/info")["Swarm"]
        assert (info["NodeID"], info["LocalNodeState"], info["ControlAvailable"], info["Nodes"], info["Managers"],
                info["NodeAddr"]) == (node_id, "active", True, 1, 1, "127.0.0.1")
        assert info["Cluster"]["ID"] == swarm["ID"] and "JoinTokens" not in info["Cluster"]
        assert berthd.api.request("GET", "/_ping")[1]["Swarm"] == "active/manager"
        nodes = berthd.api.json("GET", "/nodes")
        assert [n["ID"] for n in nodes] == [node_id]
        node = berthd.api.json("GET", f"/nodes/{node_id[:6]}")
        assert (node["Spec"]["Role"], node["Status"]["State"], node["ManagerStatus"]["Leader"]) == (
            "manager", "ready", True)
        assert berthd.api.json("GET", "/nodes?filters=" + urllib.parse.quote(json.dumps({"role": ["worker"]}))) == []
        status, says = _message(berthd, "GET", "/services")
        assert status == 501 and "does not run services" in says and "compose" in says

        ingress = berthd.api.json("GET", "/networks/ingress")
        assert (ingress["Driver"], ingress["Scope"], ingress["Ingress"], ingress["Attachable"]) == (
            "overlay", "swarm", True, False)
        assert ingress["IPAM"]["Config"][0]["Subnet"].startswith("10.")

        net = "ov" + uuid.uuid4().hex[:8]
        created = berthd.api.json("POST", "/networks/create", {"Name": net, "Driver": "overlay", "Attachable": True})
        shown = berthd.api.json("GET", f"/networks/{created['Id']}?scope=swarm")
        assert (shown["Driver"], shown["Scope"], shown["Attachable"], shown["Ingress"]) == (
            "overlay", "swarm", True, False)
        server = berthd.api.json("POST", "/containers/create?name=" + net + "-server", {
            "Image": busybox_image, "Cmd": ["sleep", "60"], "HostConfig": {"NetworkMode": net}})
        berthd.api.json("POST", f"/containers/{server['Id']}/start")
        client = berthd.api.json("POST", "/containers/create", {
            "Image": busybox_image, "Cmd": ["ping", "-c1", "-W3", net + "-server"],
            "HostConfig": {"NetworkMode": net}})
        berthd.api.json("POST", f"/containers/{client['Id']}/start")
        assert berthd.api.json("POST", f"/containers/{client['Id']}/wait")["StatusCode"] == 0
        # The ingress network takes no containers, as dockerd's.
        status, says = _message(berthd, "POST", "/networks/ingress/connect", {"Container": server["Id"]})
        assert status == 403 and "not manually attachable" in says

        # Leaving needs force on the (last) manager; with it, the swarm's networks go, their containers
        # disconnected, and the local networks stay.
        assert _message(berthd, "POST", "/swarm/leave") == (503, LAST_MANAGER)
        berthd.api.request("POST", "/swarm/leave?force=1")
        names = {n["Name"] for n in berthd.api.json("GET", "/networks")}
        assert net not in names and "ingress" not in names and "bridge" in names
        assert berthd.api.json("GET", f"/containers/{server['Id']}/json")["NetworkSettings"]["Networks"] == {}
        assert _message(berthd, "GET", "/swarm") == (503, NOT_A_MANAGER)
        assert berthd.api.json("GET", "/info")["Swarm"]["LocalNodeState"] == "inactive"
        for c in (server, client):
            berthd.api.request("DELETE", f"/containers/{c['Id']}?force=1")
    finally:
        _leave(berthd)


def test_init_twice_is_refused_and_update_follows_versions(berthd: Berthd, swarm: str) -> None:
    assert _message(berthd, "POST", "/swarm/init", _init_body(2377)) == (503, ALREADY_IN_A_SWARM)
    assert _message(berthd, "POST", "/swarm/join", {"ListenAddr": "0.0.0.0:2377", "RemoteAddrs": ["127.0.0.1:1"],
                                                     "JoinToken": "x"}) == (503, ALREADY_IN_A_SWARM)
    before = berthd.api.json("GET", "/swarm")
    version = before["Version"]["Index"]
    assert _message(berthd, "POST", f"/swarm/update?version={version - 1}", {"Name": "default"}) == (
        500, "update out of sequence")
    assert _message(berthd, "POST", "/swarm/update", {"Name": "default"})[0] == 400
    status, _, body = berthd.api.request("POST", f"/swarm/update?version={version}&rotateWorkerToken=true",
                                         {"Name": "default", "Labels": {"x": "y"}})
    assert status == 200, body
    after = berthd.api.json("GET", "/swarm")
    assert after["Version"]["Index"] == version + 1 and after["Spec"]["Labels"] == {"x": "y"}
    assert after["JoinTokens"]["Worker"] != before["JoinTokens"]["Worker"]
    assert after["JoinTokens"]["Manager"] == before["JoinTokens"]["Manager"]
    assert berthd.api.json("GET", "/swarm/unlockkey") == {"UnlockKey": ""}


def test_networks_by_scope(berthd: Berthd, busybox_image: str, swarm: str) -> None:
    local = "lo" + uuid.uuid4().hex[:8]
    overlay = "ov" + uuid.uuid4().hex[:8]
    made = [berthd.api.json("POST", "/networks/create", {"Name": local})["Id"],
            berthd.api.json("POST", "/networks/create", {"Name": overlay, "Driver": "overlay", "Scope": "swarm"})["Id"]]
    try:
        for ref, scope in ((local, "local"), (overlay, "swarm")):
            assert berthd.api.json("GET", f"/networks/{ref}?scope={scope}")["Scope"] == scope
            for other in {"local", "swarm", "global"} - {scope}:
                assert berthd.api.request("GET", f"/networks/{ref}?scope={other}")[0] == 404, (ref, other)

        def listed(scope: str) -> set[str]:
            query = urllib.parse.quote(json.dumps({"scope": [scope]}))
            return {n["Name"] for n in berthd.api.json("GET", "/networks?filters=" + query)}
        assert {local, "bridge"} <= listed("local") and overlay not in listed("local")
        assert {overlay, "ingress"} <= listed("swarm") and local not in listed("swarm")
        assert listed("global") == set()
        # One ingress network: it can be removed, and made again.
        status, says = _message(berthd, "POST", "/networks/create", {"Name": "ing2", "Driver": "overlay",
                                                                      "Ingress": True})
        assert status == 409 and "ingress network" in says and "is already present" in says
        assert berthd.api.request("DELETE", "/networks/ingress")[0] == 204
        again = berthd.api.json("POST", "/networks/create", {"Name": "ing2", "Driver": "overlay", "Ingress": True})
        assert berthd.api.json("GET", f"/networks/{again['Id']}")["Ingress"] is True
        assert _message(berthd, "POST", "/networks/create", {"Name": "x", "Driver": "overlay", "Scope": "local"}) == (
            403, "cannot downgrade network scope for overlay networks")
        # A non-attachable overlay network takes no standalone container.
        status, says = _message(berthd, "POST", "/containers/create", {
            "Image": busybox_image, "Cmd": ["true"], "HostConfig": {"NetworkMode": overlay}})
        assert status == 403 and "not manually attachable" in says, says
    finally:
        for ref in made:
            berthd.api.request("DELETE", f"/networks/{ref}")


def test_the_swarm_and_its_networks_survive_a_restart(tmp_path: Path) -> None:
    with private_berthd(tmp_path / "d") as daemon:
        node_id = daemon.api.json("POST", "/swarm/init", _init_body(random.randrange(20000, 30000)))
        net = daemon.api.json("POST", "/networks/create", {"Name": "att", "Driver": "overlay", "Attachable": True})
        before = daemon.api.json("GET", "/swarm")
        daemon.stop()
        daemon.start()
        assert daemon.api.json("GET", "/swarm") == before
        assert daemon.api.json("GET", "/info")["Swarm"]["NodeID"] == node_id
        shown = daemon.api.json("GET", f"/networks/{net['Id']}")
        assert (shown["Scope"], shown["Attachable"]) == ("swarm", True)
        assert daemon.api.json("GET", "/networks/ingress")["Ingress"] is True
        daemon.api.request("POST", "/swarm/leave?force=1")
        assert {n["Name"] for n in daemon.api.json("GET", "/networks")} == {"bridge", "host", "none"}
