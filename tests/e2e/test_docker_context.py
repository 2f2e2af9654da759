"""The user's own docker CLI reaches Berth through the `berth` context Berth writes into the CLI's store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.cli import docker
from tests.support.daemon import Berthd
from vmhost import dockercontext
from vmhost.localend import context_endpoint

pytestmark = pytest.mark.e2e


@pytest.fixture
def cli_env(berthd: Berthd, tmp_path: Path, docker_cli: str) -> dict[str, str]:
    """The CLI with a config directory of its own and nothing else telling it where the engine is."""
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    env["DOCKER_CONFIG"] = str(tmp_path / "docker-config")
    return env


def test_docker_run_through_the_berth_context(berthd: Berthd, busybox_image: str, cli_env: dict[str, str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", cli_env["DOCKER_CONFIG"])
    dockercontext.ensure(context_endpoint(None, berthd.socket, "Linux"))

    listed = docker(cli_env, "context", "inspect", "berth", "--format", "{{.Endpoints.docker.Host}}")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == berthd.url

    run = docker(cli_env, "--context", "berth", "run", "--rm", "busybox", "true")
    assert run.returncode == 0, run.stderr

    # Not current yet: a plain `docker` still dials its default socket, not Berth.
    assert docker(cli_env, "context", "show").stdout.strip() == "default"
    dockercontext.use()
    assert docker(cli_env, "context", "show").stdout.strip() == "berth"
    version = docker(cli_env, "version", "--format", "{{.Server.Platform.Name}}")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("Berth")

    assert dockercontext.forget_context(berthd.url)
    gone = docker(cli_env, "--context", "berth", "version")
    assert gone.returncode != 0
    assert "berth" in gone.stderr
    assert docker(cli_env, "context", "show").stdout.strip() == "default"
