"""Bad input gets the spec's status code and a one-line message, never a traceback."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def _message(body: bytes) -> str:
    payload = json.loads(body)
    assert set(payload) == {"message"}
    msg = payload["message"]
    assert "\n" not in msg and "Traceback" not in msg
    return str(msg)


def test_unknown_image_is_404(berthd, busybox_image: str) -> None:
    status, _, body = berthd.api.request("POST", "/v1.45/containers/create", {"Image": "nosuch:1.0"})
    assert status == 404
    assert _message(body) == "No such image: nosuch:1.0"


def test_bad_container_id_is_404(berthd) -> None:
    for method, path in (("GET", "/containers/deadbeef/json"), ("POST", "/containers/deadbeef/start"),
                         ("DELETE", "/containers/deadbeef"), ("GET", "/containers/deadbeef/logs?stdout=1")):
        status, _, body = berthd.api.request(method, path)
        assert status == 404, (method, path)
        assert _message(body) == "No such container: deadbeef"


def test_malformed_json_is_400(berthd) -> None:
    status, _, body = berthd.api.request("POST", "/containers/create", b'{"Image": "busybox",',
                                         {"Content-Type": "application/json"})
    assert status == 400
    assert _message(body).startswith("malformed JSON in the request body")


def test_wrong_types_are_400(berthd, busybox_image: str) -> None:
    status, _, body = berthd.api.request("POST", "/containers/create", {"Image": "busybox", "Cmd": 5})
    assert status == 400
    assert "Cmd must be a list of strings" in _message(body)


def test_duplicate_name_is_409(berthd, busybox_image: str) -> None:
    first = berthd.api.json("POST", "/containers/create?name=twice", {"Image": "busybox", "Cmd": ["true"]})
    try:
        status, _, body = berthd.api.request("POST", "/containers/create?name=twice",
                                             {"Image": "busybox", "Cmd": ["true"]})
        assert status == 409
        assert "is already in use" in _message(body)
    finally:
        berthd.api.request("DELETE", f"/containers/{first['Id']}")


def test_invalid_name_is_400(berthd, busybox_image: str) -> None:
    status, _, body = berthd.api.request("POST", "/containers/create?name=no%20spaces",
                                         {"Image": "busybox", "Cmd": ["true"]})
    assert status == 400
    assert "Invalid container name" in _message(body)


def test_unknown_route_and_too_new_version(berthd) -> None:
    status, _, body = berthd.api.request("GET", "/nope")
    assert status == 404
    _message(body)
    status, _, body = berthd.api.request("GET", "/v9.99/version")
    assert status == 400
    assert "too new" in _message(body)


def test_ping_headers(berthd) -> None:
    status, headers, body = berthd.api.request("GET", "/_ping")
    assert status == 200 and body == b"OK"
    assert headers["Api-Version"] == "1.45"
    assert headers["OSType"] == "linux"
    status, headers, body = berthd.api.request("HEAD", "/v1.45/_ping")
    assert status == 200 and body == b""
