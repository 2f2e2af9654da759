"""Networking and mounts read a container's typed specs, parsed once at create, never its
HostConfig JSON again (#21): the published ports, the binds, mounts and tmpfs, --volumes-from,
Config.Volumes; a new row's first load reuses the specs its create parsed; the stop signal is a
number from create on, and one that names no signal is refused there, as dockerd refuses it."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from engine.containers.configspec import ConfigSpec, parse_signal
from engine.containers.create import check_stop_signal
from engine.containers.hostspec import HostSpec
from engine.containers.model import Container
from engine.containers.store import ContainerStore
from engine.errors import InvalidArgument
from engine.events import EventBus
from engine.networks.ports import PortRequest, PublishSpec
from engine.runtime.conmon import signal_number
from engine.state.db import Database
from engine.volumes.mounts import VolumeMounts
from engine.volumes.specs import VolumesFrom
from engine.volumes.store import VolumeStore

pytestmark = pytest.mark.unit

HOST_CONFIG = {
    "Binds": ["/srv/www:/www:ro", "cache:/cache"],
    "Mounts": [{"Type": "tmpfs", "Target": "/scratch"}],
    "Tmpfs": {"/run": "size=64m"},
    "PortBindings": {"80/tcp": [{"HostPort": "8080"}], "53/udp": [{"HostIp": "::1", "HostPort": "53"}]},
    "PublishAllPorts": True,
    "VolumesFrom": ["data:ro"],
}


def test_hostconfig_is_typed_once_with_its_ports_and_mounts() -> None:
    spec = HostSpec.parse(HOST_CONFIG)
    assert spec.publish == PublishSpec(bindings=(PortRequest(80, "tcp", "", 8080, 8080),),
                                       ports=((80, "tcp"), (53, "udp")), publish_all=True)
    # PublishAllPorts adds the exposed ports the bindings leave out.
    assert spec.publish.requested(["80/tcp", "443/tcp"]) == [PortRequest(80, "tcp", "", 8080, 8080),
                                                             PortRequest(443, "tcp", "", 0, 0)]
    assert spec.publish.exposed(["443/tcp"]) == [(53, "udp"), (80, "tcp"), (443, "tcp")]
    assert [(m.type, m.target, m.origin) for m in spec.mounts] == [
        ("bind", "/www", "binds"), ("volume", "/cache", "binds"), ("tmpfs", "/scratch", "mounts"),
        ("tmpfs", "/run", "tmpfs")]
    assert spec.volumes_from == (VolumesFrom("data:ro", "data", "ro"),)
    assert ConfigSpec.parse({"Volumes": {"/data/": {}, "/logs": {}}}).volumes == ("/data", "/logs")


@pytest.mark.parametrize(("host_config", "words"), [
    ({"PortBindings": {"80/sctp": []}}, "protocol 'sctp' is not supported"),
    ({"Binds": ["/a:/b", "/c:/b"]}, "Duplicate mount point: /b"),
    ({"Tmpfs": ["/run"]}, "HostConfig.Tmpfs must be an object"),
    ({"VolumesFrom": ["data:rx"]}, "invalid --volumes-from 'data:rx'"),
])
def test_a_bad_request_is_refused_when_typed(host_config: dict[str, object], words: str) -> None:
    with pytest.raises(InvalidArgument, match=words):
        HostSpec.parse(host_config)


def test_mounts_read_the_typed_spec_not_the_json(tmp_path: Path) -> None:
    db = Database(tmp_path / "db.sqlite")
    mounts = VolumeMounts(VolumeStore(tmp_path / "volumes", db, lambda _c: False), EventBus(),
                          image_volumes=lambda _i: ["/image-vol"])
    c = Container(id="c" * 64, name="web", image="busybox", image_id="sha256:" + "b" * 64,
                  config={"Cmd": ["sh"], "Volumes": {"/cfg": {}}},
                  host_config={"Binds": ["/srv:/srv"], "Tmpfs": {"/run": ""}})
    typed = c.spec
    # The JSON is for inspect alone: what a start mounts comes from the spec parsed before.
    c.host_config["Binds"] = "not a list"
    c.host_config["Tmpfs"] = {"/elsewhere": ""}
    assert c.spec is typed
    assert [(s.target, s.origin) for s in mounts.specs(c)] == [
        ("/srv", "binds"), ("/run", "tmpfs"), ("/cfg", "config"), ("/image-vol", "image")]


def test_a_new_rows_first_load_reuses_the_specs_its_create_parsed(tmp_path: Path) -> None:
    store = ContainerStore(Database(tmp_path / "berth.db"))
    spec, config_spec = HostSpec.parse(HOST_CONFIG), ConfigSpec.parse({"Cmd": ["sh"]})
    store.insert(Container(id="a" * 64, name="web", image="busybox", image_id="sha256:" + "b" * 64,
                           config={"Cmd": ["sh"]}, host_config=dict(HOST_CONFIG), _spec=spec,
                           _config_spec=config_spec))
    loaded = store.resolve("web")
    assert loaded.spec is spec and loaded.config_spec is config_spec


@pytest.mark.parametrize(("value", "number"), [
    ("SIGUSR1", 10), ("usr1", 10), ("15", 15), ("99", 99), ("RTMIN+3", 37), ("SIGRTMAX-1", 63),
    ("FOO", 0), ("0", 0), ("RTMAX+1", 0), ("", 0), ("RTMIN+15", 49), ("RTMIN+16", 0), ("rtmax-14", 50),
    ("RTMAX-15", 0), ("RTMIN", 34), ("+15", 15), (" TERM", 0), ("TERM ", 0), ("SIG", 0), ("SIGSIGTERM", 0)])
def test_a_stop_signal_is_read_as_dockerds_parsesignal_reads_it(value: str, number: int) -> None:
    assert parse_signal(value) == number


def test_the_stop_signal_is_a_number_once_and_a_bad_one_is_refused_at_create() -> None:
    assert ConfigSpec.parse({"StopSignal": "usr1"}).stop_signo == signal.SIGUSR1
    assert ConfigSpec.parse({}).stop_signo == signal.SIGTERM
    # An older berthd's row with a StopSignal that names no signal still loads, and stops with SIGTERM.
    assert ConfigSpec.parse({"StopSignal": "FOO"}).stop_signo == signal.SIGTERM
    with pytest.raises(InvalidArgument, match=r"^Invalid signal: FOO"):
        check_stop_signal("FOO")
    with pytest.raises(InvalidArgument, match=r"^Invalid signal: 0"):
        check_stop_signal("0")
    check_stop_signal("SIGRTMIN+3")
    check_stop_signal(None)


def test_kill_and_stop_read_a_signal_as_create_does() -> None:
    """One reader for every signal a request names: kill's and stop's take real-time names too."""
    assert signal_number("RTMIN+3") == 37 and signal_number("sigrtmax") == 64 and signal_number(None, 9) == 9
    for bad in ("RTMIN+16", " TERM", "FOO", "0"):
        with pytest.raises(InvalidArgument, match=f"^Invalid signal: {re.escape(bad)}$"):
            signal_number(bad)
