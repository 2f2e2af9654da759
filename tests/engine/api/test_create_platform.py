"""Create's `platform` (API 1.41+), the filters and /system/df through a real berthd, with the
statuses and words a stock dockerd 20.10 answered on this machine for the same requests."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.daemon import Berthd

pytestmark = pytest.mark.integration


def _create(berthd: Berthd, query: str, version: str = "1.45") -> tuple[int, dict[str, Any]]:
    status, _, body = berthd.api.request("POST", f"/v{version}/containers/create?{query}",
                                         {"Image": "busybox", "Cmd": ["true"]})
    payload: dict[str, Any] = json.loads(body)
    if status == 201:
        berthd.api.request("DELETE", f"/containers/{payload['Id']}")
    return status, payload


def test_platform_checked_against_the_local_image(berthd: Berthd, busybox_image: str) -> None:
    image = berthd.api.json("GET", "/images/busybox/json")
    arch = image["Architecture"]
    other = "arm64" if arch != "arm64" else "amd64"
    status, body = _create(berthd, f"platform=linux/{other}")
    # 404, so that `docker run --platform` goes on to pull the platform asked for.
    assert (status, body["message"]) == (404, "image with reference busybox was found but does not match the "
                                              f"specified platform: wanted linux/{other}, actual: linux/{arch}")
    status, body = _create(berthd, "platform=bogus")
    assert (status, body["message"]) == (400, '"bogus": unknown operating system or architecture: invalid argument')
    for fine in (f"linux/{arch}", "linux", ""):
        assert _create(berthd, f"platform={fine}")[0] == 201, fine
    # Before 1.41 the parameter did not exist: dockerd ignores it.
    assert _create(berthd, f"platform=linux/{other}", version="1.40")[0] == 201


def test_filters_refused_in_mobys_words(berthd: Berthd) -> None:
    for path, key in (("/containers/json", "colour"), ("/containers/prune", "status"), ("/volumes", "until"),
                      ("/volumes/prune", "dangling")):
        method = "POST" if path.endswith("prune") else "GET"
        status, _, body = berthd.api.request(method, f"{path}?filters=" + quote(json.dumps({key: ["x"]})))
        assert status == 400, path
        assert json.loads(body)["message"].startswith(f"invalid filter '{key}'"), path
    # A Go duration is an `until`, as dockerd reads it.
    status, _, body = berthd.api.request("POST", "/containers/prune?filters=" + quote(json.dumps({"until": ["1h30m"]})))
    assert status == 200, body


def test_system_df_by_type(berthd: Berthd) -> None:
    berthd.api.json("POST", "/volumes/create", {"Name": "df-probe"})
    try:
        df = berthd.api.json("GET", "/v1.42/system/df?type=volume")
        assert [v["Name"] for v in df["Volumes"] if v["Name"] == "df-probe"] == ["df-probe"]
        assert df["Images"] == [] and df["Containers"] == []
    finally:
        berthd.api.request("DELETE", "/volumes/df-probe")
