from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.errors import InvalidArgument
from engine.runtime import seccomp
from engine.runtime.rlimits import Ulimit
from engine.runtime.spec import (
    ALL_CAPABILITIES,
    DEFAULT_CAPABILITIES,
    HostFacts,
    Mount,
    RuntimeSpec,
    build_config,
    capability_mask,
    capability_set,
    probe_host,
)

pytestmark = pytest.mark.unit

V2_HOST = HostFacts("v2", frozenset(ALL_CAPABILITIES), "x86_64", (6, 1))
# Like the verified host: hybrid cgroups, and root's bounding set lacks CAP_SYS_RESOURCE.
HYBRID_HOST = HostFacts(
    "hybrid", frozenset(c for c in ALL_CAPABILITIES if c != "CAP_SYS_RESOURCE"), "x86_64", (6, 1)
)
DOCKER_CAPS = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
}


def make(**overrides: Any) -> RuntimeSpec:
    fields: dict[str, Any] = {
        "container_id": "0123456789abcdef0123",
        "rootfs": Path("/var/lib/berth/c/rootfs"),
        "args": ["sh", "-c", "true"],
        "env": ["FOO=bar"],
    }
    fields.update(overrides)
    return RuntimeSpec(**fields)


def config_for(host: HostFacts = V2_HOST, **overrides: Any) -> dict[str, Any]:
    config, _ = build_config(make(**overrides), host)
    return config


def mount_at(config: dict[str, Any], destination: str) -> dict[str, Any]:
    matches = [m for m in config["mounts"] if m["destination"] == destination]
    assert len(matches) == 1, matches
    return matches[0]


def namespace_types(config: dict[str, Any]) -> list[str]:
    return [ns["type"] for ns in config["linux"]["namespaces"]]


# --- process ---------------------------------------------------------------------------


def test_top_level_shape() -> None:
    config = config_for()
    assert config["ociVersion"] == "1.0.2"
    assert config["root"] == {"path": "/var/lib/berth/c/rootfs", "readonly": False}
    assert config_for(readonly_rootfs=True)["root"]["readonly"] is True
    process = config["process"]
    assert process["args"] == ["sh", "-c", "true"]
    assert process["cwd"] == "/"
    assert process["terminal"] is False
    assert process["noNewPrivileges"] is False
    assert process["user"] == {"uid": 0, "gid": 0}


def test_user_and_groups() -> None:
    process = config_for(uid=1000, gid=100, additional_gids=[5, 27], cwd="/work", terminal=True)["process"]
    assert process["user"] == {"uid": 1000, "gid": 100, "additionalGids": [5, 27]}
    assert process["cwd"] == "/work"
    assert process["terminal"] is True


def test_environment_gets_path_and_term_when_missing() -> None:
    env = config_for()["process"]["env"]
    assert env[0] == "FOO=bar"
    assert any(e.startswith("PATH=/usr/local/sbin:") for e in env)
    assert not any(e.startswith("TERM=") for e in env)
    assert "TERM=xterm" in config_for(terminal=True)["process"]["env"]
    assert config_for(env=["PATH=/opt/bin"], terminal=True)["process"]["env"] == [
        "PATH=/opt/bin",
        "TERM=xterm",
    ]


def test_hostname_defaults_to_short_id() -> None:
    assert config_for()["hostname"] == "0123456789ab"
    assert config_for(hostname="web")["hostname"] == "web"


def test_no_new_privileges() -> None:
    assert config_for(no_new_privileges=True)["process"]["noNewPrivileges"] is True


# --- capabilities ----------------------------------------------------------------------


def test_default_capabilities_are_dockers() -> None:
    assert set(DEFAULT_CAPABILITIES) == DOCKER_CAPS
    caps = config_for()["process"]["capabilities"]
    assert set(caps["bounding"]) == DOCKER_CAPS
    assert caps["effective"] == caps["permitted"] == caps["bounding"]
    assert "inheritable" not in caps and "ambient" not in caps
    assert capability_mask(caps["bounding"]) == 0xA80425FB


def test_cap_add_and_drop_with_or_without_prefix() -> None:
    caps = config_for(cap_add=["net_admin", "CAP_SYS_PTRACE"], cap_drop=["MKNOD", "cap_net_raw"])
    bounding = set(caps["process"]["capabilities"]["bounding"])
    assert bounding == (DOCKER_CAPS | {"CAP_NET_ADMIN", "CAP_SYS_PTRACE"}) - {"CAP_MKNOD", "CAP_NET_RAW"}


def test_cap_add_all_minus_drops() -> None:
    caps = capability_set(["ALL"], ["SYS_ADMIN"], privileged=False)
    assert set(caps) == set(ALL_CAPABILITIES) - {"CAP_SYS_ADMIN"}


def test_cap_drop_all_keeps_only_adds() -> None:
    assert capability_set(["CHOWN"], ["all"], privileged=False) == ["CAP_CHOWN"]
    assert capability_set([], ["ALL"], privileged=False) == []


def test_capabilities_come_in_bit_order() -> None:
    caps = capability_set(["SYS_ADMIN"], [], privileged=False)
    assert caps == sorted(caps, key=ALL_CAPABILITIES.index)


def test_unknown_capability_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="unknown capability: 'SYS_WIZARD'"):
        build_config(make(cap_add=["SYS_WIZARD"]), V2_HOST)


def test_privileged_gets_every_capability_the_host_has() -> None:
    assert set(config_for(privileged=True)["process"]["capabilities"]["bounding"]) == set(ALL_CAPABILITIES)
    config, warnings = build_config(make(privileged=True), HYBRID_HOST)
    assert set(config["process"]["capabilities"]["bounding"]) == set(ALL_CAPABILITIES) - {"CAP_SYS_RESOURCE"}
    assert warnings == []


def test_capability_the_host_lacks_is_dropped_with_a_warning() -> None:
    config, warnings = build_config(make(cap_add=["SYS_RESOURCE", "SYS_ADMIN"]), HYBRID_HOST)
    bounding = config["process"]["capabilities"]["bounding"]
    assert "CAP_SYS_RESOURCE" not in bounding
    assert "CAP_SYS_ADMIN" in bounding
    assert warnings == [
        "capability CAP_SYS_RESOURCE is not available on this host; the container runs without it"
    ]


def test_non_root_user_starts_without_effective_capabilities() -> None:
    caps = config_for(uid=1000, cap_add=["NET_ADMIN"])["process"]["capabilities"]
    assert "CAP_NET_ADMIN" in caps["bounding"]
    assert caps["effective"] == caps["permitted"] == []


# --- paths, mounts, devices ------------------------------------------------------------


def test_masked_and_readonly_paths_are_dockers() -> None:
    linux = config_for()["linux"]
    assert linux["maskedPaths"] == [
        "/proc/asound",
        "/proc/acpi",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ]
    assert linux["readonlyPaths"] == [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]


def test_masked_and_readonly_paths_can_be_overridden() -> None:
    linux = config_for(masked_paths=["/proc/kcore"], readonly_paths=[])["linux"]
    assert linux["maskedPaths"] == ["/proc/kcore"]
    assert linux["readonlyPaths"] == []


def test_privileged_has_no_masked_or_readonly_paths() -> None:
    linux = config_for(privileged=True)["linux"]
    assert linux["maskedPaths"] == [] and linux["readonlyPaths"] == []


def test_default_mounts() -> None:
    config = config_for(shm_size=128 * 1024 * 1024)
    assert [m["destination"] for m in config["mounts"]] == [
        "/proc",
        "/dev",
        "/dev/pts",
        "/sys",
        "/sys/fs/cgroup",
        "/dev/mqueue",
        "/dev/shm",
    ]
    assert mount_at(config, "/proc") == {
        "destination": "/proc",
        "type": "proc",
        "source": "proc",
        "options": ["nosuid", "noexec", "nodev"],
    }
    dev = mount_at(config, "/dev")
    assert dev["type"] == "tmpfs" and "mode=755" in dev["options"]
    pts = mount_at(config, "/dev/pts")
    assert pts["type"] == "devpts"
    assert {"newinstance", "ptmxmode=0666", "gid=5"} <= set(pts["options"])
    shm = mount_at(config, "/dev/shm")
    assert shm["type"] == "tmpfs"
    assert "size=134217728" in shm["options"] and "mode=1777" in shm["options"]
    assert mount_at(config, "/dev/mqueue")["type"] == "mqueue"
    sys = mount_at(config, "/sys")
    assert sys["type"] == "sysfs" and "ro" in sys["options"]
    cgroup = mount_at(config, "/sys/fs/cgroup")
    assert cgroup["type"] == "cgroup" and "ro" in cgroup["options"]


def test_default_shm_size_is_64_mib() -> None:
    assert "size=67108864" in mount_at(config_for(), "/dev/shm")["options"]


def test_privileged_sys_is_writable() -> None:
    config = config_for(privileged=True)
    assert "rw" in mount_at(config, "/sys")["options"]
    assert "ro" not in mount_at(config, "/sys/fs/cgroup")["options"]


def test_extra_mounts_follow_defaults_parents_first() -> None:
    config = config_for(
        mounts=[
            Mount("/srv/logs", "/data/logs/", options=["ro"]),
            Mount("/srv/data", "/data", options=("rbind", "rw")),
            Mount("tmpfs", "/run", type="tmpfs", options=["size=1m"]),
        ]
    )
    extra = config["mounts"][7:]
    assert extra == [
        {"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind", "rw"]},
        {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
        {"destination": "/data/logs", "type": "bind", "source": "/srv/logs", "options": ["rbind", "ro"]},
    ]


def test_user_mount_replaces_default_at_same_destination() -> None:
    config = config_for(mounts=[Mount("/srv/shm", "/dev/shm")])
    assert mount_at(config, "/dev/shm")["source"] == "/srv/shm"


@pytest.mark.parametrize("destination", ["relative/path", "/", "//"])
def test_bad_mount_destination_is_refused(destination: str) -> None:
    with pytest.raises(InvalidArgument, match="must be an absolute path other than /"):
        build_config(make(mounts=[Mount("/srv", destination)]), V2_HOST)


def test_default_devices() -> None:
    devices = {d["path"]: d for d in config_for()["linux"]["devices"]}
    expected = {
        "/dev/null": (1, 3),
        "/dev/zero": (1, 5),
        "/dev/full": (1, 7),
        "/dev/random": (1, 8),
        "/dev/urandom": (1, 9),
        "/dev/tty": (5, 0),
    }
    assert {path: (d["major"], d["minor"]) for path, d in devices.items()} == expected
    assert all(d["type"] == "c" and d["fileMode"] == 0o666 for d in devices.values())
    # The runtime makes these itself (pty bind mount, link to pts/ptmx): listing them would clash.
    assert "/dev/console" not in devices and "/dev/ptmx" not in devices


def test_device_cgroup_allowlist() -> None:
    rules = config_for()["linux"]["resources"]["devices"]
    assert rules[0] == {"allow": False, "access": "rwm"}
    allowed = {(r["type"], r.get("major"), r.get("minor"), r["access"]) for r in rules[1:]}
    assert all(r["allow"] for r in rules[1:])
    assert allowed == {
        ("c", None, None, "m"),
        ("b", None, None, "m"),
        ("c", 1, 3, "rwm"),
        ("c", 1, 5, "rwm"),
        ("c", 1, 7, "rwm"),
        ("c", 1, 8, "rwm"),
        ("c", 1, 9, "rwm"),
        ("c", 5, 0, "rwm"),
        ("c", 5, 1, "rwm"),
        ("c", 5, 2, "rwm"),
        ("c", 136, None, "rwm"),
    }


def test_privileged_may_use_every_device() -> None:
    assert config_for(privileged=True)["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]


# --- namespaces and cgroups -----------------------------------------------------------


def test_namespaces_on_cgroup_v2_include_cgroup() -> None:
    config = config_for()
    assert namespace_types(config) == ["pid", "ipc", "uts", "mount", "network", "cgroup"]
    assert all("path" not in ns for ns in config["linux"]["namespaces"])


@pytest.mark.parametrize("mode", ["v1", "hybrid"])
def test_no_cgroup_namespace_unless_v2(mode: str) -> None:
    host = HostFacts(mode, frozenset(ALL_CAPABILITIES), "x86_64", (6, 1))  # type: ignore[arg-type]
    assert namespace_types(config_for(host)) == ["pid", "ipc", "uts", "mount", "network"]


def test_network_namespace_path() -> None:
    namespaces = config_for(netns_path="/run/berth/netns/abc")["linux"]["namespaces"]
    assert {"type": "network", "path": "/run/berth/netns/abc"} in namespaces


def test_cgroups_path() -> None:
    assert config_for()["linux"]["cgroupsPath"] == "/berth/0123456789abcdef0123"
    assert config_for(cgroups_path="/custom/x")["linux"]["cgroupsPath"] == "/custom/x"


def test_resources() -> None:
    resources = config_for(
        memory_limit=512 * 1024 * 1024, pids_limit=100, cpu_shares=512, nano_cpus=1_500_000_000
    )["linux"]["resources"]
    assert resources["memory"] == {"limit": 536870912}
    assert resources["pids"] == {"limit": 100}
    assert resources["cpu"] == {"shares": 512, "quota": 150000, "period": 100000}


def test_no_limits_by_default() -> None:
    resources = config_for(pids_limit=-1)["linux"]["resources"]
    assert set(resources) == {"devices"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"memory_limit": 1024}, "minimum memory limit allowed is 6MB"),
        ({"nano_cpus": 1000}, "nano_cpus must be at least 10000000"),
        ({"cpu_shares": -1}, "cpu shares must not be negative"),
        ({"pids_limit": -5}, None),
        ({"shm_size": 0}, "shm size must be a positive"),
        ({"args": []}, "no command specified"),
        ({"cwd": "work"}, "must be an absolute path"),
        ({"container_id": "../escape"}, "invalid container id"),
        ({"uid": -1}, "uid -1 is out of range"),
        ({"additional_gids": [2**32]}, "additional gid 4294967296 is out of range"),
        ({"seccomp": "confined"}, 'seccomp must be a profile or "unconfined"'),
    ],
)
def test_invalid_settings_are_refused(overrides: dict[str, Any], message: str | None) -> None:
    if message is None:
        # The API's -1 ("unlimited") and anything below it both mean no pids limit.
        assert "pids" not in config_for(**overrides)["linux"]["resources"]
        return
    with pytest.raises(InvalidArgument, match=message):
        build_config(make(**overrides), V2_HOST)


# --- seccomp and rlimits ---------------------------------------------------------------


def test_default_seccomp_is_resolved_for_the_containers_caps() -> None:
    config = config_for()
    expected = seccomp.to_oci(seccomp.default_profile(), sorted(DOCKER_CAPS), arch="x86_64", kernel=(6, 1))
    assert config["linux"]["seccomp"] == expected
    allowed = {n for rule in config["linux"]["seccomp"]["syscalls"] for n in rule["names"]}
    assert "mount" not in allowed
    with_admin = config_for(cap_add=["SYS_ADMIN"])["linux"]["seccomp"]
    assert "mount" in {n for rule in with_admin["syscalls"] for n in rule["names"]}


def test_seccomp_unconfined_and_privileged_have_none() -> None:
    assert "seccomp" not in config_for(seccomp="unconfined")["linux"]
    assert "seccomp" not in config_for(privileged=True)["linux"]


def test_custom_seccomp_profile_applies_even_when_privileged() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}],
    }
    for privileged in (False, True):
        oci = config_for(seccomp=profile, privileged=privileged)["linux"]["seccomp"]
        assert oci["defaultAction"] == "SCMP_ACT_ALLOW"
        assert oci["syscalls"] == [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]


def test_seccomp_uses_the_hosts_arch() -> None:
    host = HostFacts("v2", frozenset(ALL_CAPABILITIES), "aarch64", (6, 1))
    assert config_for(host)["linux"]["seccomp"]["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]


def test_rlimits_and_their_warnings_are_carried(monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.runtime.rlimits as rlimits

    monkeypatch.setattr(rlimits.resource, "getrlimit", lambda resource_id: (1024, 20000))
    config, warnings = build_config(make(ulimits=[Ulimit("nofile", 65536, 65536)]), V2_HOST)
    limits = {r["type"]: (r["soft"], r["hard"]) for r in config["process"]["rlimits"]}
    assert limits["RLIMIT_NOFILE"] == (20000, 20000)
    assert len(warnings) == 1 and "nofile" in warnings[0]


# --- host facts ------------------------------------------------------------------------


def test_probe_host_reads_this_host() -> None:
    facts = probe_host()
    assert facts.cgroup_mode in ("v1", "v2", "hybrid")
    status = Path("/proc/self/status").read_text()
    cap_bnd = next(line.split()[1] for line in status.splitlines() if line.startswith("CapBnd:"))
    known = (1 << len(ALL_CAPABILITIES)) - 1
    assert capability_mask(sorted(facts.bounding_capabilities)) == int(cap_bnd, 16) & known
    assert facts.kernel > (3, 0)
    assert probe_host() is facts
