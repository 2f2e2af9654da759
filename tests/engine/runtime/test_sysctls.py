"""HostConfig.Sysctls in config.json's linux.sysctl, and the namespaces each needs, as dockerd
(runc) answers them: the words were taken from a stock dockerd 20.10 with runc 1.1 on this host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.errors import RuntimeFailure
from engine.runtime.spec import ALL_CAPABILITIES, DEFAULT_NETWORK_SYSCTLS, HostFacts, RuntimeSpec, build_config

pytestmark = pytest.mark.unit

HOST = HostFacts("v2", frozenset(ALL_CAPABILITIES), "x86_64", (6, 1), default_sysctls=DEFAULT_NETWORK_SYSCTLS)


def sysctl(**overrides: Any) -> dict[str, str] | None:
    spec = RuntimeSpec(container_id="0123456789abcdef", rootfs=Path("/r"), args=["true"], env=[], **overrides)
    config, _ = build_config(spec, HOST)
    value: dict[str, str] | None = config["linux"].get("sysctl")
    return value


def refusal(**overrides: Any) -> str:
    with pytest.raises(RuntimeFailure) as e:
        sysctl(**overrides)
    assert e.value.status == 500  # dockerd's, for what runc refuses at start
    return e.value.message


def test_a_namespace_of_its_own_gets_dockerds_defaults_and_the_request_wins() -> None:
    assert sysctl() == DEFAULT_NETWORK_SYSCTLS
    asked = {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1073741824", "fs.mqueue.msg_max": "20",
             "kernel.domainname": "example.org", "net.ipv4.ip_unprivileged_port_start": "1024"}
    assert sysctl(sysctls=asked, netns_path="/run/berth/netns/x") == {**DEFAULT_NETWORK_SYSCTLS, **asked}


def test_no_defaults_in_the_hosts_or_another_containers_network_namespace() -> None:
    assert sysctl(host_network=True) is None
    assert sysctl(netns_owner="other", netns_path="/proc/1/ns/net") is None
    assert sysctl(netns_owner="other", sysctls={"net.core.somaxconn": "1024"}) == {"net.core.somaxconn": "1024"}
    # A kernel without them: none are set (dockerd checks /proc/sys too).
    bare = HostFacts("v2", frozenset(ALL_CAPABILITIES), "x86_64", (6, 1))
    spec = RuntimeSpec(container_id="c1", rootfs=Path("/r"), args=["true"], env=[])
    assert "sysctl" not in build_config(spec, bare)[0]["linux"]


def test_net_sysctls_are_refused_in_the_hosts_network_namespace() -> None:
    message = refusal(host_network=True, sysctls={"net.ipv4.ip_forward": "1"})
    assert message.startswith('sysctl "net.ipv4.ip_forward" not allowed in host network namespace')
    assert "--network host" in message
    # Joined through a container that has the host's network: the same.
    assert refusal(netns_owner="host", sysctls={"net.ipv4.ip_forward": "1"}).startswith(
        'sysctl "net.ipv4.ip_forward" not allowed in host network namespace')
    # The others are still allowed there.
    assert sysctl(host_network=True, sysctls={"kernel.shmmax": "1"}) == {"kernel.shmmax": "1"}


def test_ipc_sysctls_need_an_ipc_namespace_of_the_containers_own() -> None:
    for name in ("kernel.shmmax", "kernel.sem", "fs.mqueue.msg_max"):
        assert refusal(ipc_ns="host", sysctls={name: "1"}).startswith(
            f'sysctl "{name}" is not allowed in the hosts ipc namespace')
    assert sysctl(ipc_ns="/proc/7/ns/ipc", sysctls={"kernel.shmmax": "1"}) is not None


def test_sysctls_of_the_whole_host_are_refused() -> None:
    for name in ("kernel.foo", "vm.swappiness", "fs.file-max", "kernel.pid_max"):
        message = refusal(sysctls={name: "1"})
        assert message.startswith(f'sysctl "{name}" is not in a separate kernel namespace')
        assert "net.*" in message  # what may be set instead
    assert refusal(sysctls={"kernel.hostname": "x"}).startswith(
        'sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field')
    # kernel.domainname is the UTS namespace's: refused with the host's.
    assert refusal(uts_ns="host", sysctls={"kernel.domainname": "x"}).startswith(
        'sysctl "kernel.domainname" is not in a separate kernel namespace')
