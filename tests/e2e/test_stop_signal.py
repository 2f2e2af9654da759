"""A container's stop signal: checked at create as dockerd checks it (a StopSignal that names no
signal used to be accepted, and then no `docker stop` could stop the container gracefully), and
sent by `docker stop`."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.cli import docker, eventually, ok, removing_labelled
from tests.support.daemon import Berthd

pytestmark = pytest.mark.e2e

LABEL = "berth.test=stop-signal"


@pytest.fixture
def env(docker_env: dict[str, str], busybox_image: str) -> Iterator[dict[str, str]]:
    yield from removing_labelled(docker_env, LABEL)


def test_a_stop_signal_that_names_no_signal_is_refused_at_create(env: dict[str, str], berthd: Berthd) -> None:
    for value in ("FOO", "0"):
        status, _, body = berthd.api.request("POST", "/containers/create", {
            "Image": "busybox", "Cmd": ["true"], "StopSignal": value, "Labels": {"berth.test": "stop-signal"}})
        assert status == 400, body
        assert json.loads(body)["message"].startswith(f"Invalid signal: {value}")  # dockerd's words
    status, _, body = berthd.api.request("POST", "/containers/create", {
        "Image": "busybox", "Cmd": ["true"], "StopSignal": "RTMIN+3", "Labels": {"berth.test": "stop-signal"}})
    assert status == 201, body  # as dockerd


def test_docker_stop_sends_the_stop_signal(env: dict[str, str]) -> None:
    ok(env, "run", "-d", "--name", "stopsig", "--label", LABEL, "--stop-signal", "usr1", "busybox", "sh", "-c",
       "trap 'echo got-usr1; exit 0' USR1; echo ready; while true; do sleep 0.1; done")
    assert eventually(lambda: "ready" in docker(env, "logs", "stopsig").stdout)
    ok(env, "stop", "-t", "20", "stopsig")
    assert "got-usr1" in docker(env, "logs", "stopsig").stdout
    assert ok(env, "inspect", "-f", "{{.State.ExitCode}} {{.Config.StopSignal}}", "stopsig") == "0 usr1"


def test_docker_kill_sends_a_real_time_signal(env: dict[str, str]) -> None:
    """`docker kill -s RTMIN+3`, as dockerd takes it (kill refused real-time names, stop took them)."""
    ok(env, "run", "-d", "--name", "killrt", "--label", LABEL, "busybox", "sh", "-c",
       "trap 'exit 7' 37; echo ready; while true; do sleep 0.1; done")  # 37: SIGRTMIN+3
    assert eventually(lambda: "ready" in docker(env, "logs", "killrt").stdout)
    ok(env, "kill", "-s", "RTMIN+3", "killrt")
    assert eventually(lambda: ok(env, "inspect", "-f", "{{.State.Status}}", "killrt") == "exited")
    assert ok(env, "inspect", "-f", "{{.State.ExitCode}}", "killrt") == "7"
    bad = docker(env, "kill", "-s", "RTMIN+16", "killrt")
    assert bad.returncode != 0 and "Invalid signal: RTMIN+16" in bad.stderr
