"""A container the kernel's OOM killer stops: `State.OOMKilled` and an `oom` event before `die`, as dockerd
reports them (desktops and compose read them to say why a container died)."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.cli import docker, ok
from tests.support.daemon import REPO

pytestmark = pytest.mark.e2e


def test_a_container_out_of_memory_is_reported_oom_killed(docker_env: dict[str, str], busybox_image: str) -> None:
    since = str(int(time.time()) - 1)
    stray = REPO / "oom"  # conmon's note of the kill, written in its working directory
    stray.unlink(missing_ok=True)
    # `tail /dev/zero` keeps one endless "line" in memory: 32 MB, no swap, and the kernel kills it.
    run = docker(docker_env, "run", "--name", "berth-oom", "-m", "32m", "--memory-swap", "32m", "busybox",
                 "tail", "/dev/zero", timeout=120)
    try:
        assert run.returncode == 137, run.stderr
        state = json.loads(ok(docker_env, "inspect", "-f", "{{json .State}}", "berth-oom"))
        assert state["OOMKilled"] is True
        assert state["ExitCode"] == 137
        events = ok(docker_env, "events", "--since", since, "--until", str(int(time.time()) + 1),
                    "--filter", "container=berth-oom", "--format", "{{.Action}}").split()
        assert "oom" in events and events.index("oom") < events.index("die"), events
        assert not stray.exists(), "conmon ran in berthd's working directory, not the container's bundle"
    finally:
        docker(docker_env, "rm", "-f", "berth-oom")


def test_a_clean_exit_is_not_oom_killed(docker_env: dict[str, str], busybox_image: str) -> None:
    run = docker(docker_env, "run", "--name", "berth-no-oom", "-m", "32m", "busybox", "true")
    try:
        assert run.returncode == 0, run.stderr
        assert ok(docker_env, "inspect", "-f", "{{.State.OOMKilled}}", "berth-no-oom") == "false"
    finally:
        docker(docker_env, "rm", "-f", "berth-no-oom")
