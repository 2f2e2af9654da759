"""`--dns`, `--dns-search`, `--dns-option` through the real `docker` CLI against a private berthd.

The files expected are what dockerd 20.10 wrote for the same runs (berthd's embedded DNS listens on
its network's gateway where dockerd's is 127.0.0.11). Queries go only to a stub resolver in a test
network namespace (198.19.x.0/30, a benchmarking range routed nowhere else).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_networks import Outside, network, ok, uid
from tests.engine.compose.projects import remove_project, unique, write_project
from tests.support.cli import docker
from tests.support.daemon import Berthd, prerequisites_missing

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
FLAGS = ("--dns", "192.0.2.53", "--dns-search", "example.test", "--dns-option", "ndots:3")
WRITTEN = "search example.test\nnameserver 192.0.2.53\noptions ndots:3\n"
STUB_ANSWER = "10.9.8.7"
STUB = """
import socket, sys
sys.path.insert(0, sys.argv[1])
from engine.networks import dns
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[2], 53))
print("ready", flush=True)
while True:
    data, addr = s.recvfrom(4096)
    q = dns.parse_question(data)
    if q is not None:
        print(q.name, flush=True)
        s.sendto(dns.answer(data, q, [sys.argv[3]] if q.qtype == 1 else []), addr)
"""


@pytest.fixture
def made(docker_env: dict[str, str]) -> Iterator[list[tuple[str, str]]]:
    """("container"|"network", name) to remove after the test, containers first."""
    items: list[tuple[str, str]] = []
    yield items
    for kind, name in sorted(items, key=lambda i: i[0] != "container"):
        docker(docker_env, *(["rm", "-f"] if kind == "container" else ["network", "rm"]), name)


def resolv(env: dict[str, str], image: str, *opts: str) -> str:
    return ok(env, "run", "--rm", *opts, image, "cat", "/etc/resolv.conf")


def test_resolv_conf_in_every_network_mode(busybox_image: str, docker_env: dict[str, str],
                                           made: list[tuple[str, str]]) -> None:
    assert resolv(docker_env, busybox_image, *FLAGS) == WRITTEN
    assert resolv(docker_env, busybox_image, "--network", "host", *FLAGS) == WRITTEN
    assert resolv(docker_env, busybox_image, "--network", "none", *FLAGS) == WRITTEN
    net, subnet = network(docker_env, made)
    gateway = subnet.network_address + 1
    assert resolv(docker_env, busybox_image, "--network", net, *FLAGS) == (
        f"search example.test\nnameserver {gateway}\noptions ndots:3\n")
    assert resolv(docker_env, busybox_image, "--network", net, "--dns-option", "rotate") == (
        f"nameserver {gateway}\noptions rotate ndots:0\n")
    assert resolv(docker_env, busybox_image, "--network", net, "--dns", "2001:db8::1", "--dns", "192.0.2.1") == (
        f"nameserver {gateway}\nnameserver 2001:db8::1\noptions ndots:0\n")
    # compose's dns, dns_search and dns_opt are these keys: inspect reports them as sent
    name = "d" + uid()
    ok(docker_env, "create", "--name", name, *FLAGS, busybox_image, "true")
    made.append(("container", name))
    host_config = json.loads(ok(docker_env, "inspect", name))[0]["HostConfig"]
    assert (host_config["Dns"], host_config["DnsSearch"], host_config["DnsOptions"]) == (
        ["192.0.2.53"], ["example.test"], ["ndots:3"])


def test_joining_a_container_keeps_its_file_and_refuses_dns(busybox_image: str, docker_env: dict[str, str],
                                                          made: list[tuple[str, str]]) -> None:
    owner = "o" + uid()
    ok(docker_env, "run", "-d", "--name", owner, *FLAGS, busybox_image, "sleep", "60")
    made.append(("container", owner))
    joined = ("--network", f"container:{owner}")
    assert resolv(docker_env, busybox_image, *joined, "--dns-search", "a.test", "--dns-option", "rotate") == WRITTEN
    refused = docker(docker_env, "run", "--rm", *joined, "--dns", "192.0.2.1", busybox_image, "true")
    assert refused.returncode == 125
    assert "conflicting options: dns and the network mode" in refused.stderr


def test_the_api_takes_values_as_sent_and_refuses_other_types(berthd: Berthd, busybox_image: str,
                                                             docker_env: dict[str, str],
                                                             made: list[tuple[str, str]]) -> None:
    """The docker CLI checks `--dns notanip` itself; the API, as dockerd's, writes what it was sent."""
    name = "v" + uid()
    body = {"Image": busybox_image, "Cmd": ["cat", "/etc/resolv.conf"],
            "HostConfig": {"Dns": ["notanip"], "DnsOptions": ["ndots:x"]}}
    status, _, answer = berthd.api.request("POST", f"/containers/create?name={name}", json.dumps(body).encode(),
                                           {"Content-Type": "application/json"})
    assert status == 201, answer
    made.append(("container", name))
    ok(docker_env, "start", "-a", name)
    assert ok(docker_env, "logs", name) == "nameserver notanip\noptions ndots:x\n"
    body["HostConfig"] = {"Dns": "192.0.2.53"}
    status, _, answer = berthd.api.request("POST", "/containers/create", json.dumps(body).encode(),
                                           {"Content-Type": "application/json"})
    assert status == 400 and b"HostConfig.Dns must be a list of strings" in answer


def test_compose_dns_keys(berthd: Berthd, busybox_image: str, docker_env: dict[str, str], tmp_path: Path) -> None:
    """compose's dns (a string here), dns_search and dns_opt reach the container's resolv.conf."""
    project = unique("dns")
    root = tmp_path / project
    write_project(root, f"""
        services:
          box:
            image: {busybox_image}
            network_mode: bridge
            dns: 192.0.2.53
            dns_search: [example.test]
            dns_opt: ["ndots:3"]
            command: ["cat", "/etc/resolv.conf"]
        """)
    try:
        out = subprocess.run([sys.executable, "-m", "engine.compose", "run", "--rm", "box"],
                             env={**docker_env, "PYTHONPATH": str(REPO)}, cwd=root, capture_output=True,
                             text=True, timeout=90)
        assert out.returncode == 0, out.stderr
        assert out.stdout.replace("\r\n", "\n").endswith(WRITTEN), out.stdout
    finally:
        remove_project(berthd.api, project)


class StubResolver:
    """A resolver in the outside namespace answering every A query with STUB_ANSWER; it says the
    names it was asked."""

    def __init__(self, world: Outside, log: Path) -> None:
        self.log = log
        self.out = log.open("w")
        self.proc = subprocess.Popen(["nsenter", f"--net={world.path}", sys.executable, "-c", STUB, str(REPO),
                                      world.ip, STUB_ANSWER], stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while "ready" not in log.read_text():
            assert self.proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)

    def asked(self) -> list[str]:
        return self.log.read_text().split()[1:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


@pytest.fixture
def stub(tmp_path: Path) -> Iterator[tuple[Outside, StubResolver]]:
    missing = prerequisites_missing()
    if missing:
        pytest.skip(missing)
    world = Outside(tmp_path)
    forwarding = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    try:
        world.start()
        resolver = StubResolver(world, tmp_path / "stub.log")
        try:
            yield world, resolver
        finally:
            resolver.stop()
    finally:
        world.stop()
        Path("/proc/sys/net/ipv4/ip_forward").write_text(forwarding)


def test_embedded_dns_forwards_to_the_containers_own_servers(busybox_image: str, docker_env: dict[str, str],
                                                             made: list[tuple[str, str]],
                                                             stub: tuple[Outside, StubResolver]) -> None:
    world, resolver = stub
    net, _ = network(docker_env, made)
    asked = ok(docker_env, "run", "--rm", "--network", net, "--dns", world.ip, busybox_image,
               "nslookup", "far.example.test")
    assert f"Address: {STUB_ANSWER}" in asked
    assert "far.example.test" in resolver.asked()
    # A container that named no server has the session berthd's forwarders: none.
    other = docker(docker_env, "run", "--rm", "--network", net, busybox_image, "nslookup", "near.example.test")
    assert STUB_ANSWER not in other.stdout
    assert "near.example.test" not in resolver.asked()
