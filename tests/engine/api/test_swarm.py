"""Swarm endpoints answer as a dockerd outside a swarm (the words and codes a stock dockerd 20.10 gives)."""

from __future__ import annotations

import json

import pytest

from engine.api.swarm import NOT_A_MANAGER, NOT_IN_A_SWARM

pytestmark = pytest.mark.integration


def test_swarm_manager_endpoints_say_this_node_is_not_a_manager(berthd) -> None:
    assert NOT_A_MANAGER.startswith('This node is not a swarm manager. Use "docker swarm init"')
    for method, path in (("GET", "/swarm"), ("GET", "/v1.45/swarm/unlockkey"), ("POST", "/swarm/update?version=1"),
                         ("GET", "/nodes"), ("GET", "/nodes/abc"), ("DELETE", "/nodes/abc"),
                         ("GET", "/services"), ("POST", "/services/create"), ("GET", "/v1.45/tasks"),
                         ("GET", "/tasks/x"), ("GET", "/secrets"), ("POST", "/secrets/create"),
                         ("GET", "/configs"), ("GET", "/configs/x")):
        status, headers, body = berthd.api.request(method, path)
        assert (status, json.loads(body)) == (503, {"message": NOT_A_MANAGER}), (method, path)
        assert headers["Content-Type"] == "application/json"


def test_leaving_and_joining_a_swarm_are_refused(berthd) -> None:
    for path in ("/swarm/leave", "/v1.45/swarm/leave?force=1", "/swarm/leave?force=true"):
        status, _, body = berthd.api.request("POST", path)
        assert (status, json.loads(body)) == (503, {"message": NOT_IN_A_SWARM}), path
    for path in ("/swarm/init", "/swarm/join"):
        status, _, body = berthd.api.request("POST", path, {"ListenAddr": "127.0.0.1:2377"})
        assert status == 503 and "does not support swarm mode" in json.loads(body)["message"], path
