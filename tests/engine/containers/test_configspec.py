"""Config parsed once into a typed ConfigSpec: what a start, a stop, an attach and the health
monitor read, instead of the JSON."""

from __future__ import annotations

from typing import Any

import pytest

from engine.containers.configspec import DEFAULT_STOP_TIMEOUT, ConfigSpec, Probe
from engine.containers.create import merge_config
from engine.errors import InvalidArgument

pytestmark = pytest.mark.unit


def test_a_merged_config_typed() -> None:
    image = {"Entrypoint": ["/init"], "Cmd": ["serve"], "Env": ["PATH=/bin"], "User": "app", "StopSignal": "SIGQUIT",
             "ExposedPorts": {"80/tcp": {}}, "Labels": {"a": "1"},
             "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 2_000_000_000}}
    cfg = merge_config(image, {"Image": "web", "Env": ["A=1"], "WorkingDir": "/srv", "Tty": True, "OpenStdin": True,
                               "StdinOnce": True, "StopTimeout": 3, "Hostname": "h", "Domainname": "example.org"})
    spec = ConfigSpec.parse(cfg)
    assert spec.command == ["/init", "serve"]
    assert (spec.env, spec.user, spec.workdir) == (("A=1", "PATH=/bin"), "app", "/srv")
    assert (spec.hostname, spec.domainname) == ("h", "example.org")
    assert (spec.stop_signal, spec.stop_timeout) == ("SIGQUIT", 3)
    assert (spec.tty, spec.open_stdin, spec.stdin_once) == (True, True, True)
    assert spec.exposed_ports == ("80/tcp",) and spec.labels == {"a": "1"}
    assert spec.healthcheck == Probe(command=["/bin/sh", "-c", "true"], interval=2.0, timeout=30.0, retries=3,
                                     start_period=0.0)


def test_defaults_of_an_empty_config() -> None:
    """As an older berthd may have stored it: nothing but the command."""
    spec = ConfigSpec.parse({"Cmd": ["sh"]})
    assert spec.command == ["sh"]
    assert (spec.stop_signal, spec.stop_timeout, spec.healthcheck, spec.workdir) == ("", DEFAULT_STOP_TIMEOUT, None, "")
    assert spec.labels == {} and spec.exposed_ports == () and not spec.tty


@pytest.mark.parametrize("check", [None, {}, {"Test": ["NONE"]}, {"Test": ["CMD"]}])
def test_no_healthcheck(check: dict[str, Any] | None) -> None:
    assert ConfigSpec.parse({"Cmd": ["sh"], "Healthcheck": check}).healthcheck is None


@pytest.mark.parametrize(("cfg", "message"), [
    ({"StopTimeout": "soon"}, "StopTimeout must be a whole number"),
    ({"Healthcheck": {"Test": ["CMD", "true"], "Interval": "5s"}}, "Healthcheck.Interval must be a number"),
    ({"Healthcheck": "true"}, "Healthcheck must be an object"),
    ({"Labels": ["a=1"]}, "Labels must be an object"),
])
def test_refused(cfg: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        ConfigSpec.parse({"Cmd": ["sh"], **cfg})
