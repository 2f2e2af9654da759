"""`berth compose` (as `python -m engine.compose`) and Debian's docker-compose 1.29.2 against berthd."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.compose.projects import STACK, free_port, labelled, remove_project, unique, write_project
from tests.support.cli import eventually
from tests.support.daemon import Berthd

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def compose(env: dict[str, str], cwd: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.compose", *args], env={**env, "PYTHONPATH": str(REPO)},
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)


def ok(env: dict[str, str], cwd: Path, *args: str) -> str:
    out = compose(env, cwd, *args)
    assert out.returncode == 0, f"compose {' '.join(args)}: {out.stderr}"
    return out.stdout


@pytest.fixture
def projects(berthd: Berthd, busybox_image: str) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        remove_project(berthd.api, name)


def test_cli_commands(berthd: Berthd, docker_env: dict[str, str], projects: list[str], tmp_path: Path) -> None:
    name = unique("cli")
    projects.append(name)
    root = tmp_path / name
    write_project(root, STACK.format(port=free_port(), page="from-the-cli"))
    (root / ".env").write_text("GREETING=hi-from-dotenv\n")
    write_project(root, """\
        services:
          worker:
            environment: [GREETING]
        """, name="compose.override.yaml")

    out = compose(docker_env, root, "up", "-d")
    assert out.returncode == 0, out.stderr
    assert f"Container {name}-db-1  Healthy" in out.stderr
    lines = ok(docker_env, root, "ps").splitlines()
    assert lines[0].split() == ["NAME", "IMAGE", "SERVICE", "STATUS", "PORTS"]
    assert sorted(line.split()[0] for line in lines[1:]) == [f"{name}-db-1", f"{name}-web-1", f"{name}-worker-1",
                                                            f"{name}-worker-2"]
    assert ok(docker_env, root, "ps", "--services").split() == ["db", "web", "worker"]
    assert eventually(lambda: f"{name}-worker-2 | from-the-cli" in ok(docker_env, root, "logs", "--no-color",
                                                                      "worker"), timeout=15)
    assert ok(docker_env, root, "exec", "-T", "worker", "sh", "-c", "echo $GREETING") == "hi-from-dotenv\n"
    assert compose(docker_env, root, "exec", "db", "sh", "-c", "exit 4").returncode == 4
    run = compose(docker_env, root, "run", "--rm", "-e", "X=one-off", "--no-deps", "worker", "sh", "-c", "echo $X")
    assert (run.returncode, run.stdout) == (0, "one-off\n"), run.stderr
    assert [c for c in labelled(berthd.api, "containers", name)
            if c["Labels"]["com.docker.compose.oneoff"] == "True"] == []

    ok(docker_env, root, "stop", "worker")
    states = {c.split()[0]: c for c in ok(docker_env, root, "ps", "-a").splitlines()[1:]}
    assert "Exited" in states[f"{name}-worker-1"]
    ok(docker_env, root, "start")
    assert len(ok(docker_env, root, "ps", "-q").split()) == 4
    config = ok(docker_env, root, "config")
    assert f"name: {name}" in config and "GREETING: hi-from-dotenv" in config
    assert name in ok(docker_env, root, "ls")

    out = compose(docker_env, root, "down", "-v")
    assert out.returncode == 0, out.stderr
    for kind in ("containers", "networks", "volumes"):
        assert labelled(berthd.api, kind, name) == [], kind


def test_up_abort_on_container_exit_and_exit_code_from(berthd: Berthd, docker_env: dict[str, str],
                                                       projects: list[str], tmp_path: Path) -> None:
    name = unique("abort")
    projects.append(name)
    root = tmp_path / name
    write_project(root, """\
        services:
          tests:
            image: busybox:latest
            command: ["sh", "-c", "echo suite-ran; exit 3"]
          server:
            image: busybox:latest
            init: true
            command: ["sh", "-c", "echo serving; sleep 600"]
        """)
    out = compose(docker_env, root, "-p", name, "up", "--abort-on-container-exit")
    # The first container to stop ends the run with its code; the others are stopped, not left running.
    assert out.returncode == 3, out.stderr
    assert "suite-ran" in out.stdout and "Aborting on container exit..." in out.stderr
    states = {c["Labels"]["com.docker.compose.service"]: c["State"] for c in labelled(berthd.api, "containers", name)}
    assert states == {"tests": "exited", "server": "exited"}
    # --exit-code-from: the chosen service's code, whichever stopped first.
    out = compose(docker_env, root, "-p", name, "up", "--exit-code-from", "server")
    assert out.returncode == 137 or out.returncode == 143, (out.returncode, out.stderr)
    out = compose(docker_env, root, "-p", name, "up", "-d", "--abort-on-container-exit")
    assert out.returncode != 0 and "cannot be combined with -d" in out.stderr
    out = compose(docker_env, root, "-p", name, "up", "--exit-code-from", "nosuch")
    assert out.returncode != 0 and "nosuch" in out.stderr


def test_typo_names_key_and_file_and_creates_nothing(berthd: Berthd, docker_env: dict[str, str],
                                                     projects: list[str], tmp_path: Path) -> None:
    name = unique("typo")
    projects.append(name)
    path = write_project(tmp_path / name, """\
        services:
          db:
            image: busybox
          web:
            image: busybox
            depends_on: [db]
            prots: ["8080:80"]
        volumes:
          data:
        """)
    out = compose(docker_env, tmp_path / name, "up", "-d")
    assert out.returncode == 1
    assert out.stderr.strip() == f"error: {path}: services.web.prots: unknown key (not in the Compose Specification)"
    for kind in ("containers", "networks", "volumes"):
        assert labelled(berthd.api, kind, name) == [], kind


@pytest.fixture(scope="module")
def docker_compose_v1() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        pytest.skip("needs Debian's docker-compose (1.29.2)")
    return path


def test_docker_compose_v1_up_and_down(berthd: Berthd, docker_env: dict[str, str], projects: list[str],
                                       tmp_path: Path, docker_compose_v1: str) -> None:
    name = unique("dcv1")
    projects.append(name)
    root = tmp_path / name
    port = free_port()
    write_project(root, STACK.format(port=port, page="from-v1"), name="docker-compose.yml")
    env = {**docker_env, "COMPOSE_INTERACTIVE_NO_CLI": "1"}

    def v1(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([docker_compose_v1, "--no-ansi", *args], env=env, cwd=root, capture_output=True,
                              text=True, timeout=120)

    up = v1("up", "-d")
    assert up.returncode == 0, up.stderr
    ours = ok(docker_env, root, "ps", "--format", "json")
    # Berth recognises what docker-compose made: same project, services, numbers, health.
    assert sorted((c["Service"], c["State"], c["Health"]) for c in json.loads(ours)) == [
        ("db", "running", "healthy"), ("web", "running", ""), ("worker", "running", ""), ("worker", "running", "")]
    assert eventually(lambda: "from-v1" in v1("logs", "--no-color", "worker").stdout, timeout=15)
    down = v1("down", "-v")
    assert down.returncode == 0, down.stderr
    for kind in ("containers", "networks", "volumes"):
        assert labelled(berthd.api, kind, name) == [], kind


def test_docker_compose_v1_sees_berth_projects(berthd: Berthd, docker_env: dict[str, str], projects: list[str],
                                               tmp_path: Path, docker_compose_v1: str) -> None:
    name = unique("mixed")
    projects.append(name)
    root = tmp_path / name
    write_project(root, STACK.format(port=free_port(), page="mixed"), name="docker-compose.yml")
    ok(docker_env, root, "up", "-d")
    ps = subprocess.run([docker_compose_v1, "--no-ansi", "ps", "--services", "--filter", "status=running"],
                        env=docker_env, cwd=root, capture_output=True, text=True, timeout=60)
    assert ps.returncode == 0, ps.stderr
    assert sorted(ps.stdout.split()) == ["db", "web", "worker"]
    down = subprocess.run([docker_compose_v1, "--no-ansi", "down", "-v"], env=docker_env, cwd=root,
                          capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    for kind in ("containers", "networks", "volumes"):
        assert labelled(berthd.api, kind, name) == [], kind


SHARED_NAMESPACES = """\
version: "2.4"
services:
  web:
    image: busybox
    command: sleep 300
    stop_grace_period: 1s
    logging:
      driver: json-file
      options: {{max-size: "1m", max-file: "3"}}
    healthcheck:
      test: ["CMD", "true"]
      interval: 5s
    ipc: shareable
    networks:
      front:
        ipv4_address: 10.231.{n}.10
        ipv6_address: fd00:db8:{n}::10
  side:
    image: busybox
    command: sleep 300
    stop_grace_period: 1s
    network_mode: "service:web"
    pid: "service:web"
  other:
    image: busybox
    command: sleep 300
    stop_grace_period: 1s
    ipc: "service:web"
  quick:
    image: busybox
    command: "true"
networks:
  front:
    enable_ipv6: true
    ipam:
      config:
        - subnet: 10.231.{n}.0/24
        - subnet: fd00:db8:{n}::/64
"""


def test_docker_compose_v1_shared_namespaces_static_addresses_and_recreate(
        berthd: Berthd, docker_env: dict[str, str], projects: list[str], tmp_path: Path,
        docker_compose_v1: str) -> None:
    """What docker-compose 1.29 found short: network_mode/pid/ipc of another service, static v4 and
    v6 addresses kept through --force-recreate, logging options and healthchecks read back exactly,
    scaling a service whose containers exit at once, and orphans."""
    name = unique("dcns")
    projects.append(name)
    root = tmp_path / name
    n = 200 + sum(name.encode()) % 50
    write_project(root, SHARED_NAMESPACES.format(n=n), name="docker-compose.yml")
    env = {**docker_env, "COMPOSE_INTERACTIVE_NO_CLI": "1"}

    def v1(*args: str, file: str = "docker-compose.yml") -> subprocess.CompletedProcess[str]:
        out = subprocess.run([docker_compose_v1, "--no-ansi", "-p", name, "-f", file, *args], env=env, cwd=root,
                             capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, f"docker-compose {' '.join(args)}: {out.stdout}{out.stderr}"
        return out

    def inspect(service: str) -> dict[str, object]:
        data = berthd.api.json("GET", f"/containers/{name}_{service}_1/json")
        assert isinstance(data, dict)
        return data

    def docker(*args: str) -> str:
        out = subprocess.run(["docker", *args], env=docker_env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    v1("up", "-d", "--scale", "quick=3")
    for _ in range(2):  # and again, every container recreated while the old ones still exist
        web = inspect("web")
        nets = web["NetworkSettings"]["Networks"]  # type: ignore[index]
        front = nets[f"{name}_front"]
        assert (front["IPAddress"], front["GlobalIPv6Address"]) == (f"10.231.{n}.10", f"fd00:db8:{n}::10")
        assert web["Config"]["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 5_000_000_000}  # type: ignore[index]
        assert web["HostConfig"]["LogConfig"] == {  # type: ignore[index]
            "Type": "json-file", "Config": {"max-size": "1m", "max-file": "3"}}
        assert web["HostConfig"]["IpcMode"] == "shareable"  # type: ignore[index]
        side = inspect("side")
        assert side["HostConfig"]["PidMode"] == f"container:{web['Id']}"  # type: ignore[index]
        # side shares web's processes and network; other shares web's IPC namespace
        assert "sleep" in docker("exec", f"{name}_side_1", "ps", "-o", "pid,comm").split("\n")[1]
        assert (docker("exec", f"{name}_side_1", "hostname", "-i")
                == docker("exec", f"{name}_web_1", "hostname", "-i"))
        assert (docker("exec", f"{name}_other_1", "readlink", "/proc/self/ns/ipc")
                == docker("exec", f"{name}_web_1", "readlink", "/proc/self/ns/ipc"))
        states = docker("ps", "-a", "--filter", f"label=com.docker.compose.project={name}",
                        "--filter", "label=com.docker.compose.service=quick", "--format", "{{.State}}").split()
        assert states == ["exited"] * 3
        v1("up", "-d", "--force-recreate", "--scale", "quick=3")
    # a service taken out of the file is an orphan until --remove-orphans
    text = (root / "docker-compose.yml").read_text()
    (root / "fewer.yml").write_text(text[:text.index("  other:")] + text[text.index("  quick:"):])
    v1("up", "-d", "--remove-orphans", "--scale", "quick=3", file="fewer.yml")
    assert docker("ps", "-a", "-q", "--filter", f"name={name}_other_1") == ""
    v1("down", "-v", file="fewer.yml")
    for kind in ("containers", "networks", "volumes"):
        assert labelled(berthd.api, kind, name) == [], kind
