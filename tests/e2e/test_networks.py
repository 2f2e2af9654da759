"""Networks through the real `docker` CLI against private berthds.

"The outside" is a network namespace these tests create (198.19.x.0/30 on a veth pair, a
benchmarking range routed nowhere else); no test sends traffic to any other address.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from engine.networks import links
from engine.networks.config import config_for
from engine.networks.firewall import Chains, Firewall
from tests.support.cli import docker, eventually
from tests.support.cli import ok as _ok
from tests.support.daemon import Berthd, prerequisites_missing

pytestmark = pytest.mark.e2e

PAGE = "mkdir -p /w && echo {text} > /w/index.html && exec httpd -f -p 80 -h /w"


def ok(env: dict[str, str], *args: str) -> str:
    return _ok(env, *args, strip=False)


def uid() -> str:
    return uuid.uuid4().hex[:8]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return str(resp.read().decode())


class Outside:
    """A network namespace standing in for the world: a veth from the host, an httpd on it."""

    def __init__(self, base: Path) -> None:
        third = random.randrange(0, 256)
        self.net = ipaddress.IPv4Network(f"198.19.{third}.0/30")
        self.host_ip, self.ip = str(self.net.network_address + 1), str(self.net.network_address + 2)
        self.path = base / "outside.netns"
        self.host_if = "vx" + uuid.uuid4().hex[:8]
        self.www = base / "outside-www"
        self.httpd: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.www.mkdir(parents=True, exist_ok=True)
        (self.www / "index.html").write_text("the outside\n")
        links.create_netns(self.path)
        peer = "vy" + self.host_if[2:]
        subprocess.run(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", peer], check=True)
        subprocess.run(["ip", "link", "set", peer, "netns", str(self.path)], check=True)
        subprocess.run(["ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if], check=True)
        subprocess.run(["ip", "link", "set", self.host_if, "up"], check=True)
        inside = ["nsenter", f"--net={self.path}"]
        subprocess.run([*inside, "ip", "addr", "add", f"{self.ip}/30", "dev", peer], check=True)
        subprocess.run([*inside, "ip", "link", "set", peer, "up"], check=True)
        self.httpd = subprocess.Popen([*inside, "/bin/busybox", "httpd", "-f", "-p", f"{self.ip}:80",
                                       "-h", str(self.www)])

    def run(self, *argv: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["nsenter", f"--net={self.path}", *argv], capture_output=True, text=True,
                              timeout=timeout)

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.httpd.wait(5)
            if self.httpd.poll() is None:
                self.httpd.kill()
                self.httpd.wait()
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)
        links.delete_netns(self.path)


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outside]:
    missing = prerequisites_missing()
    if missing:
        pytest.skip(missing)
    forwarding = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    world = Outside(tmp_path_factory.mktemp("outside"))
    try:
        world.start()
        yield world
    finally:
        world.stop()
        # berthd turns forwarding on, as dockerd does; give the host back what it had.
        Path("/proc/sys/net/ipv4/ip_forward").write_text(forwarding)


@pytest.fixture
def made(docker_env: dict[str, str]) -> Iterator[list[tuple[str, str]]]:
    """("container"|"network", name) to remove after the test, containers first."""
    items: list[tuple[str, str]] = []
    yield items
    for kind, name in sorted(items, key=lambda i: i[0] != "container"):
        docker(docker_env, "rm" if kind == "container" else "network", *(["-f"] if kind == "container"
                                                                           else ["rm"]), name)


def network(env: dict[str, str], made: list[tuple[str, str]], *opts: str) -> tuple[str, ipaddress.IPv4Network]:
    name = "n" + uid()
    ok(env, "network", "create", *opts, name)
    made.append(("network", name))
    subnet = json.loads(ok(env, "network", "inspect", name))[0]["IPAM"]["Config"][0]["Subnet"]
    return name, ipaddress.IPv4Network(subnet)


def web(env: dict[str, str], made: list[tuple[str, str]], image: str, *opts: str, text: str = "hello") -> str:
    name = "w" + uid()
    ok(env, "run", "-d", "--name", name, *opts, image, "sh", "-c", PAGE.format(text=text))
    made.append(("container", name))
    return name


def address(env: dict[str, str], container: str, net: str) -> str:
    nets = json.loads(ok(env, "inspect", container))[0]["NetworkSettings"]["Networks"]
    return str(nets[net]["IPAddress"])


def fetch(env: dict[str, str], image: str, net: str, url: str, timeout: int = 2) -> subprocess.CompletedProcess[str]:
    """wget from a throwaway container on `net` (an address in `url`: busybox's wget cannot resolve)."""
    # httpd may take a moment to listen: a few bounded tries. (busybox-static's `wget -T` crashes: `timeout`.)
    return docker(env, "run", "--rm", "--network", net, image, "sh", "-c",
                  f"for i in 1 2 3; do timeout {timeout} wget -q -O - {url} && exit 0; sleep 0.3; done; exit 1")


def lookup(env: dict[str, str], image: str, net: str, name: str) -> str | None:
    out = docker(env, "run", "--rm", "--network", net, image, "nslookup", name)
    if out.returncode != 0:
        return None
    answers = [line.split()[-1] for line in out.stdout.splitlines() if line.startswith("Address:")
               and not line.endswith(":53")]
    return answers[0] if answers else None


def test_containers_reach_each_other_by_name(busybox_image: str, docker_env: dict[str, str],
                                             made: list[tuple[str, str]]) -> None:
    net, subnet = network(docker_env, made)
    server = web(docker_env, made, busybox_image, "--network", net)
    ip = lookup(docker_env, busybox_image, net, server)
    assert ip == address(docker_env, server, net)
    assert ipaddress.IPv4Address(ip) in subnet
    out = fetch(docker_env, busybox_image, net, f"http://{ip}/")
    assert out.stdout == "hello\n", out.stderr
    resolv = ok(docker_env, "run", "--rm", "--network", net, busybox_image, "cat", "/etc/resolv.conf")
    assert f"nameserver {subnet.network_address + 1}" in resolv
    hosts = ok(docker_env, "run", "--rm", "--network", net, "--hostname", "box", busybox_image, "cat", "/etc/hosts")
    assert "\tbox\n" in hosts


def test_published_ports_reach_httpd_from_the_host(busybox_image: str, docker_env: dict[str, str],
                                                   made: list[tuple[str, str]], outside: Outside) -> None:
    fixed = free_port()
    server = web(docker_env, made, busybox_image, "-p", f"{fixed}:80", "-p", "127.0.0.1::80",
                 "--expose", "8080", "-P")
    ports = ok(docker_env, "port", server).splitlines()
    assert f"80/tcp -> 0.0.0.0:{fixed}" in ports
    local = next(p for p in ports if p.startswith("80/tcp -> 127.0.0.1:"))
    assert any(p.startswith("8080/tcp -> 0.0.0.0:") for p in ports), ports
    deadline = time.monotonic() + 10
    while True:  # httpd starts listening a moment after the container starts
        try:
            assert http_get(f"http://127.0.0.1:{fixed}/") == "hello\n"
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert http_get(f"http://{local.rsplit(' ', 1)[1]}/") == "hello\n"
    # one of the host's own addresses, and from another machine (the outside namespace)
    assert http_get(f"http://{outside.host_ip}:{fixed}/") == "hello\n"
    remote = outside.run("/bin/busybox", "timeout", "3", "/bin/busybox", "wget", "-q", "-O", "-",
                         f"http://{outside.host_ip}:{fixed}/")
    assert remote.stdout == "hello\n", remote.stderr
    summary = json.loads(ok(docker_env, "inspect", server))[0]["NetworkSettings"]["Ports"]
    assert summary["80/tcp"][0] == {"HostIp": "0.0.0.0", "HostPort": str(fixed)}
    assert "PORTS" in ok(docker_env, "ps", "--filter", f"name={server}")
    assert f"0.0.0.0:{fixed}->80/tcp" in ok(docker_env, "ps", "--filter", f"name={server}", "--format", "{{.Ports}}")
    # a second container cannot take the same host port
    clash = docker(docker_env, "run", "-d", "--name", server + "x", "-p", f"{fixed}:80", busybox_image, "true")
    made.append(("container", server + "x"))
    assert clash.returncode != 0 and "port is already allocated" in clash.stderr


def test_published_port_reached_through_the_host_from_containers(busybox_image: str, docker_env: dict[str, str],
                                                                 made: list[tuple[str, str]]) -> None:
    # Hairpin: another container, and the server itself, reach the published port at the host's address.
    port = free_port()
    server = web(docker_env, made, busybox_image, "-p", f"{port}:80", text="via-the-host")
    gateway = json.loads(ok(docker_env, "network", "inspect", "bridge"))[0]["IPAM"]["Config"][0]["Gateway"]
    other = fetch(docker_env, busybox_image, "bridge", f"http://{gateway}:{port}/")
    assert other.stdout == "via-the-host\n", other.stderr
    itself = docker(docker_env, "exec", server, "sh", "-c",
                    f"for i in 1 2 3; do timeout 2 wget -q -O - http://{gateway}:{port}/ && exit 0; sleep 0.3; done")
    assert itself.stdout == "via-the-host\n", itself.stderr


def test_published_udp_port_and_range(busybox_image: str, docker_env: dict[str, str],
                                      made: list[tuple[str, str]]) -> None:
    low = free_port()
    name = "u" + uid()
    ok(docker_env, "run", "-d", "--name", name, "-p", f"{low}-{low + 5}:9999/udp", busybox_image, "sleep", "60")
    made.append(("container", name))
    mapping = ok(docker_env, "port", name, "9999/udp").strip()
    host_port = int(mapping.rsplit(":", 1)[1])
    assert low <= host_port <= low + 5
    # busybox has no UDP server: one in the container's network namespace stands in for it
    sandbox = json.loads(ok(docker_env, "inspect", name))[0]["NetworkSettings"]["SandboxKey"]
    server = subprocess.Popen(
        ["nsenter", f"--net={sandbox}", sys.executable, "-c",
         "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 9999));"
         "s.settimeout(10); print('ready', flush=True); print(s.recvfrom(100)[0].decode(), flush=True)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline() == "ready\n"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"ping over udp", ("127.0.0.1", host_port))
        out, _ = server.communicate(timeout=15)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert out.strip() == "ping over udp"


def test_internal_network_has_no_way_out(busybox_image: str, docker_env: dict[str, str],
                                         made: list[tuple[str, str]], outside: Outside) -> None:
    open_net, _ = network(docker_env, made)
    out = fetch(docker_env, busybox_image, open_net, f"http://{outside.ip}/")
    assert out.stdout == "the outside\n", out.stderr  # egress, masqueraded: the outside has no route back
    closed, _ = network(docker_env, made, "--internal")
    blocked = fetch(docker_env, busybox_image, closed, f"http://{outside.ip}/", timeout=1)
    assert blocked.returncode != 0 and blocked.stdout == ""
    # containers on an internal network still find each other
    server = web(docker_env, made, busybox_image, "--network", closed)
    ip = lookup(docker_env, busybox_image, closed, server)
    assert ip is not None and fetch(docker_env, busybox_image, closed, f"http://{ip}/").stdout == "hello\n"


def test_networks_are_isolated(busybox_image: str, docker_env: dict[str, str], made: list[tuple[str, str]]) -> None:
    one, _ = network(docker_env, made)
    two, _ = network(docker_env, made)
    server = web(docker_env, made, busybox_image, "--network", one)
    ip = address(docker_env, server, one)
    assert fetch(docker_env, busybox_image, one, f"http://{ip}/").stdout == "hello\n"
    assert fetch(docker_env, busybox_image, two, f"http://{ip}/", timeout=1).returncode != 0
    assert lookup(docker_env, busybox_image, two, server) is None


def test_connect_with_alias_and_address_then_disconnect(busybox_image: str, docker_env: dict[str, str],
                                                         made: list[tuple[str, str]]) -> None:
    net, subnet = network(docker_env, made)
    server = web(docker_env, made, busybox_image)  # on the default bridge
    static = str(subnet.network_address + 50)
    ok(docker_env, "network", "connect", "--alias", "svc", "--ip", static, net, server)
    assert address(docker_env, server, net) == static
    members = json.loads(ok(docker_env, "network", "inspect", net))[0]["Containers"]
    assert [m["IPv4Address"] for m in members.values()] == [f"{static}/{subnet.prefixlen}"]
    assert lookup(docker_env, busybox_image, net, "svc") == static
    assert fetch(docker_env, busybox_image, net, f"http://{static}/").stdout == "hello\n"
    twice = docker(docker_env, "network", "connect", net, server)
    assert twice.returncode != 0 and "already exists" in twice.stderr
    ok(docker_env, "network", "disconnect", net, server)
    assert fetch(docker_env, busybox_image, net, f"http://{static}/", timeout=1).returncode != 0
    assert lookup(docker_env, busybox_image, net, "svc") is None
    assert net not in json.loads(ok(docker_env, "inspect", server))[0]["NetworkSettings"]["Networks"]
    # the network can go once nothing uses it; the predefined ones cannot
    assert "pre-defined" in docker(docker_env, "network", "rm", "bridge").stderr


def test_network_modes_host_none_and_container(busybox_image: str, docker_env: dict[str, str],
                                               made: list[tuple[str, str]]) -> None:
    none = ok(docker_env, "run", "--rm", "--network", "none", busybox_image, "ip", "-o", "link")
    assert [line.split(":")[1].strip() for line in none.splitlines()] == ["lo"]
    host = ok(docker_env, "run", "--rm", "--network", "host", busybox_image, "cat", "/sys/class/net/lo/ifindex")
    assert host.strip() == "1"
    server = web(docker_env, made, busybox_image)
    shared = ok(docker_env, "run", "--rm", "--network", f"container:{server}", busybox_image, "sh", "-c",
                "for i in 1 2 3; do timeout 2 wget -q -O - http://127.0.0.1/ && exit 0; sleep 0.3; done; exit 1")
    assert shared == "hello\n"


def test_the_host_by_name_and_host_gateway(busybox_image: str, docker_env: dict[str, str],
                                           made: list[tuple[str, str]], berthd: Berthd) -> None:
    # As Docker Desktop: host.docker.internal is the host; --add-host name:host-gateway as dockerd.
    hosts = ok(docker_env, "run", "--rm", "--add-host", "db:10.9.8.7", "--add-host", "me:host-gateway",
               busybox_image, "cat", "/etc/hosts")
    gateway = json.loads(ok(docker_env, "network", "inspect", "bridge"))[0]["IPAM"]["Config"][0]["Gateway"]
    assert "10.9.8.7\tdb\n" in hosts and f"{gateway}\tme\n" in hosts
    assert f"{gateway}\thost.docker.internal\n" in hosts
    # A server on the host, listening on the bridge's own address only, is reached by that name.
    with socket.socket() as server:
        server.bind((gateway, 0))
        server.listen(1)
        port = server.getsockname()[1]
        client = subprocess.Popen(
            ["docker", "run", "--rm", busybox_image, "sh", "-c", f"echo hi-host | nc host.docker.internal {port}"],
            env=docker_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        server.settimeout(20)
        conn, _ = server.accept()
        with conn:
            conn.settimeout(10)
            assert conn.recv(100) == b"hi-host\n"
        _, err = client.communicate(timeout=30)
        assert client.returncode == 0, err
    # Bad entries are refused at create with what to write (the CLI checks less than the API).
    for extra, mode, says in ((["db:not-an-ip"], "bridge", "is not an IP address"),
                              (["db"], "bridge", "write name:address"),
                              (["me:host-gateway"], "none", "network none has no way to the host")):
        status, _, body = berthd.api.request("POST", "/containers/create", json.dumps(
            {"Image": busybox_image, "Cmd": ["true"], "HostConfig": {"ExtraHosts": extra, "NetworkMode": mode}}
        ).encode(),
            {"Content-Type": "application/json"})
        assert status == 400 and says in json.loads(body)["message"], body


def test_networks_made_at_once_have_their_rules_when_create_returns(berthd: Berthd, busybox_image: str,
                                                                    docker_env: dict[str, str],
                                                                    made: list[tuple[str, str]],
                                                                    outside: Outside) -> None:
    """Creates and removals at once share firewall writes: each still returns with its own rules in
    place (or gone), and a container started right after a create reaches the outside and publishes."""
    fw = Firewall(Chains(config_for(berthd.exec_root).chain_prefix))
    names = ["n" + uid() for _ in range(4)]
    made += [("network", name) for name in names]

    def create(name: str) -> tuple[str, list[str]]:
        bridge = "br-" + ok(docker_env, "network", "create", name).strip()[:12]
        return bridge, fw.leftovers()  # the rules as the create returns

    with ThreadPoolExecutor(4) as pool:
        created = list(pool.map(create, names))
    for bridge, rules in created:
        assert any(f"-A {fw.chains.forward} -i {bridge} -j ACCEPT" in line for line in rules), (bridge, rules)
        assert any(f"-A {fw.chains.isolate} -o {bridge} -j DROP" in line for line in rules)
        assert any(f"! -o {bridge} -j MASQUERADE" in line for line in rules)
    port = free_port()
    web(docker_env, made, busybox_image, "--network", names[0], "-p", f"{port}:80", text="at-once")
    assert eventually(lambda: _get_or_none(f"http://127.0.0.1:{port}/") == "at-once\n", timeout=10)
    out = fetch(docker_env, busybox_image, names[1], f"http://{outside.ip}/")
    assert out.stdout == "the outside\n", out.stderr

    docker(docker_env, "rm", "-f", *[name for kind, name in made if kind == "container"])
    bridges = [bridge for bridge, _ in created]

    def remove(name: str, bridge: str) -> list[str]:
        ok(docker_env, "network", "rm", name)
        return [line for line in fw.leftovers() if f" {bridge} " in f"{line} "]  # its rules as the rm returns

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(remove, names, bridges)) == [[]] * 4
    assert not any(f" {b} " in f"{line} " for line in fw.leftovers() for b in bridges)
    assert not {link.name for link in links.owned_links(config_for(berthd.exec_root).alias_tag)} & set(bridges)


def _get_or_none(url: str) -> str | None:
    try:
        return http_get(url, timeout=2)
    except OSError:
        return None


def test_network_ls_filters_prune_and_errors(docker_env: dict[str, str], made: list[tuple[str, str]],
                                            busybox_image: str, berthd: Berthd) -> None:
    label = "t" + uid()
    net, _ = network(docker_env, made, "--label", f"suite={label}", "--subnet", "10.231.0.0/24",
                     "--gateway", "10.231.0.254", "--ip-range", "10.231.0.128/25")
    data = json.loads(ok(docker_env, "network", "inspect", net))[0]
    assert data["IPAM"]["Config"] == [{"Subnet": "10.231.0.0/24", "Gateway": "10.231.0.254",
                                       "IPRange": "10.231.0.128/25"}]
    assert data["Labels"] == {"suite": label}
    server = web(docker_env, made, busybox_image, "--network", net)
    ip = ipaddress.IPv4Address(address(docker_env, server, net))
    assert ip in ipaddress.IPv4Network("10.231.0.128/25")
    overlap = docker(docker_env, "network", "create", "--subnet", "10.231.0.0/16", "n" + uid())
    assert overlap.returncode != 0 and "overlaps" in overlap.stderr
    unknown = docker(docker_env, "run", "--rm", "--network", "nosuchnet", busybox_image, "true")
    assert unknown.returncode != 0 and "network nosuchnet not found" in unknown.stderr
    listed = ok(docker_env, "network", "ls", "--filter", f"label=suite={label}", "--format", "{{.Name}}")
    assert listed.split() == [net]
    ok(docker_env, "rm", "-f", server)
    pruned = ok(docker_env, "network", "prune", "-f", "--filter", f"label=suite={label}")
    assert net in pruned
    assert docker(docker_env, "network", "inspect", net).returncode != 0
    # Nothing left to prune: dockerd answers null, not an empty list (aiodocker's suite checks it).
    status, _, body = berthd.api.request("POST", "/networks/prune?filters=" + urllib.parse.quote(
        json.dumps({"label": [f"suite={label}"]})))
    assert status == 200 and json.loads(body) == {"NetworksDeleted": None}, body


# ---- a private berthd: restart, crash reconciliation, nothing left behind ----------------------


@pytest.fixture
def private(tmp_path_factory: pytest.TempPathFactory, busybox_tar: Path, docker_cli: str) -> Iterator[Berthd]:
    missing = prerequisites_missing()
    if missing:
        pytest.skip(missing)
    daemon = Berthd(Path(tmp_path_factory.mktemp("restart", numbered=True)))
    try:
        daemon.start()
        status, _, body = daemon.api.request("POST", "/images/create?fromSrc=-&repo=busybox&tag=latest",
                                             busybox_tar.read_bytes(), {"Content-Type": "application/x-tar"})
        assert status == 200, body
        yield daemon
    finally:
        daemon.cleanup()
    cfg = config_for(daemon.exec_root)
    assert links.owned_links(cfg.alias_tag) == []
    assert Firewall(Chains(cfg.chain_prefix)).leftovers() == []


def test_restart_keeps_addresses_and_connectivity_and_rm_leaves_nothing(private: Berthd, outside: Outside) -> None:
    env = dict(os.environ, DOCKER_HOST=private.url, DOCKER_CONFIG=str(private.base / "docker-config"))
    made: list[tuple[str, str]] = []
    net, _ = network(env, made)
    port = free_port()
    server = web(env, made, "busybox", "--network", net, "-p", f"{port}:80")
    before = address(env, server, net)
    assert lookup(env, "busybox", net, server) == before

    private.stop()  # SIGTERM: containers keep running
    private.start()
    assert address(env, server, net) == before
    assert lookup(env, "busybox", net, server) == before
    assert fetch(env, "busybox", net, f"http://{before}/").stdout == "hello\n"
    assert http_get(f"http://127.0.0.1:{port}/") == "hello\n"
    second = web(env, made, "busybox", "--network", net)
    assert address(env, second, net) != before  # never handed out twice

    # a crash: berthd is killed, one container dies meanwhile, and a stray veth of ours is left
    cfg = config_for(private.exec_root)
    private.stop(signal.SIGKILL)
    stray = "vb" + uid() + "ff"
    subprocess.run(["ip", "link", "add", stray, "type", "veth", "peer", "name", "vp" + stray[2:]], check=True)
    subprocess.run(["ip", "link", "set", stray, "alias", f"berthd:{cfg.alias_tag}:{'0' * 64}:deadbeef0000"],
                   check=True)
    stale_ns = cfg.netns_dir / ("f" * 64)
    links.create_netns(stale_ns)
    private.start()
    # berthd serves while it puts the kernel side right (behind the networks' lock): wait for that.
    assert eventually(lambda: stray not in {link.name for link in links.owned_links(cfg.alias_tag)}
                      and not stale_ns.exists(), timeout=20)
    assert http_get(f"http://127.0.0.1:{port}/") == "hello\n"

    # remove everything: no veth, namespace or rule for it remains
    ok(env, "rm", "-f", server, second)
    ok(env, "network", "rm", net)
    # The default bridge alone, like docker0. The veths go with their namespaces, which the kernel
    # destroys in its own time (tens of ms here, more on a loaded host).
    assert eventually(lambda: {link.kind for link in links.owned_links(cfg.alias_tag)} == {"bridge"}, timeout=20), \
        links.owned_links(cfg.alias_tag)
    assert list(cfg.netns_dir.iterdir()) == []
    rules = "\n".join(Firewall(Chains(cfg.chain_prefix)).leftovers())
    assert "-j DNAT" not in rules and f"--dport {port}" not in rules
    # Only the default bridge's subnet is still masqueraded (its way out and its hairpin).
    assert len({line.split("-s ", 1)[1].split()[0] for line in rules.splitlines()
                if "MASQUERADE" in line and "-s 172." in line}) <= 1


# ---- IPv6, bridge options and endpoint settings ---------------------------------------------


def ula() -> ipaddress.IPv6Network:
    """A random unique-local /64 (routed nowhere, and unlike the host's own)."""
    return ipaddress.IPv6Network(f"fd42:{random.randrange(1, 0xffff):x}:{random.randrange(1, 0xffff):x}::/64")


@pytest.fixture
def ipv6_forwarding() -> Iterator[None]:
    """berthd turns IPv6 forwarding on for a dual-stack network, as dockerd does; give the host back what it had."""
    paths = [Path(f"/proc/sys/net/ipv6/conf/{scope}/forwarding") for scope in ("all", "default")]
    before = [p.read_text() for p in paths]
    yield
    for path, value in zip(paths, before, strict=True):
        path.write_text(value)


def test_dual_stack_network_reaches_over_ipv6_and_answers_aaaa(busybox_image: str, docker_env: dict[str, str],
                                                               made: list[tuple[str, str]], berthd: Berthd,
                                                               ipv6_forwarding: None) -> None:
    subnet6 = ula()
    net, subnet = network(docker_env, made, "--ipv6", "--subnet", str(subnet6))
    data = json.loads(ok(docker_env, "network", "inspect", net))[0]
    assert data["EnableIPv6"] is True
    assert [c["Subnet"] for c in data["IPAM"]["Config"]] == [str(subnet), str(subnet6)]
    fixed = str(subnet6.network_address + 0xf00d)
    server = web(docker_env, made, busybox_image, "--network", net, "--ip6", fixed, text="over-v6")
    client = "c" + uid()
    ok(docker_env, "run", "-d", "--name", client, "--network", net, busybox_image, "sleep", "120")
    made.append(("container", client))
    settings = json.loads(ok(docker_env, "inspect", server))[0]["NetworkSettings"]["Networks"][net]
    assert settings["GlobalIPv6Address"] == fixed and settings["GlobalIPv6PrefixLen"] == 64
    assert settings["IPv6Gateway"] == str(subnet6.network_address + 1)
    assert settings["IPAMConfig"] == {"IPv6Address": fixed}
    members = json.loads(ok(docker_env, "network", "inspect", net))[0]["Containers"]
    assert {m["Name"]: m["IPv6Address"] for m in members.values()}[server] == f"{fixed}/64"
    other = json.loads(ok(docker_env, "inspect", client))[0]["NetworkSettings"]["Networks"][net]["GlobalIPv6Address"]
    assert ipaddress.IPv6Address(other) in subnet6 and other != fixed
    # container to container over IPv6: ICMPv6 and TCP (busybox's wget to the httpd)
    ping = docker(docker_env, "exec", client, "ping", "-6", "-c", "1", "-W", "3", fixed)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    page = docker(docker_env, "exec", client, "sh", "-c",
                  f"for i in 1 2 3; do timeout 2 wget -q -O - http://[{fixed}]/ && exit 0; sleep 0.3; done; exit 1")
    assert page.stdout == "over-v6\n", page.stderr
    # the embedded DNS answers AAAA with the fixed address, and A with the IPv4 one
    aaaa = ok(docker_env, "exec", client, "nslookup", "-type=AAAA", server)
    assert f"Address: {fixed}" in aaaa, aaaa
    a = ok(docker_env, "exec", client, "nslookup", "-type=A", server)
    assert f"Address: {settings['IPAddress']}" in a and fixed not in a, a
    # /etc/hosts names the container on both families
    hosts = ok(docker_env, "exec", server, "cat", "/etc/hosts")
    assert f"{fixed}\t" in hosts
    # ip6tables: berthd's own chains masquerade the IPv6 subnet and isolate the bridge
    cfg = config_for(berthd.exec_root)
    bridge = "br-" + data["Id"][:12]
    rules6 = [line for line in Firewall(Chains(cfg.chain_prefix)).leftovers() if line.startswith("IPv6 ")]
    assert f"IPv6 -A {cfg.chain_prefix}-POST -s {subnet6} ! -o {bridge} -j MASQUERADE" in rules6
    assert f"IPv6 -A {cfg.chain_prefix}-ISO -o {bridge} -j DROP" in rules6
    # and removing the network removes its bridge and its rules, IPv6 ones included
    ok(docker_env, "rm", "-f", server, client)
    ok(docker_env, "network", "rm", net)
    assert bridge not in {link.name for link in links.owned_links(cfg.alias_tag)}
    assert not any(bridge in line or str(subnet6) in line for line in Firewall(Chains(cfg.chain_prefix)).leftovers())


def test_icc_false_keeps_containers_of_a_network_apart(busybox_image: str, docker_env: dict[str, str],
                                                       made: list[tuple[str, str]]) -> None:
    net, _ = network(docker_env, made, "-o", "com.docker.network.bridge.enable_icc=false",
                     "-o", "com.docker.network.driver.mtu=1400")
    options = json.loads(ok(docker_env, "network", "inspect", net))[0]["Options"]
    assert options == {"com.docker.network.bridge.enable_icc": "false", "com.docker.network.driver.mtu": "1400"}
    server = web(docker_env, made, busybox_image, "--network", net)
    ip = address(docker_env, server, net)
    assert fetch(docker_env, busybox_image, net, f"http://{ip}/", timeout=1).returncode != 0
    mtu = ok(docker_env, "exec", server, "cat", "/sys/class/net/eth0/mtu")
    assert mtu.strip() == "1400"


def test_host_binding_ipv4_is_where_ports_are_published(busybox_image: str, docker_env: dict[str, str],
                                                        made: list[tuple[str, str]]) -> None:
    net, _ = network(docker_env, made, "-o", "com.docker.network.bridge.host_binding_ipv4=127.0.0.1")
    port = free_port()
    server = web(docker_env, made, busybox_image, "--network", net, "-p", f"{port}:80", text="loopback-only")
    assert ok(docker_env, "port", server, "80/tcp").split() == [f"127.0.0.1:{port}"]
    deadline = time.monotonic() + 10
    while True:  # httpd starts listening a moment after the container starts
        try:
            assert http_get(f"http://127.0.0.1:{port}/") == "loopback-only\n"
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_config_only_network_configures_another(busybox_image: str, docker_env: dict[str, str],
                                                made: list[tuple[str, str]]) -> None:
    third = random.randrange(0, 256)
    config, _ = network(docker_env, made, "--config-only", "--subnet", f"10.236.{third}.0/24",
                        "-o", "com.docker.network.bridge.enable_icc=false")
    net, subnet = network(docker_env, made, "--config-from", config)
    made.append(made.pop(made.index(("network", config))))  # removed last: the network made from it first
    data = json.loads(ok(docker_env, "network", "inspect", net))[0]
    assert data["ConfigFrom"] == {"Network": config} and data["Driver"] == "bridge"
    assert data["Options"] == {"com.docker.network.bridge.enable_icc": "false"}
    server = web(docker_env, made, busybox_image, "--network", net)
    assert subnet == ipaddress.IPv4Network(f"10.236.{third}.0/24")
    assert ipaddress.IPv4Address(address(docker_env, server, net)) in subnet
    refused = docker(docker_env, "run", "--rm", "--network", config, busybox_image, "true")
    assert refused.returncode != 0


def test_endpoint_mac_link_local_address_and_links(busybox_image: str, docker_env: dict[str, str],
                                                    made: list[tuple[str, str]]) -> None:
    net, _ = network(docker_env, made)
    upstream = web(docker_env, made, busybox_image, "--network", net, text="upstream")
    box = "b" + uid()
    ok(docker_env, "run", "-d", "--name", box, "--network", net, "--mac-address", "02:42:ac:11:99:01",
       "--link-local-ip", "169.254.8.8", "--link", f"{upstream}:bar", busybox_image, "sleep", "120")
    made.append(("container", box))
    settings = json.loads(ok(docker_env, "inspect", box))[0]["NetworkSettings"]["Networks"][net]
    assert settings["MacAddress"] == "02:42:ac:11:99:01"
    assert settings["IPAMConfig"] == {"LinkLocalIPs": ["169.254.8.8"]}
    assert settings["Links"] == [f"{upstream}:bar"]
    eth0 = ok(docker_env, "exec", box, "ip", "addr", "show", "eth0")
    assert "link/ether 02:42:ac:11:99:01" in eth0 and "inet 169.254.8.8/16" in eth0
    # the link's alias resolves for the linking container, to the linked one's address
    found = ok(docker_env, "exec", box, "nslookup", "bar")
    assert f"Address: {address(docker_env, upstream, net)}" in found, found
    assert lookup(docker_env, busybox_image, net, "bar") is None  # no one else's name
    # a link given at connect, to a container not yet started, shows at once and works once it runs
    later = "l" + uid()
    ok(docker_env, "create", "--name", later, busybox_image, "sleep", "120")
    made.append(("container", later))
    ok(docker_env, "network", "connect", "--link", f"{upstream}:up", net, later)
    assert json.loads(ok(docker_env, "inspect", later))[0]["NetworkSettings"]["Networks"][net]["Links"] == [
        f"{upstream}:up"]
    ok(docker_env, "start", later)
    found = ok(docker_env, "exec", later, "nslookup", "up")
    assert f"Address: {address(docker_env, upstream, net)}" in found, found


def test_dual_stack_survives_a_restart_and_cleanup_leaves_no_ipv6_rule(private: Berthd,
                                                                      ipv6_forwarding: None) -> None:
    env = dict(os.environ, DOCKER_HOST=private.url, DOCKER_CONFIG=str(private.base / "docker-config"))
    made: list[tuple[str, str]] = []
    subnet6 = ula()
    net, _ = network(env, made, "--ipv6", "--subnet", str(subnet6))
    server = web(env, made, "busybox", "--network", net, text="v6-after-restart")
    before = json.loads(ok(env, "inspect", server))[0]["NetworkSettings"]["Networks"][net]["GlobalIPv6Address"]
    private.stop()  # SIGTERM: containers keep running
    private.start()
    after = json.loads(ok(env, "inspect", server))[0]["NetworkSettings"]["Networks"][net]["GlobalIPv6Address"]
    assert after == before and ipaddress.IPv6Address(after) in subnet6
    page = ok(env, "run", "--rm", "--network", net, "busybox", "sh", "-c",
              f"for i in 1 2 3; do timeout 2 wget -q -O - http://[{after}]/ && exit 0; sleep 0.3; done; exit 1")
    assert page == "v6-after-restart\n"
    rules6 = [line for line in Firewall(Chains(config_for(private.exec_root).chain_prefix)).leftovers()
              if line.startswith("IPv6 ") and str(subnet6) in line]
    assert rules6, "the IPv6 masquerade is back after the restart"
    # the fixture then removes the daemon and checks that no link or rule of it, IPv4 or IPv6, remains
