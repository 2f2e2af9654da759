"""`--sysctl` in real containers, read back from /proc/sys, and refused where dockerd (runc)
refuses it: the words and status were taken from a stock dockerd 20.10 with runc 1.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import docker, ok, removing_labelled
from tests.support.daemon import Berthd

pytestmark = pytest.mark.e2e

LABEL = "berth.test=sysctls"


@pytest.fixture
def env(docker_env: dict[str, str], busybox_image: str) -> Iterator[dict[str, str]]:
    yield from removing_labelled(docker_env, LABEL)


def run(env: dict[str, str], *args: str) -> str:
    return ok(env, "run", "--rm", "--label", LABEL, *args)


def test_sysctls_are_set_in_the_container(env: dict[str, str]) -> None:
    out = run(env, "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=1073741824",
              "--sysctl", "fs.mqueue.msg_max=20", "busybox", "cat", "/proc/sys/net/ipv4/ip_forward",
              "/proc/sys/kernel/shmmax", "/proc/sys/fs/mqueue/msg_max")
    assert out.split() == ["1", "1073741824", "20"]
    # --network none still has a namespace of its own.
    assert run(env, "--network", "none", "--sysctl", "net.ipv4.ip_forward=1", "busybox",
               "cat", "/proc/sys/net/ipv4/ip_forward") == "1"


def test_dockerds_default_sysctls_in_a_network_namespace_of_its_own(env: dict[str, str]) -> None:
    files = ("/proc/sys/net/ipv4/ip_unprivileged_port_start", "/proc/sys/net/ipv4/ping_group_range")
    assert run(env, "busybox", "cat", *files).split() == ["0", "0", "2147483647"]
    # ... which a request's own value overrides, and the host's network keeps the host's.
    assert run(env, "--sysctl", "net.ipv4.ip_unprivileged_port_start=1024", "busybox", "cat", files[0]) == "1024"
    host = Path(files[0]).read_text().strip()
    assert run(env, "--network", "host", "busybox", "cat", files[0]) == host
    # A user that is not root binds port 80, as under dockerd.
    assert run(env, "-u", "guest", "busybox", "sh", "-c", "nc -l -p 80 & sleep 0.3; netstat -ltn") .count(":80 ") == 1


def test_net_sysctls_are_refused_with_the_hosts_network(env: dict[str, str]) -> None:
    before = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    out = docker(env, "run", "--rm", "--label", LABEL, "--network", "host", "--sysctl", "net.ipv4.ip_forward=1",
                 "busybox", "true")
    assert out.returncode == 125
    assert 'sysctl "net.ipv4.ip_forward" not allowed in host network namespace' in out.stderr
    assert "--network host" in out.stderr
    # Through a container that has the host's network: refused too, as runc compares the namespace.
    ok(env, "run", "-d", "--label", LABEL, "--name", "sysctl-hostnet", "--network", "host", "busybox", "sleep", "300")
    out = docker(env, "run", "--rm", "--label", LABEL, "--network", "container:sysctl-hostnet",
                 "--sysctl", "net.ipv4.ip_forward=1", "busybox", "true")
    assert out.returncode == 125 and "not allowed in host network namespace" in out.stderr
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == before


def test_ipc_sysctls_are_refused_with_the_hosts_ipc(env: dict[str, str]) -> None:
    out = docker(env, "run", "--rm", "--label", LABEL, "--ipc", "host", "--sysctl", "kernel.shmmax=1073741824",
                 "busybox", "true")
    assert out.returncode == 125
    assert 'sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace' in out.stderr


def test_a_host_wide_sysctl_is_refused_at_start_with_dockerds_status(env: dict[str, str], berthd: Berthd) -> None:
    # The docker CLI refuses kernel.foo itself; other clients (the API, compose) reach the engine.
    status, _, body = berthd.api.request("POST", "/containers/create?name=sysctl-foo", {
        "Image": "busybox", "Cmd": ["true"], "Labels": {"berth.test": "sysctls"},
        "HostConfig": {"Sysctls": {"vm.swappiness": "10"}}})
    assert status == 201, body  # as dockerd: accepted at create, refused at start
    status, _, body = berthd.api.request("POST", "/containers/sysctl-foo/start")
    assert status == 500
    message = json.loads(body)["message"]
    assert message.startswith('sysctl "vm.swappiness" is not in a separate kernel namespace'), message
    state = json.loads(ok(env, "inspect", "-f", "{{json .State}}", "sysctl-foo"))
    assert state["Status"] == "created" and state["ExitCode"] == 128 and "vm.swappiness" in state["Error"]
    # Not an object: refused at create.
    status, _, body = berthd.api.request("POST", "/containers/create", {
        "Image": "busybox", "Cmd": ["true"], "HostConfig": {"Sysctls": ["net.ipv4.ip_forward=1"]}})
    assert status == 400 and b"Sysctls must be an object" in body
