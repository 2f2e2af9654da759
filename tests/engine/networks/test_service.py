"""The network service's bookkeeping, without touching the host: endpoints from create requests,
what inspect shows, and how the embedded DNS scopes names."""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path

import pytest

from engine.containers.model import Container
from engine.errors import InvalidArgument, NotFound
from engine.events import EventBus
from engine.networks.config import NetworkConfig
from engine.networks.firewall import Chains, Firewall
from engine.networks.service import NetworkService
from engine.networks.store import Network
from engine.state.db import Database

pytestmark = pytest.mark.unit


class Containers:
    def __init__(self) -> None:
        self.by_id: dict[str, Container] = {}

    def add(self, name: str, mode: str = "bridge") -> Container:
        c = Container(id=secrets.token_hex(32), name=name, image="busybox", image_id="sha256:x", config={},
                      host_config={"NetworkMode": mode})
        self.by_id[c.id] = c
        return c

    def lookup(self, ref: str) -> Container:
        for c in self.by_id.values():
            if ref in (c.id, c.name):
                return c
        raise NotFound(f"No such container: {ref}")


@pytest.fixture
def world(tmp_path: Path) -> tuple[NetworkService, Containers]:
    containers = Containers()
    config = NetworkConfig(exec_root=tmp_path, tag="unit", bridge_name="bbunit", bridge_subnet="172.29.0.0/16",
                           forwarders=[])
    svc = NetworkService(Database(tmp_path / "db"), EventBus(), config, containers.lookup,
                         lambda: list(containers.by_id.values()), firewall=Firewall(Chains("BU"), iptables=""))
    for name, subnet in (("front", "10.50.0.0/24"), ("back", "10.51.0.0/24")):
        net = ipaddress.IPv4Network(subnet)
        svc.store.insert(Network(id=secrets.token_hex(32), name=name, driver="bridge", created_ns=1, subnet=net,
                                 gateway=net.network_address + 1, bridge=f"br-{name}"))
    return svc, containers


def test_predefined_networks(world: tuple[NetworkService, Containers]) -> None:
    svc, _ = world
    names = {n.name: n for n in svc.all()}
    assert {"bridge", "host", "none", "front", "back"} == set(names)
    assert str(names["bridge"].subnet) == "172.29.0.0/16" and names["bridge"].bridge == "bbunit"
    assert svc.inspect(names["bridge"])["Options"]["com.docker.network.bridge.default_bridge"] == "true"


def test_create_request_endpoints_and_inspect(world: tuple[NetworkService, Containers]) -> None:
    svc, containers = world
    c = containers.add("api", "front")
    svc.validate(c, {"front": {"Aliases": ["svc"], "IPAMConfig": {"IPv4Address": "10.50.0.9"}},
                     "back": {"Aliases": ["db-client"]}})
    eps = svc.store.endpoints(container_id=c.id)
    assert [(svc.get(e.network_id).name, e.aliases, e.static_ip) for e in eps] == [
        ("front", ["svc"], "10.50.0.9"), ("back", ["db-client"], "")]
    for ep in eps:
        svc.store.assign_address(svc.get(ep.network_id), ep)
    svc.active.add(c.id)
    nets = svc.settings(c)["Networks"]
    assert nets["front"]["IPAddress"] == "10.50.0.9" and nets["front"]["DNSNames"] == ["api", c.short_id, "svc"]
    assert nets["back"]["IPAddress"] == "10.51.0.2"
    assert svc.inspect(svc.get("front"))["Containers"][c.id]["IPv4Address"] == "10.50.0.9/24"


def test_validation_errors_are_400(world: tuple[NetworkService, Containers]) -> None:
    svc, containers = world
    with pytest.raises(InvalidArgument, match="network nosuch not found"):
        svc.validate(containers.add("a", "nosuch"))
    with pytest.raises(InvalidArgument, match="No such container: ghost"):
        svc.validate(containers.add("b", "container:ghost"))
    with pytest.raises(InvalidArgument, match="user defined networks only"):
        svc.validate(containers.add("c"), {"bridge": {"IPAMConfig": {"IPv4Address": "172.29.0.9"}}})
    with pytest.raises(InvalidArgument, match="not in the network's subnet"):
        svc.validate(containers.add("d", "front"), {"front": {"IPAMConfig": {"IPv4Address": "10.9.9.9"}}})
    c = containers.add("e", "none")
    c.host_config["PortBindings"] = {"80/tcp": [{"HostPort": "99999"}]}
    with pytest.raises(InvalidArgument, match="between 1 and 65535"):
        svc.validate(c)


def test_dns_names_are_scoped_to_the_askers_networks(world: tuple[NetworkService, Containers]) -> None:
    svc, containers = world
    web = containers.add("web", "front")
    db = containers.add("db", "back")
    both = containers.add("both", "front")
    svc.validate(web, {"front": {"Aliases": ["www"]}})
    svc.validate(db)
    svc.validate(both, {"back": {}})
    for c in (web, db, both):
        for ep in svc.store.endpoints(container_id=c.id):
            svc.store.assign_address(svc.get(ep.network_id), ep)
        svc.active.add(c.id)
    front = svc.get("front").id
    addr = {c.name: {svc.get(e.network_id).name: str(e.ip) for e in svc.store.endpoints(container_id=c.id)}
            for c in (web, db, both)}
    assert svc.resolve_name(front, "10.50.0.200", "WWW.") == [addr["web"]["front"]]
    assert svc.resolve_name(front, "10.50.0.200", web.short_id) == [addr["web"]["front"]]
    assert svc.resolve_name(front, "10.50.0.200", "db") is None  # not on front
    assert svc.resolve_name(front, addr["both"]["front"], "db") == [addr["db"]["back"]]  # both sees back too
    svc.active.discard(web.id)
    assert svc.resolve_name(front, "10.50.0.200", "web") is None  # stopped containers have no name


def test_a_failed_create_does_not_keep_its_static_address(world: tuple[NetworkService, Containers]) -> None:
    svc, containers = world
    lost = containers.add("lost", "front")
    svc.validate(lost, {"front": {"IPAMConfig": {"IPv4Address": "10.50.0.7"}}})
    del containers.by_id[lost.id]  # its create failed after validation (say, a name conflict)
    retry = containers.add("retry", "front")
    svc.validate(retry, {"front": {"IPAMConfig": {"IPv4Address": "10.50.0.7"}}})
    assert [e.container_id for e in svc.store.endpoints(network_id=svc.get("front").id)] == [retry.id]


def test_link_aliases_resolve_for_the_linking_container_only(world: tuple[NetworkService, Containers]) -> None:
    svc, containers = world
    upstream = containers.add("docker-py-test-upstream", "front")
    linking = containers.add("linking", "front")
    bystander = containers.add("bystander", "front")
    svc.validate(upstream)
    svc.validate(linking, {"front": {"Links": ["docker-py-test-upstream:bar"]}})
    svc.validate(bystander)
    for c in (upstream, linking, bystander):
        for ep in svc.store.endpoints(container_id=c.id):
            svc.store.assign_address(svc.get(ep.network_id), ep)
        svc.active.add(c.id)
    front = svc.get("front").id
    ip = {c.name: str(svc.store.endpoints(container_id=c.id)[0].ip) for c in (upstream, linking, bystander)}
    assert svc.resolve_name(front, ip["linking"], "bar") == [ip["docker-py-test-upstream"]]
    assert svc.resolve_name(front, ip["bystander"], "bar") is None
    assert svc.settings(linking)["Networks"]["front"]["Links"] == ["docker-py-test-upstream:bar"]
