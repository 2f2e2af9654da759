"""The create-time checks of HostConfig and Config, with dockerd's refusals."""

from __future__ import annotations

from typing import Any

import pytest

from engine.containers import names
from engine.containers.create import check_workdir, checked_host_spec, merge_config, normalise_host_config
from engine.errors import InvalidArgument

pytestmark = pytest.mark.unit


def check_host_config(hc: dict[str, Any], runtime_name: str) -> list[str]:
    """Refuse, at create, what a start would stumble on; the warnings dockerd gives."""
    return list(checked_host_spec(hc, runtime_name).sandbox.warnings)


@pytest.mark.parametrize(("hc", "message"), [
    ({"AutoRemove": True, "RestartPolicy": {"Name": "always"}}, "cannot specify both --restart and --rm"),
    ({"Runtime": "kata"}, "Unknown runtime specified kata"),
    ({"PidMode": "sideways"}, "invalid PidMode"),
    ({"UTSMode": "container:web"}, "invalid UTSMode"),
    ({"MaskedPaths": ["relative"]}, "absolute paths"),
    ({"Memory": "1g"}, "HostConfig.Memory must be an integer"),
    ({"PidsLimit": True}, "HostConfig.PidsLimit must be an integer"),
])
def test_refused(hc: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        check_host_config(normalise_host_config(hc), "runc")


def test_accepted() -> None:
    hc = normalise_host_config({"PidMode": "container:web", "Runtime": "runc", "Memory": 1 << 20})
    assert check_host_config(hc, "runc") == []
    assert (hc["NetworkMode"], hc["RestartPolicy"]["Name"]) == ("bridge", "no")


@pytest.mark.parametrize("workdir", ["rel", "/proc/self/fd/7", "/proc/1/cwd"])
def test_workdir_refused(workdir: str) -> None:
    with pytest.raises(InvalidArgument):
        check_workdir(workdir)


def test_merge_config_takes_image_defaults_under_the_request() -> None:
    image = {"Cmd": ["sh"], "Env": ["PATH=/bin", "A=1"], "WorkingDir": "/srv", "Labels": {"a": "1"}}
    cfg = merge_config(image, {"Image": "busybox", "Env": ["A=2"], "Labels": {"b": "2"}})
    assert cfg["Cmd"] == ["sh"] and cfg["WorkingDir"] == "/srv"
    assert cfg["Env"] == ["A=2", "PATH=/bin"]
    assert cfg["Labels"] == {"a": "1", "b": "2"}
    assert merge_config(image, {"Image": "busybox", "Entrypoint": "top"}).get("Cmd") is None  # as dockerd


def test_merge_config_joins_the_images_volumes_to_the_requests() -> None:
    """As dockerd: inspect's Config.Volumes names the image's VOLUMEs too (it named the request's only)."""
    image = {"Cmd": ["sh"], "Volumes": {"/data": {}, "/logs": {}}}
    assert merge_config(image, {"Image": "x", "Volumes": {"/cache": {}}})["Volumes"] == {
        "/data": {}, "/logs": {}, "/cache": {}}
    assert merge_config(image, {"Image": "x"})["Volumes"] == {"/data": {}, "/logs": {}}
    assert merge_config({"Cmd": ["sh"]}, {"Image": "x", "Volumes": {}})["Volumes"] is None
    assert merge_config(image, {"Image": "x", "Volumes": ["/bad"]})["Volumes"] == ["/bad"]  # refused later


def test_generated_names_never_repeat_one_in_use() -> None:
    """10,000 creates without a name: the plain names run out and suffixed ones are checked too
    (the scale benchmark's creates failed with a Conflict on a name berthd had made up)."""
    used: set[str] = set()
    for _ in range(10_000):
        name = names.unused(used.__contains__)
        assert name not in used
        names.validate(name)
        used.add(name)


def test_generated_names_give_up_rather_than_loop() -> None:
    with pytest.raises(RuntimeError):
        names.unused(lambda _: True)
