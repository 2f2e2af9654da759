"""A container's resolv.conf from HostConfig.Dns, DnsSearch and DnsOptions: the expected files are
what dockerd 20.10 wrote for the same requests with the same host resolv.conf."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.containers.hostspec import HostSpec
from engine.errors import InvalidArgument
from engine.networks.resolvconf import DnsSpec, ResolvFile, choose_host_path, host_network, own_namespace

pytestmark = pytest.mark.unit

HOST = ResolvFile.parse("nameserver 10.255.255.53\n")
GIVEN = DnsSpec(servers=("192.0.2.53",), search=("example.test",), options=("ndots:3",))


def test_parse_keeps_what_was_sent() -> None:
    spec = DnsSpec.parse({"Dns": ["192.0.2.53", "notanip"], "DnsSearch": ["example.test"], "DnsOptions": None})
    assert spec == DnsSpec(servers=("192.0.2.53", "notanip"), search=("example.test",))
    assert spec.given and not DnsSpec.parse({}).given
    assert HostSpec.parse({"Dns": ["192.0.2.53"]}).dns.servers == ("192.0.2.53",)


@pytest.mark.parametrize(("hc", "message"), [
    ({"Dns": "192.0.2.53"}, "HostConfig.Dns must be a list of strings"),
    ({"DnsSearch": [5]}, "HostConfig.DnsSearch must be a list of strings"),
    ({"DnsOptions": {"ndots": 1}}, "HostConfig.DnsOptions must be a list of strings"),
    ({"Dns": ["192.0.2.53"], "NetworkMode": "container:db"}, "conflicting options: dns and the network mode"),
])
def test_refused(hc: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        HostSpec.parse(hc)


def test_joining_a_container_takes_search_and_options_but_ignores_them() -> None:
    spec = HostSpec.parse({"DnsSearch": ["a.test"], "DnsOptions": ["rotate"], "NetworkMode": "container:db"})
    assert spec.dns.search == ("a.test",)


@pytest.mark.parametrize(("spec", "embedded", "expected"), [
    # the default bridge
    (GIVEN, None, "search example.test\nnameserver 192.0.2.53\noptions ndots:3\n"),
    (DnsSpec(), None, "nameserver 10.255.255.53\n"),
    (DnsSpec(search=("a.test", "b.test")), None, "search a.test b.test\nnameserver 10.255.255.53\n"),
    (DnsSpec(options=("rotate",)), None, "nameserver 10.255.255.53\noptions rotate\n"),
    (DnsSpec(search=(".",)), None, "nameserver 10.255.255.53\n"),
    (DnsSpec(servers=("192.0.2.1", "2001:db8::1")), None, "nameserver 192.0.2.1\nnameserver 2001:db8::1\n"),
    (DnsSpec(servers=("127.0.0.1",)), None, "nameserver 127.0.0.1\n"),
    (DnsSpec(servers=("notanip",)), None, "nameserver notanip\n"),
    (DnsSpec(options=("ndots:x",)), None, "nameserver 10.255.255.53\noptions ndots:x\n"),
    # a user-defined network: its embedded DNS first (dockerd's 127.0.0.11, berthd's gateway)
    (GIVEN, "172.18.0.1", "search example.test\nnameserver 172.18.0.1\noptions ndots:3\n"),
    (DnsSpec(), "172.18.0.1", "nameserver 172.18.0.1\noptions ndots:0\n"),
    (DnsSpec(search=("a.test",)), "172.18.0.1", "search a.test\nnameserver 172.18.0.1\noptions ndots:0\n"),
    (DnsSpec(options=("ndots:2", "rotate")), "172.18.0.1", "nameserver 172.18.0.1\noptions ndots:2 rotate\n"),
    (DnsSpec(options=("rotate",)), "172.18.0.1", "nameserver 172.18.0.1\noptions rotate ndots:0\n"),
    (DnsSpec(options=("ndots:0",)), "172.18.0.1", "nameserver 172.18.0.1\noptions ndots:0\n"),
    (DnsSpec(options=("ndots:1", "ndots:0")), "172.18.0.1", "nameserver 172.18.0.1\noptions ndots:1 ndots:0\n"),
    (DnsSpec(search=(".",)), "172.18.0.1", "nameserver 172.18.0.1\noptions ndots:0\n"),
    (DnsSpec(servers=("2001:db8::1", "192.0.2.1")), "172.18.0.1",
     "nameserver 172.18.0.1\nnameserver 2001:db8::1\noptions ndots:0\n"),
    (DnsSpec(servers=("notanip",)), "172.18.0.1", "nameserver 172.18.0.1\noptions ndots:0\n"),
    (DnsSpec(servers=("127.0.0.1",)), "172.18.0.1", "nameserver 172.18.0.1\noptions ndots:0\n"),
    # dockerd gives up its embedded rewrite on an ndots it cannot read
    (DnsSpec(options=("ndots:x",)), "172.18.0.1", "nameserver 10.255.255.53\noptions ndots:x\n"),
])
def test_own_namespace_as_dockerd_writes_it(spec: DnsSpec, embedded: str | None, expected: str) -> None:
    assert own_namespace(spec, embedded, HOST) == expected


MIXED = ResolvFile.parse("# host comment\nnameserver 127.0.0.53\nnameserver 10.1.1.1\nnameserver fd00::53\n"
                        "search corp.test\noptions edns0\n")


@pytest.mark.parametrize(("spec", "embedded", "ipv6", "expected"), [
    # the default bridge, or none: loopback and (without IPv6) IPv6 servers dropped, the rest as it was
    (DnsSpec(), None, False, "# host comment\nnameserver 10.1.1.1\nsearch corp.test\noptions edns0\n"),
    (DnsSpec(), None, True,
     "# host comment\nnameserver 10.1.1.1\nnameserver fd00::53\nsearch corp.test\noptions edns0\n"),
    # a given value: each list not given is the host's, unfiltered
    (DnsSpec(search=("a.test",)), None, False,
     "search a.test\nnameserver 127.0.0.53\nnameserver 10.1.1.1\nnameserver fd00::53\noptions edns0\n"),
    (DnsSpec(options=("rotate",)), None, False,
     "search corp.test\nnameserver 127.0.0.53\nnameserver 10.1.1.1\nnameserver fd00::53\noptions rotate\n"),
    (DnsSpec(servers=("192.0.2.1",)), None, False, "search corp.test\nnameserver 192.0.2.1\noptions edns0\n"),
    # the embedded DNS
    (DnsSpec(), "172.18.0.1", False, "search corp.test\nnameserver 172.18.0.1\noptions edns0 ndots:0\n"),
    (DnsSpec(options=("rotate",)), "172.18.0.1", False,
     "search corp.test\nnameserver 172.18.0.1\nnameserver fd00::53\noptions rotate ndots:0\n"),
    (DnsSpec(search=("a.test",)), "172.18.0.1", False,
     "search a.test\nnameserver 172.18.0.1\nnameserver fd00::53\noptions edns0 ndots:0\n"),
])
def test_with_the_hosts_servers_as_dockerd_writes_it(spec: DnsSpec, embedded: str | None, ipv6: bool,
                                                     expected: str) -> None:
    assert own_namespace(spec, embedded, MIXED, ipv6) == expected


@pytest.mark.parametrize(("host", "ipv6", "expected"), [
    ("nameserver 127.0.0.53\nsearch corp.test\n", False,
     "search corp.test\n\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"),
    ("nameserver 127.0.0.1\n\n\nsearch corp.test\n", False,
     "search corp.test\n\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"),
    ("nameserver ::1\n", True, "\nnameserver 8.8.8.8\nnameserver 8.8.4.4\nnameserver 2001:4860:4860::8888\n"
                              "nameserver 2001:4860:4860::8844\n"),
])
def test_only_loopback_servers_give_dockerds_defaults(host: str, ipv6: bool, expected: str) -> None:
    assert own_namespace(DnsSpec(), None, ResolvFile.parse(host), ipv6) == expected
    assert own_namespace(DnsSpec(), "172.18.0.1", ResolvFile.parse(host), ipv6) == (
        "search corp.test\nnameserver 172.18.0.1\noptions ndots:0\n" if "search" in host else
        "nameserver 172.18.0.1\nnameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844\noptions ndots:0\n")


def test_the_host_network_copies_the_hosts_file_unless_given(tmp_path: Path) -> None:
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 127.0.0.53\nsearch corp.test\n")
    assert host_network(DnsSpec(), str(host)) is None
    assert host_network(GIVEN, str(host)) == "search example.test\nnameserver 192.0.2.53\noptions ndots:3\n"
    assert host_network(DnsSpec(search=("a.test",)), str(host)) == "search a.test\nnameserver 127.0.0.53\n"
    assert host_network(DnsSpec(options=("rotate",)), str(host)) == (
        "search corp.test\nnameserver 127.0.0.53\noptions rotate\n")


def test_forwarders_are_the_containers_ipv4_servers_outside_loopback() -> None:
    assert DnsSpec().forwarders() is None
    assert DnsSpec(search=("a.test",)).forwarders() is None
    spec = DnsSpec(servers=("192.0.2.53", " 192.0.2.54", "2001:db8::1", "127.0.0.1", "notanip"))
    assert spec.forwarders() == [("192.0.2.53", 53), ("192.0.2.54", 53)]
    assert DnsSpec(servers=("127.0.0.1",)).forwarders() == []


@pytest.mark.parametrize(("host", "resolved"), [
    ("nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n", True),  # Ubuntu's stub resolver
    ("nameserver 127.0.0.53\nnameserver 192.0.2.1\n", False),  # the stub is not the only one
    ("nameserver 127.0.0.1\n", False),
    ("", False),
])
def test_systemd_resolveds_stub_is_replaced_by_its_real_servers(tmp_path: Path, host: str, resolved: bool) -> None:
    """As dockerd's resolvconf.Path(): a host whose one nameserver is resolved's stub gives containers
    the servers resolved itself uses."""
    default, real = tmp_path / "resolv.conf", tmp_path / "resolved.conf"
    default.write_text(host)
    real.write_text("nameserver 192.0.2.53\nsearch lan\n")
    chosen = choose_host_path(str(default), str(real))
    assert chosen == str(real if resolved else default)
    if resolved:
        assert own_namespace(DnsSpec(), None, ResolvFile.read(chosen)) == "nameserver 192.0.2.53\nsearch lan\n"
    assert choose_host_path(str(tmp_path / "missing"), str(real)) == str(tmp_path / "missing")
