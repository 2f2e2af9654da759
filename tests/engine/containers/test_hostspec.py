"""HostConfig parsed once into typed values, and create's `platform` as dockerd parses and checks it
(the words are those a stock dockerd 20.10 answered here)."""

from __future__ import annotations

import pytest

from engine.containers.create import matching_variant, requested_platform
from engine.containers.hostspec import (
    DefaultBridge,
    HostNetwork,
    HostSpec,
    JoinContainer,
    NoNetwork,
    Resources,
    UserNetwork,
    network_mode,
)
from engine.containers.model import Container
from engine.emulation import check_platform
from engine.errors import InvalidArgument, NotFound
from engine.images.platform import Platform, host_platform

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("raw", "mode"), [
    (None, DefaultBridge()), ("", DefaultBridge()), ("default", DefaultBridge()), ("bridge", DefaultBridge()),
    ("host", HostNetwork()), ("none", NoNetwork()), ("container:web", JoinContainer("web")),
    ("backend", UserNetwork("backend")),
])
def test_network_mode_is_a_sum_type(raw: str | None, mode: object) -> None:
    assert network_mode(raw) == mode


def test_spec_holds_every_part_typed() -> None:
    spec = HostSpec.parse({"NetworkMode": "container:db", "RestartPolicy": {"Name": "on-failure",
                                                                             "MaximumRetryCount": 3},
                           "Memory": 1 << 20, "CpusetCpus": "0-1", "CapAdd": ["NET_ADMIN"], "PidMode": "host",
                           "LogConfig": {"Type": "local"}, "ReadonlyPaths": ["/x"]})
    assert spec.network == JoinContainer("db") and spec.network.name == "container:db"
    assert (spec.restart.name, spec.restart.max_retries) == ("on-failure", 3)
    assert spec.resources == Resources(memory=1 << 20, cpuset_cpus="0-1")
    assert (spec.log.driver, spec.log.max_files) == ("local", 5)
    assert (spec.cap_add, spec.pid_mode, spec.masked_paths, spec.readonly_paths) == (("NET_ADMIN",), "host",
                                                                                      None, ("/x",))
    with pytest.raises(AttributeError):
        spec.privileged = True  # type: ignore[misc]


@pytest.mark.parametrize(("hc", "message"), [
    ({"Memory": "1g"}, "HostConfig.Memory must be an integer"),
    ({"NetworkMode": 3}, "NetworkMode must be a string"),
    ({"LogConfig": {"Type": "nope"}}, "no log driver named 'nope'"),
    ({"AutoRemove": True, "RestartPolicy": {"Name": "always"}}, "cannot specify both --restart and --rm"),
])
def test_spec_refuses(hc: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        HostSpec.parse(hc)


def test_container_parses_once_until_its_host_config_changes() -> None:
    c = Container(id="a" * 64, name="web", image="busybox", image_id="sha256:b", config={},
                  host_config={"RestartPolicy": {"Name": "always"}})
    first = c.spec
    assert c.spec is first and first.restart.name == "always"
    c.host_config["RestartPolicy"] = {"Name": "no"}
    c.host_config_changed()
    assert c.spec.restart.name == "no"


HOST = host_platform()


@pytest.mark.parametrize(("text", "platform"), [
    ("", None), (None, None),
    ("linux/arm64", Platform("linux", "arm64")), ("LINUX/ARM64", Platform("linux", "arm64")),
    ("linux/x86_64", Platform("linux", "amd64")), ("linux/arm/v7", Platform("linux", "arm", "v7")),
    ("windows/amd64", Platform("windows", "amd64")), ("linux", Platform("linux", HOST.architecture, HOST.variant)),
    ("arm64", Platform("linux", "arm64")),
])
def test_requested_platform_as_containerd_parses_it(text: str | None, platform: Platform | None) -> None:
    assert requested_platform(text) == platform


def test_requested_platform_refuses_what_it_cannot_read() -> None:
    with pytest.raises(InvalidArgument, match=r'^"bogus": unknown operating system or architecture: '
                                               r'invalid argument$'):
        requested_platform("bogus")


AMD64 = Platform("linux", "amd64")


@pytest.mark.parametrize("text", ["linux/amd64", "linux/amd64/v1", "linux/amd64/v3", "linux/x86_64"])
def test_platforms_dockerd_takes_for_an_amd64_image(text: str) -> None:
    check_platform(matching_variant(requested_platform(text), AMD64), AMD64, "img:1")


@pytest.mark.parametrize(("text", "wanted"), [
    ("linux/arm64", "linux/arm64"), ("linux/arm64/v8", "linux/arm64/v8"), ("linux/arm/v7", "linux/arm/v7"),
    ("windows/amd64", "windows/amd64"),
])
def test_platforms_dockerd_refuses_for_an_amd64_image(text: str, wanted: str) -> None:
    with pytest.raises(NotFound) as e:
        check_platform(matching_variant(requested_platform(text), AMD64), AMD64, "img:1")
    assert str(e.value) == (
        "image with reference img:1 was found but does not match the specified platform: "
        f"wanted {wanted}, actual: linux/amd64")


def test_sandbox_options_typed() -> None:
    """Ulimits, security options, devices, shm, --init and extra hosts: parsed at create with the
    rest, the host's side (device nodes, the init binary) looked up only by resolve()."""
    from engine.runtime.rlimits import Ulimit

    spec = HostSpec.parse({"Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
                           "SecurityOpt": ["no-new-privileges", "seccomp=unconfined", "apparmor=x"],
                           "Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/nothing",
                                        "CgroupPermissions": "rw"}],
                           "ShmSize": 1 << 20, "ExtraHosts": ["db:10.0.0.5", "gw:host-gateway"],
                           "Sysctls": {"net.core.somaxconn": "1024"},
                           "Links": ["/db:/web/database"]})
    box = spec.sandbox
    assert box.ulimits == (Ulimit("nofile", 1024, 2048),)
    assert (box.no_new_privileges, box.seccomp, box.shm_size, box.init) == (True, "unconfined", 1 << 20, False)
    assert box.extra_hosts == (("db", "10.0.0.5"), ("gw", "host-gateway"))
    assert box.sysctls == {"net.core.somaxconn": "1024"}
    assert any("apparmor" in w for w in box.warnings)
    assert [(link.target, link.alias) for link in spec.links] == [("db", "database")]
    [device] = box.resolve().devices
    assert (device.kind, device.major, device.minor, device.path, device.access) == ("c", 1, 3, "/dev/nothing", "rw")


def test_a_device_the_host_lacks_is_refused_at_resolve() -> None:
    spec = HostSpec.parse({"Devices": [{"PathOnHost": "/dev/berth-no-such-device"}]})
    with pytest.raises(InvalidArgument, match="error gathering device information"):
        spec.sandbox.resolve()


@pytest.mark.parametrize(("hc", "message"), [
    ({"SecurityOpt": ["label=disable", "seccomp-ish"]}, "invalid --security-opt"),
    ({"Ulimits": [{"Name": "nofile", "Soft": "many"}]}, "Soft and Hard must be integers"),
    ({"Devices": [{"PathOnHost": "/dev/null", "CgroupPermissions": "rwx"}]}, "invalid device permissions"),
    ({"ExtraHosts": ["db"]}, "invalid extra host"),
    ({"ShmSize": -1}, "ShmSize must be a positive"),
])
def test_sandbox_refusals(hc: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        HostSpec.parse(hc)
