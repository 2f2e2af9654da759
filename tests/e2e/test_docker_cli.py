"""The real `docker` CLI (a 28.x client) against a private berthd."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import docker

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def imported(berthd, busybox_tar: Path, docker_cli: str) -> str:
    import os

    env = dict(os.environ, DOCKER_HOST=berthd.url, DOCKER_CONFIG=str(berthd.base / "docker-config"))
    out = docker(env, "import", str(busybox_tar), "busybox")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith("sha256:")
    return "busybox"


def test_version_shows_berth(docker_env: dict[str, str], docker_cli: str) -> None:
    out = docker(docker_env, "version", "--format", "{{json .Server}}")
    assert out.returncode == 0, out.stderr
    server = json.loads(out.stdout)
    assert server["Platform"]["Name"].startswith("Berth")
    assert server["ApiVersion"] == "1.45"
    plain = docker(docker_env, "version")
    assert "Server: Berth" in plain.stdout


def test_import_lists_image(imported: str, docker_env: dict[str, str]) -> None:
    out = docker(docker_env, "images", "--format", "{{.Repository}}:{{.Tag}}")
    assert out.returncode == 0, out.stderr
    assert "busybox:latest" in out.stdout.split()
    inspect = json.loads(docker(docker_env, "image", "inspect", "busybox").stdout)
    assert inspect[0]["RootFS"]["Type"] == "layers"


def test_run_rm_echo_prints_hello(imported: str, docker_env: dict[str, str]) -> None:
    out = docker(docker_env, "run", "--rm", "busybox", "echo", "hello")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "hello\n"
    # --rm removed it
    ps = docker(docker_env, "ps", "-a", "--format", "{{.Command}}")
    assert "echo hello" not in ps.stdout


def test_run_exit_code_propagates(imported: str, docker_env: dict[str, str]) -> None:
    out = docker(docker_env, "run", "--name", "exit3", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    try:
        assert out.returncode == 3, out.stderr
        assert out.stdout == "out\n"
        assert out.stderr == "err\n"
        ps = docker(docker_env, "ps", "-a", "--filter", "name=exit3", "--format", "{{.Names}}|{{.Status}}")
        assert ps.stdout.startswith("exit3|Exited (3)"), ps.stdout
        logs = docker(docker_env, "logs", "exit3")
        assert logs.stdout == "out\n"
        assert logs.stderr == "err\n"
    finally:
        rm = docker(docker_env, "rm", "exit3")
    assert rm.returncode == 0, rm.stderr
    assert rm.stdout.strip() == "exit3"
    gone = docker(docker_env, "logs", "exit3")
    assert gone.returncode != 0
    assert "No such container: exit3" in gone.stderr


def test_ps_shows_running_then_rm_refuses_then_force(imported: str, docker_env: dict[str, str]) -> None:
    run = docker(docker_env, "run", "-d", "--name", "sleeper", "busybox", "sleep", "300")
    assert run.returncode == 0, run.stderr
    cid = run.stdout.strip()
    try:
        assert len(cid) == 64
        ps = docker(docker_env, "ps", "--format", "{{.ID}} {{.Image}} {{.Names}} {{.Status}}")
        assert f"{cid[:12]} busybox sleeper Up" in ps.stdout
        rm = docker(docker_env, "rm", "sleeper")
        assert rm.returncode != 0
        assert "container is running" in rm.stderr
    finally:
        forced = docker(docker_env, "rm", "-f", "sleeper")
    assert forced.returncode == 0, forced.stderr
    assert docker(docker_env, "ps", "-a", "-q").stdout.find(cid[:12]) == -1


def test_unknown_image_is_a_clear_error(docker_env: dict[str, str], imported: str) -> None:
    out = docker(docker_env, "create", "--pull", "never", "nosuchimage")
    assert out.returncode != 0
    assert "No such image: nosuchimage:latest" in out.stderr
