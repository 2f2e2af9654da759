from __future__ import annotations

import json
from typing import Any

import pytest

from engine.errors import InvalidArgument
from engine.runtime import seccomp
from engine.runtime.spec import DEFAULT_CAPABILITIES

pytestmark = pytest.mark.unit


def names(oci: dict[str, Any]) -> set[str]:
    return {name for rule in oci["syscalls"] for name in rule["names"]}


def rules_for(oci: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [rule for rule in oci["syscalls"] if name in rule["names"]]


def default_oci(caps: tuple[str, ...] = DEFAULT_CAPABILITIES, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("arch", "x86_64")
    kwargs.setdefault("kernel", (6, 1))
    return seccomp.to_oci(seccomp.default_profile(), caps, **kwargs)


def test_default_profile_is_dockers_format_and_loaded_once() -> None:
    profile = seccomp.default_profile()
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert "archMap" in profile
    assert any("includes" in rule for rule in profile["syscalls"])
    seccomp._default_profile.cache_clear()
    seccomp.default_profile()
    seccomp.default_profile()
    assert seccomp._default_profile.cache_info().misses == 1


def test_default_profile_returns_a_copy_callers_may_change() -> None:
    first = seccomp.default_profile()
    first["syscalls"].clear()
    first["defaultAction"] = "SCMP_ACT_ALLOW"
    again = seccomp.default_profile()
    assert again["defaultAction"] == "SCMP_ACT_ERRNO"
    assert again["syscalls"]


def test_oci_form_has_only_oci_keys() -> None:
    oci = default_oci()
    assert oci["defaultAction"] == "SCMP_ACT_ERRNO"
    assert oci["defaultErrnoRet"] == 1
    assert set(oci) <= {"defaultAction", "defaultErrnoRet", "architectures", "flags", "syscalls"}
    for rule in oci["syscalls"]:
        assert set(rule) <= {"names", "action", "errnoRet", "args"}
        assert rule["names"]


def test_x86_64_maps_to_native_arch_and_sub_arches() -> None:
    assert default_oci()["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]


def test_aarch64_maps_to_its_own_arches() -> None:
    oci = default_oci(arch="aarch64")
    assert oci["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert "arm_fadvise64_64" in names(oci)
    assert "arch_prctl" not in names(oci)


def test_arch_without_sub_arches() -> None:
    assert default_oci(arch="riscv64")["architectures"] == ["SCMP_ARCH_RISCV64"]


def test_arch_specific_rules_follow_the_arch() -> None:
    allowed = names(default_oci())
    assert {"arch_prctl", "modify_ldt"} <= allowed
    assert not {"arm_fadvise64_64", "s390_runtime_instr", "riscv_flush_icache"} & allowed


def test_default_caps_keep_sys_admin_syscalls_out() -> None:
    oci = default_oci()
    allowed = names(oci)
    assert {"read", "write", "openat", "execve"} <= allowed
    for privileged in ("mount", "umount2", "unshare", "setns", "bpf", "reboot", "init_module", "acct"):
        assert privileged not in allowed, privileged
    # chroot is in Docker's default capability set, so its rule applies.
    assert "chroot" in allowed


def test_clone_is_restricted_by_flags_without_sys_admin() -> None:
    oci = default_oci()
    clone = rules_for(oci, "clone")
    assert len(clone) == 1
    assert clone[0]["args"] == [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]
    # clone3 cannot be filtered by flags, so it fails with ENOSYS and libc falls back to clone.
    assert rules_for(oci, "clone3") == [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]


def test_sys_admin_unlocks_its_rules_and_drops_its_excludes() -> None:
    oci = default_oci((*DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"))
    allowed = names(oci)
    assert {"mount", "umount2", "unshare", "setns", "clone3"} <= allowed
    assert all("args" not in rule for rule in rules_for(oci, "clone"))
    assert all(rule["action"] == "SCMP_ACT_ALLOW" for rule in rules_for(oci, "clone3"))


def test_capability_names_need_no_cap_prefix() -> None:
    short = default_oci(("SYS_TIME", "sys_ptrace"))
    assert {"settimeofday", "clock_settime", "kcmp"} <= names(short)


def test_chroot_goes_away_with_sys_chroot() -> None:
    caps = tuple(c for c in DEFAULT_CAPABILITIES if c != "CAP_SYS_CHROOT")
    assert "chroot" not in names(default_oci(caps))


def test_min_kernel_gates_rules() -> None:
    assert "ptrace" in names(default_oci(kernel=(4, 8)))
    assert "ptrace" not in names(default_oci(kernel=(4, 7)))
    assert "ptrace" in names(default_oci(kernel=(5, 0)))


def test_excludes_min_kernel_and_arches() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["old"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.10"}},
            {"names": ["not_arm"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["arm64"]}},
        ],
    }
    assert names(seccomp.to_oci(profile, (), arch="x86_64", kernel=(5, 4))) == {"old", "not_arm"}
    assert names(seccomp.to_oci(profile, (), arch="aarch64", kernel=(5, 10))) == set()


def test_includes_caps_need_all_listed() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["both"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_A", "CAP_B"]}}
        ],
    }
    assert names(seccomp.to_oci(profile, ["CAP_A"], arch="x86_64", kernel=(6, 1))) == set()
    assert names(seccomp.to_oci(profile, ["CAP_A", "B"], arch="x86_64", kernel=(6, 1))) == {"both"}


def test_old_style_profile_with_architectures_and_name() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_KILL",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"name": "read", "action": "SCMP_ACT_ALLOW"}],
    }
    oci = seccomp.to_oci(profile, (), arch="x86_64", kernel=(6, 1))
    assert oci == {
        "defaultAction": "SCMP_ACT_KILL",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}],
    }


def test_profile_without_arch_map_entry_uses_native_arch() -> None:
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}
    assert seccomp.to_oci(profile, (), arch="x86_64", kernel=(6, 1))["architectures"] == ["SCMP_ARCH_X86_64"]


def test_flags_are_carried() -> None:
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"]}
    assert seccomp.to_oci(profile, (), arch="x86_64", kernel=(6, 1))["flags"] == ["SECCOMP_FILTER_FLAG_LOG"]


def test_defaults_to_this_hosts_arch_and_kernel() -> None:
    oci = seccomp.to_oci(seccomp.default_profile(), DEFAULT_CAPABILITIES)
    assert oci["architectures"]
    assert oci["syscalls"]


def test_unknown_arch_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="unsupported architecture 'pdp11'"):
        default_oci(arch="pdp11")


def test_security_opt_values() -> None:
    assert seccomp.profile_from_security_opt("unconfined") is None
    assert seccomp.profile_from_security_opt("builtin") == seccomp.default_profile()
    custom = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO"}],
    }
    assert seccomp.profile_from_security_opt(json.dumps(custom)) == custom


def test_user_profile_from_json_converts() -> None:
    text = json.dumps(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
        }
    )
    oci = seccomp.to_oci(seccomp.parse_profile(text), (), arch="x86_64", kernel=(6, 1))
    assert oci["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    assert oci["syscalls"] == [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ("{}", "defaultAction must be one of"),
        ('{"defaultAction": "SCMP_ACT_MAYBE"}', "defaultAction must be one of"),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}',
            "defaultErrnoRet must be a non-negative",
        ),
        ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": {}}', "'syscalls' must be a list"),
        ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": ["read"]}', r"syscalls\[0\] must be an object"),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}',
            r"syscalls\[0\]: a rule needs 'names'",
        ),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}]}',
            "'names' must be a non-empty list",
        ),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "name": "a",'
            ' "action": "SCMP_ACT_ALLOW"}]}',
            "either 'name' or 'names'",
        ),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": "ALLOW"}]}',
            r"syscalls\[0\]: action must be one of",
        ),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW",'
            ' "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}',
            r"args\[0\]: index must be an argument number from 0 to 5",
        ),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW",'
            ' "args": [{"index": 0, "value": 1, "op": "EQ"}]}]}',
            "op must be one of",
        ),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW",'
            ' "includes": {"minKernel": "four"}}]}',
            'minKernel must look like "4.8"',
        ),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW",'
            ' "excludes": {"caps": "CAP_SYS_ADMIN"}}]}',
            r"excludes.caps must be a list of strings",
        ),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],'
            ' "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}',
            "either 'architectures' or 'archMap'",
        ),
        ('{"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{}]}', r"archMap\[0\] needs an 'architecture'"),
    ],
)
def test_bad_profiles_say_what_to_fix(profile: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        seccomp.profile_from_security_opt(profile)


def test_to_oci_checks_mappings_too() -> None:
    with pytest.raises(InvalidArgument, match="defaultAction"):
        seccomp.to_oci({"syscalls": []}, (), arch="x86_64", kernel=(6, 1))


def test_host_kernel_parses_release(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seccomp.platform, "release", lambda: "6.18.44-fc-v669")
    assert seccomp.host_kernel() == (6, 18)
    monkeypatch.setattr(seccomp.platform, "release", lambda: "weird")
    assert seccomp.host_kernel() == (0, 0)
